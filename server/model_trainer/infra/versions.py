"""Versions of the libraries that shape an artifact, for manifests."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version


def library_versions(*packages: str) -> dict[str, str]:
    """`{"python": ..., package: version}` for each installed package named."""
    found = {"python": platform.python_version(), "model-trainer": _version("model-trainer")}
    for package in packages:
        found[package] = _version(package)
    return found


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
