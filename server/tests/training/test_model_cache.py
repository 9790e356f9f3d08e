"""Concurrent generation requests share one loaded model, and it is a sound one; a
generation sampled a slice at a time is the same as one sampled whole, and stops when told."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from model_trainer.core.contracts.model import Architecture, SpecialTokens
from model_trainer.core.contracts.tokenizer import (
    TokenizerConfig,
    TokenizerHandle,
    TokenizerMethod,
    TokenizerTrainRequest,
)
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.plugins.tokenizers.char import CharBackend
from model_trainer.training.inference.generation import LoadedModel, ModelCache, sample
from model_trainer.training.model_registry import discover_models

ARCH = Architecture(
    family="gpt2", n_layer=2, n_head=2, n_embd=32, max_seq_len=32, vocab_size=40, dropout=0.0
)


def _chars(tmp_path: Path) -> TokenizerHandle:
    """A char tokenizer trained on a line of text, loaded."""
    text = tmp_path / "train.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 50, encoding="utf-8")
    (tmp_path / "tok").mkdir()
    chars = CharBackend()
    chars.train(
        TokenizerConfig(method=TokenizerMethod.CHAR, vocab_size=40),
        TokenizerTrainRequest(train_file=text, out_dir=tmp_path / "tok", threads=1, seed=1),
    )
    return chars.load(tmp_path / "tok")


def test_concurrent_first_requests_load_once_and_get_finite_scores(tmp_path: Path) -> None:
    handle = _chars(tmp_path)
    backend = Gpt2Backend()
    torch.manual_seed(0)
    backend.export(backend.build(ARCH), ARCH, tmp_path / "export")
    cache = ModelCache(discover_models({}))
    got: list[LoadedModel] = []
    start = threading.Barrier(8)

    def first_request() -> None:
        start.wait()
        got.append(cache.get("run-1", "gpt2", tmp_path / "export", handle, ARCH.max_seq_len))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and all(loaded is got[0] for loaded in got)
    logits = got[0].model.logits(torch.arange(1, 5).unsqueeze(0))
    assert bool(torch.isfinite(logits).all())
    generation = got[0].start("the ", 16, 0.8, 10, 1)
    while not generation.advance(1.0, threading.Event()):
        pass
    text_out, ids = generation.result()
    assert len(ids) == 16 and isinstance(text_out, str)


def _loaded(tmp_path: Path) -> LoadedModel:
    text = tmp_path / "train.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 50, encoding="utf-8")
    (tmp_path / "tok").mkdir()
    CharBackend().train(
        TokenizerConfig(method=TokenizerMethod.CHAR, vocab_size=40),
        TokenizerTrainRequest(train_file=text, out_dir=tmp_path / "tok", threads=1, seed=1),
    )
    torch.manual_seed(0)
    model = Gpt2Backend().build(ARCH)
    model.module.eval()
    return LoadedModel(model, CharBackend().load(tmp_path / "tok"), ARCH.max_seq_len)


def test_a_generation_advanced_token_by_token_equals_one_sampled_whole(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    whole = sample(loaded.model, loaded.tokenizer.encode_batch(["the "])[0], 40, 0.8, 10, 7, 32)
    generation = loaded.start("the ", 40, 0.8, 10, 7)
    slices = 1
    while not generation.advance(0.0, threading.Event()):  # a zero budget: one token a slice
        slices += 1
    assert slices == 40
    assert generation.result()[1] == whole


def test_a_stopped_generation_samples_no_further(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    generation = loaded.start("the ", 1000, 0.8, 10, 7)
    assert not generation.advance(0.0, threading.Event())
    stop = threading.Event()
    stop.set()
    assert not generation.advance(60.0, stop)  # returns at once rather than sampling a minute
    assert len(generation.result()[1]) == 1


def test_an_empty_prompt_starts_from_the_exports_beginning_of_text(tmp_path: Path) -> None:
    backend = Gpt2Backend()
    torch.manual_seed(0)
    special = SpecialTokens(bos_id=3, eos_id=4, pad_id=5)
    backend.export(backend.build(ARCH), ARCH, tmp_path / "export", special)
    cache = ModelCache(discover_models({}))
    loaded = cache.get("run-2", "gpt2", tmp_path / "export", _chars(tmp_path), 32)
    generation = loaded.start("", 4, 0.0, None, 1)
    assert loaded.start_id == 3 and generation.sampling.text.ids[0] == 3


def test_a_model_evicted_mid_generation_finishes_it(tmp_path: Path) -> None:
    backend = Gpt2Backend()
    torch.manual_seed(0)
    backend.export(backend.build(ARCH), ARCH, tmp_path / "export")
    handle = _chars(tmp_path)
    cache = ModelCache(discover_models({}), size=1)
    first = cache.get("run-1", "gpt2", tmp_path / "export", handle, ARCH.max_seq_len)
    generation = first.start("the ", 12, 0.0, None, 1)
    assert not generation.advance(10.0, threading.Event())  # its first token ends a slice
    cache.get("run-2", "gpt2", tmp_path / "export", handle, ARCH.max_seq_len)  # evicts run-1
    while not generation.advance(10.0, threading.Event()):
        pass
    assert len(generation.result()[1]) == 12
