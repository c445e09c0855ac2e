"""No decision in ``src/`` or ``flows/`` is taken by matching an exception's message text
(DESIGN §10): errors carry provider, status and kind; code branches on those.

The guard parses every module and flags a membership test or a string-method test
(``"api_key" in error``, ``str(exc).startswith(…)``, ``state.message.endswith(…)``) whose
subject is an exception, its ``str()``, a state's ``message`` or a variable called
``error``/``message``/``msg``/``reason``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUSPECT_NAMES = {"error", "message", "msg", "reason", "err", "exc", "exception", "e"}
STRING_TESTS = {"startswith", "endswith", "find", "index", "count", "__contains__"}


def _caught_names(tree: ast.AST) -> set[str]:
    return {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}


def _is_error_text(node: ast.expr, caught: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in SUSPECT_NAMES or node.id in caught
    if isinstance(node, ast.Attribute):
        return node.attr in {"message", "error", "args"} or _is_error_text(node.value, caught)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in {"str", "repr"} and any(_is_error_text(a, caught) for a in node.args)
    return False


def violations(source: str) -> list[int]:
    tree = ast.parse(source)
    caught = _caught_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                literal = isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
                if literal and isinstance(op, ast.In | ast.NotIn) and _is_error_text(right, caught):
                    found.append(node.lineno)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in STRING_TESTS
            and _is_error_text(node.func.value, caught)
        ):
            found.append(node.lineno)
    return found


def test_the_guard_catches_what_it_is_meant_to_catch() -> None:
    bad = [
        'if "api_key" in error: pass',
        'try:\n    pass\nexcept Exception as boom:\n    ok = "denied" in str(boom)',
        'if "COINFILL_X" in state.message: pass',
        'if result.error and "KEY" in result.error: pass',
        "if message.startswith('interrupted'): pass",
    ]
    fine = [
        "if exc.status == 451: pass",
        'if "symbols" in payload: pass',
        "if fault is Fault.CREDENTIALS: pass",
        'if "api_key" in body_message(exc.body): pass',  # the provider's parsed error body
    ]
    assert all(violations(code) for code in bad)
    assert not any(violations(code) for code in fine)


def test_no_module_decides_on_an_exception_message() -> None:
    offenders = []
    for folder in ("src/coinfill", "flows", "blocks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line in violations(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == []
