"""Settings, ids, the container, paths and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_trainer.core import settings as settings_module
from model_trainer.core.container import Key, Registry
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import new_id, validate_id
from model_trainer.core.settings import CHECKOUT_UI_DIST, PACKAGE_UI_DIST, Settings
from model_trainer.infra.atomic import write_text
from model_trainer.infra.paths import corpus_files, resolve_inside


def test_settings_read_the_public_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("ARTIFACTS_ROOT", "/data/a")
    monkeypatch.setenv("CORPUS_ROOT", "/data/c")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SECURITY__API_KEY", "s3cret")
    monkeypatch.setenv("WORKER__THREADS", "3")
    monkeypatch.setenv("UI_DIST", "/srv/ui")
    settings = Settings()
    assert settings.redis_url == "redis://example:6380/2"
    assert settings.artifacts_root == Path("/data/a") and settings.corpus_root == Path("/data/c")
    assert settings.log_level == "DEBUG" and settings.security.api_key == "s3cret"
    assert settings.worker.threads == 3 and settings.ui_dist == Path("/srv/ui")


def test_the_dashboard_comes_from_the_package_else_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("UI_DIST", raising=False)
    # This checkout's package ships no build, so the default is the checkout's `ui/dist`.
    assert not PACKAGE_UI_DIST.exists()
    assert Settings().ui_dist == CHECKOUT_UI_DIST
    assert CHECKOUT_UI_DIST == Path(__file__).resolve().parents[3] / "ui" / "dist"
    monkeypatch.setattr(settings_module, "PACKAGE_UI_DIST", tmp_path)
    assert Settings().ui_dist == tmp_path


def test_ids_are_ordered_and_validated() -> None:
    first, second = new_id("tok"), new_id("tok")
    assert validate_id(first, "tokenizer") == first
    assert first[:12] <= second[:12]
    for bad in ["../etc", "tok-1", "TOK-00000000-00000000", "tok-00000000-0000000g"]:
        with pytest.raises(AppError):
            validate_id(bad, "tokenizer")


class Clock:
    def __init__(self) -> None:
        self.closed = False


def test_container_builds_once_per_container_and_swaps_factories() -> None:
    key: Key[Clock] = Key("clock")
    shared: Key[Clock] = Key("shared")
    registry = Registry()
    registry.register(key, lambda _c: Clock())
    registry.register_singleton(shared, lambda _c: Clock())
    with registry.container() as one, registry.container() as two:
        assert one.get(key) is one.get(key)
        assert one.get(key) is not two.get(key)
        assert one.get(shared) is two.get(shared)
    replacement = Clock()
    registry.register_value(key, replacement)
    with registry.container() as three:
        assert three.get(key) is replacement
    missing: Key[Clock] = Key("missing")
    with pytest.raises(LookupError), registry.container() as four:
        four.get(missing)


def test_registry_runs_cleanups_on_close() -> None:
    clock = Clock()
    registry = Registry()
    registry.on_close(lambda: setattr(clock, "closed", True))
    registry.close()
    assert clock.closed


def test_paths_stay_inside_their_root(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a\n")
    (root / "sub" / ".hidden.txt").write_text("h\n")
    (root / "sub" / "b.bin").write_text("b\n")
    (root / "escape").symlink_to(tmp_path)
    assert resolve_inside(root, "sub/a.txt", "p") == (root / "sub" / "a.txt").resolve()
    assert corpus_files(root, "sub") == [(root / "sub" / "a.txt")]
    for bad in ["../x", "/etc/passwd", "sub/../../x", "escape/other"]:
        with pytest.raises(AppError) as caught:
            resolve_inside(root, bad, "p")
        assert caught.value.code is ErrorCode.PATH_OUTSIDE_ROOT
    with pytest.raises(AppError) as missing:
        corpus_files(root, "nope")
    assert missing.value.code is ErrorCode.DATA_NOT_FOUND


def test_names_the_os_refuses_are_bad_input(tmp_path: Path) -> None:
    for name in ["x" * 300, "sub/" + "y" * 5000, "\ud800.txt"]:
        with pytest.raises(AppError) as caught:
            corpus_files(tmp_path, name)
        assert caught.value.code is ErrorCode.DATA_INVALID
        assert str(tmp_path) not in caught.value.message


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out" / "m.json"
    write_text(target, "first")
    write_text(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["m.json"]
