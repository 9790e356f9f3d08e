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
    "plugin_hf": {"core", "infra"},
    # The built-in plugins, written as an outside package is: the plugin surface only.
    "plugins": {"plugin", "plugin_hf"},
    "services": {"core", "infra", "jobs", "tokenizers", "training", "orchestrators"},
    "api": {"core", "infra", "jobs", "tokenizers", "training", "orchestrators", "services"},
    "worker": {"core", "infra", "jobs", "tokenizers", "training", "orchestrators", "services"},
    # The Discord bot is a client of the API: events, settings and Redis from below, the
    # API's answers through `client`; never the API, the orchestrators or the worker.
    "bot": {"core", "infra", "training", "client"},
    # Clients of the API: they speak HTTP and must not pull in torch (training.progress
    # is a plain model). The CLI also starts the services (api, worker, bot), and names
    # their log folder through `jobs.layout` (plain paths, no torch).
    "client": {"core", "training"},
    "cli": {"core", "infra", "jobs", "client", "api", "worker", "bot"},
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


# The built-in plugins import what an outside plugin package can: the two surface modules,
# each other, the standard library and third-party libraries; never the layers behind.
PLUGINS = PACKAGE / "plugins"
PLUGIN_SURFACE = ("model_trainer.plugin", "model_trainer.plugin_hf", "model_trainer.plugins")


def _package_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.add("(relative import)")
            elif node.module:
                found.add(node.module)
    return {name for name in found if name.split(".")[0] in ("model_trainer", "(relative import)")}


def test_built_in_plugins_import_only_the_plugin_surface() -> None:
    paths = sorted(PLUGINS.rglob("*.py"))
    assert len(paths) >= 4, "the built-in plugins moved; point PLUGINS at them"
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in paths
        for name in sorted(_package_imports(path))
        if not any(name == s or name.startswith(f"{s}.") for s in PLUGIN_SURFACE)
    ]
    assert not wrong, "\n".join(wrong)
