"""Artifacts written atomically are as readable as files `open()` creates."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from model_trainer.infra.atomic import (
    FILE_MODE,
    make_readable,
    move_into_place,
    write_bytes,
    write_text,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _umask() -> int:
    mask = os.umask(0o077)  # the test runs alone in its process's main thread
    os.umask(mask)
    return mask


def test_the_file_mode_follows_the_umask() -> None:
    assert FILE_MODE == 0o666 & ~_umask()


def test_written_files_get_the_ordinary_mode(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    write_bytes(tmp_path / "model.bin", b"\0\1")
    write_text(tmp_path / "tokenizer_config.json", "{}\n")
    assert _mode(tmp_path / "model.bin") == 0o666 & ~_umask() == _mode(plain)
    assert _mode(tmp_path / "tokenizer_config.json") == _mode(plain)
    write_bytes(tmp_path / "model.bin", b"again")  # replacing keeps the mode
    assert _mode(tmp_path / "model.bin") == _mode(plain)


def test_a_private_temp_file_is_published_with_the_ordinary_mode(tmp_path: Path) -> None:
    fd, name = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    assert _mode(Path(name)) == 0o600
    move_into_place(Path(name), tmp_path / "tokenizer.json")
    assert _mode(tmp_path / "tokenizer.json") == FILE_MODE


def test_files_a_library_wrote_privately_are_made_readable(tmp_path: Path) -> None:
    private = tmp_path / "model.safetensors"
    private.write_bytes(b"")
    private.chmod(0o600)
    (tmp_path / "sub").mkdir(mode=0o700)
    make_readable(tmp_path)
    assert _mode(private) == FILE_MODE
    assert _mode(tmp_path / "sub") == 0o700  # folders are left as they are
