"""Corpus splitting: deterministic, faithful, and exact about bad bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.tokenizers.corpus import HoldoutStrategy, split_corpus
from model_trainer.training.data.dataset import corpus_sha256

LINES = [f"line number {i} with some words\n" for i in range(2000)]


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text("".join(LINES[:1000]), encoding="utf-8")
    (root / "b.txt").write_text("".join(LINES[1000:]).rstrip("\n"), encoding="utf-8")
    return root


def _split(root: Path, work: Path, seed: int, strategy: HoldoutStrategy) -> tuple[str, str]:
    files = [root / "a.txt", root / "b.txt"]
    split = split_corpus(files, root, work, 0.1, seed, strategy)
    return split.train_file.read_text(), split.holdout_file.read_text()


def test_random_split_is_deterministic_and_complete(corpus: Path, tmp_path: Path) -> None:
    train, held = _split(corpus, tmp_path / "w1", 7, HoldoutStrategy.RANDOM_LINES)
    again = _split(corpus, tmp_path / "w2", 7, HoldoutStrategy.RANDOM_LINES)
    other = _split(corpus, tmp_path / "w3", 8, HoldoutStrategy.RANDOM_LINES)
    assert (train, held) == again and (train, held) != other
    assert sorted(train.splitlines(keepends=True) + held.splitlines(keepends=True)) == sorted(LINES)
    assert 120 < len(held.splitlines()) < 280


def test_tail_split_holds_out_the_end(corpus: Path, tmp_path: Path) -> None:
    train, held = _split(corpus, tmp_path / "w", 0, HoldoutStrategy.TAIL)
    assert train + held == "".join(LINES)
    assert held.startswith("line number 18")


def test_hash_matches_the_split_and_the_bytes(corpus: Path, tmp_path: Path) -> None:
    files = [corpus / "a.txt", corpus / "b.txt"]
    split = split_corpus(files, corpus, tmp_path / "w", 0.1, 1)
    assert split.sha256 == corpus_sha256(files)
    single = split_corpus([files[0]], corpus, tmp_path / "w2", 0.1, 1)
    assert single.sha256 == hashlib.sha256(files[0].read_bytes()).hexdigest()


def test_invalid_utf8_names_file_and_offset(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "bad.txt").write_bytes(b"ok\n" * 1000 + b"caf\xe9\n")
    with pytest.raises(AppError) as caught:
        split_corpus([root / "bad.txt"], root, tmp_path / "w", 0.1, 1)
    assert caught.value.code is ErrorCode.CORPUS_NOT_UTF8
    assert "bad.txt" in caught.value.message and "3003" in caught.value.message
