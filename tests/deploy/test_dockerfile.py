"""The flow image's Dockerfile, read statically (no registry here to pull the base image from):
non-root uid 1001, every write path under /tmp, the package installed from the checkout with
every top-level package the deployments load."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_runs_as_uid_1001_after_installing() -> None:
    assert instructions("USER") == ["1001:1001"]
    assert DOCKERFILE.index("USER 1001:1001") > DOCKERFILE.index("pip install")
    assert "--uid 1001" in DOCKERFILE and "--gid 1001" in DOCKERFILE


def test_every_write_path_is_under_tmp() -> None:
    env = " ".join(instructions("ENV"))
    for name in ("HOME", "PREFECT_HOME", "XDG_CACHE_HOME", "HF_HOME"):
        assert re.search(rf"\b{name}=/tmp(\s|/|$)", env), name
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # no __pycache__ writes on a read-only root
    assert not instructions("VOLUME")


def test_installs_the_checkout_with_every_shipped_package() -> None:
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    copied = {c.split()[0] for c in instructions("COPY")}
    assert {p.split("/")[0] for p in shipped} <= copied | {"src"}
    assert "prefect.yaml" in copied
    assert instructions("WORKDIR") == ["/opt/coinfill"]  # the deployments' coinfill_code_dir
    assert any(r.startswith('pip install ".') for r in instructions("RUN"))


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "data", "tests"} <= set(ignored)
