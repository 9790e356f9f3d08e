"""Imports point down the layers DESIGN.md draws; this keeps the diagram true."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "model_trainer"

# What each layer may import from the package (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "infra": {"core"},
    "jobs": {"core", "infra"},
    "tokenizers": {"core", "infra", "jobs"},
    "training": {"core", "infra", "jobs", "tokenizers"},
    "orchestrators": {"core", "infra", "jobs", "tokenizers", "training"},
    "plugin": {"core", "infra", "tokenizers"},
    "plugin_hf": {"training"},
    "services": {"core", "infra", "jobs", "tokenizers", "training", "orchestrators"},
    "api": {"core", "infra", "jobs", "tokenizers", "training", "orchestrators", "services"},
    "worker": {"core", "infra", "jobs", "tokenizers", "training", "orchestrators", "services"},
    # The Discord bot is a client of the API: events, settings and Redis from below, the
    # API's answers through `client`; never the API, the orchestrators or the worker.
    "bot": {"core", "infra", "training", "client"},
    # Clients of the API: they speak HTTP and must not pull in torch (training.progress
    # is a plain model). The CLI also starts the services (api, worker, bot).
    "client": {"core", "training"},
    "cli": {"core", "infra", "client", "api", "worker", "bot"},
}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "model_trainer" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_imports_point_down_the_layers() -> None:
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer not in ALLOWED:
            continue
        extra = _imported_layers(path) - ALLOWED[layer] - {layer}
        wrong.extend(f"{path.relative_to(PACKAGE)} imports {target}" for target in sorted(extra))
    assert not wrong, "\n".join(wrong)


# Inside `training/`: the data pipeline, the loop, the run as a job, and what uses a finished
# model, each importing only the folders before it (and the request schema and the model
# registry at the top, which every part reads).
TRAINING = PACKAGE / "training"
TRAINING_ALLOWED: dict[str, set[str]] = {
    "data": set(),
    "loop": {"data"},
    "run": {"data", "loop"},
    "inference": {"data", "loop", "run"},
}


def _training_parts(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["model_trainer", "training"] and len(parts) > 3:
                found.add(parts[2])
    return found


def test_training_folders_point_down() -> None:
    wrong: list[str] = []
    for part, allowed in TRAINING_ALLOWED.items():
        for path in sorted((TRAINING / part).rglob("*.py")):
            extra = _training_parts(path) - allowed - {part}
            wrong.extend(f"{path.relative_to(PACKAGE)} imports training.{t}" for t in sorted(extra))
    assert not wrong, "\n".join(wrong)
