"""Artifact file and folder names are spelled in `jobs/layout.py` only; the rest of the
package asks the layout for paths. Docstrings and comments may mention a name."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "model_trainer"
LAYOUT = PACKAGE / "jobs" / "layout.py"
FILES = {
    "last.pt",
    "best.pt",
    "train.bin",
    "val.bin",
    "dataset.json",
    "metrics.jsonl",
    "logs.jsonl",
    "manifest.json",
    "samples.jsonl",
    "metrics.json",
}
"""File names: found as a whole string or as one part of a path (`eval/metrics.json`)."""
FOLDERS = {"logs", "adapter"}
"""Folder names that are also ordinary words: found only as a whole string."""
ELSEWHERE = {("cli/app.py", "logs")}
"""Strings that are not artifact names: the `runs logs` command."""


def _docstrings(tree: ast.Module) -> set[int]:
    """Ids of string expressions standing alone: docstrings, including attribute ones."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def _names_in(text: str) -> set[str]:
    parts = set(text.split("/"))
    return (FILES & parts) | (FOLDERS & {text})


def _spelled_outside_the_layout() -> list[str]:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == LAYOUT:
            continue
        module = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) in skip:
                continue
            names = sorted(_names_in(node.value) - {n for m, n in ELSEWHERE if m == module})
            found.extend(f"{module}:{node.lineno} spells {name!r}" for name in names)
    return found


def test_artifact_names_come_from_the_layout() -> None:
    found = _spelled_outside_the_layout()
    assert not found, "ask jobs/layout.py for these paths:\n" + "\n".join(found)


def test_the_check_finds_a_name_in_code_but_not_in_a_docstring() -> None:
    tree = ast.parse('"""The `last.pt` file."""\nPATH = "checkpoints/last.pt"\n')
    skip = _docstrings(tree)
    spelled = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]
    assert spelled == ["checkpoints/last.pt"]
    assert _names_in(spelled[0]) == {"last.pt"}
    assert _names_in("logs") == {"logs"} and _names_in("see the logs") == set()
