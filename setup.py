"""Build hook: a wheel of model-trainer carries the built dashboard as `model_trainer/ui_dist/`.

The project's metadata lives in pyproject.toml; this file only adds two steps to setuptools:

- `build_py` (every wheel) copies `ui/dist` into the build's `model_trainer/ui_dist/`, where
  the installed package finds it (`UI_DIST`'s default). When `ui/dist/index.html` is missing
  it runs `npm ci` and `npm run build` in `ui/` if npm is on PATH, and otherwise stops with
  a message saying what to do. `MODEL_TRAINER_SKIP_UI=1` builds a wheel without the
  dashboard (`/ui/` then answers 404 saying how to build it). Editable installs
  (`pip install -e .`) never build or copy anything: they serve the checkout's `ui/dist`.
- `sdist` puts the same build into the source archive as `ui/dist/`, so that a wheel built
  from the archive finds it there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.errors import SetupError

HERE = Path(__file__).resolve().parent
UI = HERE / "ui"
UI_DIST = UI / "dist"
PACKAGED = Path("model_trainer") / "ui_dist"
"""Where the dashboard goes inside the built package (relative to the build folder)."""
SKIP_VARIABLE = "MODEL_TRAINER_SKIP_UI"


def _skipped() -> bool:
    return os.environ.get(SKIP_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def _built() -> bool:
    return (UI_DIST / "index.html").is_file()


SKIP_HINT = (
    f"or set {SKIP_VARIABLE}=1 to build without the dashboard (the API's /ui/ then answers "
    "404 saying how to build it)"
)
NO_NPM = (
    "model-trainer: the wheel carries the built dashboard, but ui/dist is not built and npm "
    "is not on PATH to build it. Install Node.js 20 (with npm) and build again (the build "
    "then runs `npm ci` and `npm run build` in ui/), or build it yourself first (`cd ui && "
    f"npm ci && npm run build`, or `make ui-build`), {SKIP_HINT}."
)
NO_UI = (
    "model-trainer: the wheel carries the built dashboard, but this source tree has neither "
    "ui/dist nor the ui/ sources to build it from. Build from a checkout of the repository "
    f"(`pip install .` there), {SKIP_HINT}."
)


def ensure_dashboard() -> Path | None:
    """The built dashboard folder, built now when needed; None when skipped on purpose."""
    if _skipped():
        return None
    if _built():
        return UI_DIST
    if not (UI / "package.json").is_file():
        raise SetupError(NO_UI)
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError(NO_NPM)
    for args in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        done = subprocess.run([npm, *args], cwd=UI, check=False)
        if done.returncode != 0:
            raise SetupError(
                f"model-trainer: `npm {' '.join(args)}` in ui/ failed (exit {done.returncode}); "
                f"fix it, or set {SKIP_VARIABLE}=1 to build without the dashboard."
            )
    if not _built():
        raise SetupError("model-trainer: `npm run build` in ui/ left no ui/dist/index.html")
    return UI_DIST


def _copy_tree(source: Path, target: Path) -> list[str]:
    """Replace `target` with a copy of `source`'s regular files; the paths written."""
    if target.exists():
        shutil.rmtree(target)
    written: list[str] = []
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        written.append(str(destination))
    return written


class BuildPyWithDashboard(build_py):
    """`build_py` that also puts the built dashboard into the package, except in editable
    installs."""

    _dashboard_files: tuple[str, ...] = ()

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / PACKAGED
        dist = ensure_dashboard()
        if dist is None:
            # A folder left by an earlier build must not slip into this wheel.
            if target.exists():
                shutil.rmtree(target)
            return
        self._dashboard_files = tuple(_copy_tree(dist, target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = super().get_outputs(include_bytecode)
        return [*outputs, *self._dashboard_files]


class SdistWithDashboard(sdist):
    """`sdist` that ships the built dashboard as `ui/dist/` for the wheel built from it."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        dist = ensure_dashboard()
        if dist is not None:
            _copy_tree(dist, Path(base_dir) / "ui" / "dist")


setup(cmdclass={"build_py": BuildPyWithDashboard, "sdist": SdistWithDashboard})
