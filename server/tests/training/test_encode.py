"""Token-id files: the same bytes from every encoder, whatever the chunk and task boundaries."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import TokenizerConfig, TokenizerMethod
from model_trainer.core.logging import Log
from model_trainer.plugins.tokenizers.bpe import END_OF_TEXT, byte_level_bpe
from model_trainer.plugins.tokenizers.char import UNK, char_tokenizer, char_vocab, count_chars
from model_trainer.tokenizers.corpus import HoldoutStrategy, iter_text_chunks
from model_trainer.tokenizers.hf_handle import HfTokenizerHandle
from model_trainer.training.data import encode
from model_trainer.training.data.dataset import load_tokens, prepare_dataset
from model_trainer.training.data.encode import encode_file

PIECES = [
    "the", "cat", "it's", "don't", "def", "return", "42", "3.14", "é", "日本", "🙂", "e\u0301",
    "  ", "   ", "\t", "\r\n", "\n", "\n\n", "\n    ", "!", "...", "\u00a0", END_OF_TEXT,
]  # fmt: skip


def _text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) + rng.choice([" ", "", "\n"]) for _ in range(words))
    # One line much longer than a chunk, and no newline at the very end.
    return text + "x" * 3000 + "\n    indented after a long line" + " tail" * 50


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> HfTokenizerHandle:
    folder = tmp_path_factory.mktemp("bpe")
    corpus = folder / "train.txt"
    corpus.write_text(_text(1, 20000), encoding="utf-8")
    tokenizer, trainer = byte_level_bpe(
        TokenizerConfig(method=TokenizerMethod.BPE, vocab_size=400, min_frequency=2)
    )
    tokenizer.train([str(corpus)], trainer)
    return HfTokenizerHandle(Tokenizer.from_str(tokenizer.to_str()), None, [END_OF_TEXT])


def _library_bytes(path: Path, handle: HfTokenizerHandle, chunk_bytes: int) -> bytes:
    """What the tokenizer's own encoder makes of the same chunks."""
    ids: array[int] = array("H")
    for text, _size in iter_text_chunks(path, chunk_bytes):
        ids.extend(handle.tokenizer.encode(text, add_special_tokens=False).ids)
    return ids.tobytes()


@pytest.mark.parametrize("chunk_bytes", [7, 100, 4096])
@pytest.mark.parametrize("workers", [1, 2])
def test_files_equal_the_library_at_any_boundary(
    handle: HfTokenizerHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_bytes: int,
    workers: int,
) -> None:
    monkeypatch.setattr(encode, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(encode, "TASK_CHUNKS", 3)
    monkeypatch.setattr(encode, "PARALLEL_MIN_BYTES", 0)
    source = tmp_path / "text.txt"
    text = _text(2, 3000)
    source.write_text(text, encoding="utf-8")
    read: list[int] = []
    result = encode_file(source, tmp_path / "ids.bin", handle, "H", read.append, workers)
    written = (tmp_path / "ids.bin").read_bytes()
    assert written == _library_bytes(source, handle, chunk_bytes)
    assert (result.encoder, result.processes) == ("word-cache", workers)
    assert (result.tokens, result.chars) == (len(written) // 2, len(text))
    assert sum(read) == len(text.encode())
    assert handle.decode(array("H", written).tolist()) == text
    assert not list(tmp_path.glob(".*.tmp"))


def test_other_tokenizers_use_their_batch_encoder(tmp_path: Path) -> None:
    source = tmp_path / "text.txt"
    source.write_text("abc\nab ba\n" * 500, encoding="utf-8")
    tokenizer = char_tokenizer(char_vocab(count_chars(source), 100, 1))
    char = HfTokenizerHandle(tokenizer, unk_token=UNK, specials=[UNK])
    result = encode_file(source, tmp_path / "ids.bin", char, "I", lambda _n: None, 2)
    ids = array("I", (tmp_path / "ids.bin").read_bytes()).tolist()
    assert result.encoder == "library"
    assert result.tokens == len(ids) == 5000
    assert char.decode(ids) == source.read_text(encoding="utf-8")


def test_prepared_dataset_holds_the_library_ids(handle: HfTokenizerHandle, tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_text(_text(3, 4000) + "\n", encoding="utf-8")
    dataset = prepare_dataset(
        files=[root / "a.txt"],
        corpus_root=root,
        handle=handle,
        tokenizer_id="tok-test",
        holdout_fraction=0.0,
        holdout_strategy=HoldoutStrategy.TAIL,
        seed=0,
        cache_root=tmp_path / "datasets",
        log=Log("data"),
        workers=2,
    )
    train = load_tokens(dataset.train_path(), dataset.info.dtype)
    expected = array("H", _library_bytes(root / "a.txt", handle, encode.CHUNK_BYTES))
    assert train.tobytes() == expected.tobytes()
    assert dataset.info.train_tokens == len(expected)
