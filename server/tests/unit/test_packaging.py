"""The wheel carries the built dashboard; without one (and no npm) the build says what to do.

Each case builds a wheel of a copy of the package (setup.py's hook, the venv's setuptools, no
network) in a second or two; none needs the real dashboard to be built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SKIP_VARIABLE = "MODEL_TRAINER_SKIP_UI"
INDEX = "<!doctype html><title>stub</title>\n"
SCRIPT = "console.log('stub')\n"


def _leave_out(folder: str, names: list[str]) -> set[str]:
    """What a checkout may hold that is not source: bytecode, a stray dashboard copy."""
    return {n for n in names if n in ("__pycache__", "ui_dist") or n.endswith(".pyc")}


def _source(tmp_path: Path, dist: bool, ui_sources: bool = True) -> Path:
    """What a wheel is built from: the build files and the package, plus a stub `ui/`."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "server" / "model_trainer",
        src / "server" / "model_trainer",
        ignore=_leave_out,
    )
    if ui_sources:
        (src / "ui").mkdir()
        (src / "ui" / "package.json").write_text('{"name": "stub"}\n', encoding="utf-8")
    if dist:
        (src / "ui" / "dist" / "assets").mkdir(parents=True)
        (src / "ui" / "dist" / "index.html").write_text(INDEX, encoding="utf-8")
        (src / "ui" / "dist" / "assets" / "app.js").write_text(SCRIPT, encoding="utf-8")
        (src / "ui" / "dist" / "favicon.svg").write_text("<svg/>\n", encoding="utf-8")
    return src


def _env(skip: bool) -> dict[str, str]:
    """The environment with npm out of reach (only the venv's own commands on PATH)."""
    env = {k: v for k, v in os.environ.items() if k != SKIP_VARIABLE}
    env["PATH"] = str(Path(sys.executable).parent)
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if skip:
        env[SKIP_VARIABLE] = "1"
    return env


def _build(src: Path, out: Path, skip: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    return subprocess.run(
        [*command, "--no-index", "-w", str(out), str(src)],
        env=_env(skip),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _wheel_files(out: Path) -> list[str]:
    wheels = sorted(out.glob("model_trainer-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        return wheel.namelist()


def _entry_points(out: Path) -> str:
    wheel_path = next(out.glob("model_trainer-*.whl"))
    with zipfile.ZipFile(wheel_path) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
        return wheel.read(name).decode()


def test_the_wheel_carries_the_dashboard(tmp_path: Path) -> None:
    out = tmp_path / "out"
    built = _build(_source(tmp_path, dist=True), out)
    assert built.returncode == 0, built.stdout + built.stderr
    files = _wheel_files(out)
    for name in (
        "model_trainer/ui_dist/index.html",
        "model_trainer/ui_dist/assets/app.js",
        "model_trainer/ui_dist/favicon.svg",
        "model_trainer/py.typed",
        "model_trainer/core/settings.py",
        "model_trainer/api/docs.py",
    ):
        assert name in files, name
    with zipfile.ZipFile(next(out.glob("*.whl"))) as wheel:
        assert wheel.read("model_trainer/ui_dist/index.html").decode() == INDEX
    entry_points = _entry_points(out)
    assert "model-trainer = model_trainer.cli:main" in entry_points
    assert "[model_trainer.tokenizers]" in entry_points
    assert "gpt2 = model_trainer.plugins.gpt2:Gpt2Backend" in entry_points


def test_without_a_build_or_npm_the_wheel_says_what_to_do(tmp_path: Path) -> None:
    src = _source(tmp_path, dist=False)
    failed = _build(src, tmp_path / "out")
    assert failed.returncode != 0
    said = " ".join((failed.stdout + failed.stderr).split())
    assert "npm is not on PATH" in said, said[-3000:]
    assert "Install Node.js 20" in said and f"{SKIP_VARIABLE}=1" in said
    assert not list(tmp_path.glob("out/*.whl"))

    skipped = _build(src, tmp_path / "skipped", skip=True)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    files = _wheel_files(tmp_path / "skipped")
    assert "model_trainer/py.typed" in files
    assert not [name for name in files if "ui_dist" in name]


def test_a_tree_without_ui_sources_says_so(tmp_path: Path) -> None:
    failed = _build(_source(tmp_path, dist=False, ui_sources=False), tmp_path / "out")
    assert failed.returncode != 0
    said = " ".join((failed.stdout + failed.stderr).split())
    assert "neither ui/dist nor the ui/ sources" in said, said[-3000:]


def test_editable_builds_neither_build_nor_copy_the_dashboard(tmp_path: Path) -> None:
    """`pip install -e .` (what `make setup` runs) needs no npm and no ui/dist."""
    src = _source(tmp_path, dist=False)
    out = tmp_path / "editable"
    out.mkdir()
    script = (
        "import sys\n"
        "from setuptools import build_meta\n"
        "sys.stdout.write(build_meta.build_editable(sys.argv[1]))\n"
    )
    built = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=src,
        env=_env(skip=False),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert not [name for name in wheel.namelist() if "ui_dist" in name]
    assert not (src / "server" / "model_trainer" / "ui_dist").exists()
    assert not (src / "ui" / "dist").exists()
