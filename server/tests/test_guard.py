"""The package keeps its promises: no Any, no casts, no ignores, no prints, no dataclasses."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "model_trainer"
NO_DATACLASS = ("core/contracts", "core/settings.py")


def _decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _node_findings(node: ast.AST, dataclass_banned: bool) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module == "typing":
        return [f"imports {a.name}" for a in node.names if a.name in ("Any", "cast")]
    if isinstance(node, ast.Attribute) and node.attr in ("Any", "cast"):
        if isinstance(node.value, ast.Name) and node.value.id == "typing":
            return [f"typing.{node.attr}"]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in ("print", "cast"):
            return [f"{node.func.id}()"]
    if isinstance(node, ast.ClassDef) and dataclass_banned:
        return ["@dataclass" for d in node.decorator_list if _decorator_name(d) == "dataclass"]
    return []


def _findings(path: Path, root: Path = PACKAGE) -> list[str]:
    text = path.read_text(encoding="utf-8")
    where = path.relative_to(root)
    banned = str(where).startswith(NO_DATACLASS)
    found = [
        f"{where}:{n}: type: ignore"
        for n, line in enumerate(text.splitlines(), 1)
        if "type: ignore" in line
    ]
    for node in ast.walk(ast.parse(text)):
        line = node.lineno if isinstance(node, ast.stmt | ast.expr) else 0
        found += [f"{where}:{line}: {what}" for what in _node_findings(node, banned)]
    return found


def test_no_escape_hatches_in_the_package() -> None:
    findings = [f for path in sorted(PACKAGE.rglob("*.py")) for f in _findings(path)]
    assert not findings, "\n".join(findings)


def test_the_guard_sees_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "core" / "_guard_probe.py"
    sample.parent.mkdir()
    sample.write_text(
        "from typing import Any, cast\nimport typing\nx: typing.Any = cast(int, 1)\n"
        "print(x)  # type: ignore\n",
        encoding="utf-8",
    )
    found = _findings(sample, root=tmp_path)
    assert len(found) == 6, found
    assert all(f.startswith("core/_guard_probe.py:") for f in found), found
