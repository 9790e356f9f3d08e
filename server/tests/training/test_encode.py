"""Token-id files: the same bytes from every encoder, whatever the chunk and task boundaries."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import (
    TokenizerConfig,
    TokenizerHandle,
    TokenizerMethod,
    TokenizerTrainRequest,
)
from model_trainer.core.json_types import JsonObject
from model_trainer.core.logging import Log
from model_trainer.plugins.tokenizers.bpe import END_OF_TEXT, byte_level_bpe
from model_trainer.plugins.tokenizers.char import UNK, char_tokenizer, char_vocab, count_chars
from model_trainer.plugins.tokenizers.sentencepiece import SentencePieceBackend
from model_trainer.tokenizers.corpus import HoldoutStrategy, iter_text_chunks
from model_trainer.tokenizers.hf_handle import HfTokenizerHandle, continuation_tokenizer
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


def _lines(seed: int, count: int) -> str:
    """Lines of the pieces, in groups of four: plain, indented, ending in spaces or a carriage
    return, then a blank line; so every few lines a line end sits between two non-blank
    characters, where the tokens of the whole text break too."""
    rng = random.Random(seed)
    words = [p for p in PIECES if "\n" not in p]
    out: list[str] = []
    for i in range(count):
        line = "".join(rng.choice(words) + rng.choice([" ", ""]) for _ in range(8)).strip()
        lead = ["", "    ", "", ""][i % 4]
        end = ["\n", "\n", rng.choice([" \n", "\r\n", "\t\n"]), "\n\n"][i % 4]
        out.append(lead + (line or "x") + end)
    return "".join(out)


@pytest.mark.parametrize("workers", [1, 2])
def test_chunks_add_up_to_the_whole_text(
    handle: HfTokenizerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Chunks end where the whole text's tokens break (a line end between two non-blank
    characters), not just anywhere after a line end: a line end before an indented line, a
    trailing space or a carriage return would join tokens of the whole text (`"\n   "`)."""
    monkeypatch.setattr(encode, "CHUNK_BYTES", 256)
    monkeypatch.setattr(encode, "TASK_CHUNKS", 3)
    monkeypatch.setattr(encode, "PARALLEL_MIN_BYTES", 0)
    source = tmp_path / "text.txt"
    text = _lines(4, 1200)
    source.write_text(text, encoding="utf-8")
    result = encode_file(source, tmp_path / "ids.bin", handle, "H", lambda _n: None, workers)
    written = array("H", (tmp_path / "ids.bin").read_bytes()).tolist()
    assert (result.encoder, result.processes) == ("word-cache", workers)
    assert written == handle.tokenizer.encode(text, add_special_tokens=False).ids
    chunks = [t for t, _size in iter_text_chunks(source, 256)]
    assert len(chunks) > 50 and all(c[-2] not in " \r\t\n" and c[-1] == "\n" for c in chunks[:-1])


def test_records_chunks_add_up_to_the_whole_text(
    handle: HfTokenizerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of one line, each followed by a blank line, have no line end between two
    non-blank characters: chunks end between the two line ends before a record, where
    byte-level BPE's tokens break too (its `"\n\n"` before a word is two tokens)."""
    monkeypatch.setattr(encode, "CHUNK_BYTES", 256)
    source = tmp_path / "text.txt"
    text = "".join(line.strip() + "\n\n" for line in _lines(7, 1200).splitlines() if line.strip())
    source.write_text(text, encoding="utf-8")
    encode_file(source, tmp_path / "ids.bin", handle, "H", lambda _n: None, 1)
    written = array("H", (tmp_path / "ids.bin").read_bytes()).tolist()
    assert written == handle.tokenizer.encode(text, add_special_tokens=False).ids
    chunks = [t for t, _size in iter_text_chunks(source, 256)]
    assert len(chunks) > 50 and all(
        c.endswith("\n") and not c.endswith("\n\n") for c in chunks[:-1]
    )


SPM_CASES = [("unigram", 300), ("bpe", 300), ("unigram", 600)]
"""Below 512 pieces there is no byte fallback: a line end, never seen in training (it reads
lines), is unknown, and merges with the unknown characters around it."""


def _sentencepiece(folder: Path, model_type: str, vocab_size: int) -> SentencePieceBackend:
    train = folder / "train.txt"
    train.write_text(_lines(5, 3000).replace("日本", ""), encoding="utf-8")
    backend = SentencePieceBackend()
    options: JsonObject = {"model_type": model_type}
    config = TokenizerConfig(method="sentencepiece", vocab_size=vocab_size, options=options)
    request = TokenizerTrainRequest(train_file=train, out_dir=folder, threads=1, seed=0)
    backend.train(backend.check(config), request)
    return backend


def _chunked_ids(handle: TokenizerHandle, folder: Path, text: str) -> list[int]:
    source = folder / "text.txt"
    source.write_text(text, encoding="utf-8")
    encode_file(source, folder / "ids.bin", handle, "I", lambda _n: None, 1)
    return array("I", (folder / "ids.bin").read_bytes()).tolist()


@pytest.mark.parametrize(("model_type", "vocab_size"), SPM_CASES)
def test_sentencepiece_chunks_add_up_to_the_whole_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_type: str, vocab_size: int
) -> None:
    """No start-of-text `▁` on every chunk but the first, and line ends merged into the
    unknown characters around them as in the whole text."""
    monkeypatch.setattr(encode, "CHUNK_BYTES", 256)
    spm = _sentencepiece(tmp_path, model_type, vocab_size).load(tmp_path)
    text = _lines(6, 1000)
    written = _chunked_ids(spm, tmp_path, text)
    assert written == spm.encode_batch([text])[0]
    assert spm.decode(written) == text or vocab_size < 512  # unknown characters decode as ⁇


@pytest.mark.parametrize(("model_type", "vocab_size"), SPM_CASES)
def test_a_tokenizer_json_that_marks_the_start_of_text_continues_without_the_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_type: str, vocab_size: int
) -> None:
    """The SentencePiece export (a `Prepend` normaliser and a Metaspace pre-tokenizer, as
    Llama-style `tokenizer.json` files have) through the shared handle."""
    monkeypatch.setattr(encode, "CHUNK_BYTES", 256)
    backend = _sentencepiece(tmp_path, model_type, vocab_size)
    backend.export_hf(tmp_path, {"model_type": model_type}, tmp_path / "hf", 64)
    handle = HfTokenizerHandle.from_dir(tmp_path / "hf", "<unk>")
    text = _lines(6, 1000)
    written = _chunked_ids(handle, tmp_path, text)
    assert written == handle.tokenizer.encode(text, add_special_tokens=False).ids
    assert continuation_tokenizer(handle.tokenizer) is not None
    assert continuation_tokenizer(Tokenizer.from_str(handle.tokenizer.to_str())) is not None


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


def test_the_same_bytes_under_other_names_are_another_dataset(
    handle: HfTokenizerHandle, tmp_path: Path
) -> None:
    root = tmp_path / "corpus"
    for folder, names in (("a", ("p.txt", "q.csv")), ("b", ("p.csv", "q.txt"))):
        (root / folder).mkdir(parents=True)
        (root / folder / names[0]).write_bytes(b"text\nalpha one two\n")
        (root / folder / names[1]).write_bytes(b"text\nbeta three four\n")
    prepared = [
        prepare_dataset(
            files=sorted((root / folder).iterdir()),
            corpus_root=root,
            handle=handle,
            tokenizer_id="tok-test",
            holdout_fraction=0.0,
            holdout_strategy=HoldoutStrategy.TAIL,
            seed=0,
            cache_root=tmp_path / "datasets",
            log=Log("data"),
        )
        for folder in ("a", "b")
    ]
    assert prepared[0].info.corpus_sha256 == prepared[1].info.corpus_sha256
    assert prepared[0].info.key != prepared[1].info.key
    assert not prepared[1].reused  # its text differs: a CSV's header is no record
