"""No function in the package is longer than a screen: a long one is several ideas."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "model_trainer"
MAX_LINES = 60
"""Lines from `def` to the last line of the body, docstring and comments included."""


def _long_functions() -> list[str]:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                    found.append(f"{where} {node.name} has {lines} lines")
    return found


def test_no_function_is_longer_than_sixty_lines() -> None:
    long = _long_functions()
    assert not long, f"over {MAX_LINES} lines:\n" + "\n".join(long)
