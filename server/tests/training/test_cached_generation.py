"""Generation through the key/value cache gives the tokens the whole-text way gives: greedy
and seeded, alone and sharing a batch with texts of other lengths, past the context limit
for learned positions; an empty prompt starts from the tokenizer's beginning of text."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from torch import Tensor, nn

from model_trainer.core.contracts.model import (
    Architecture,
    CachedDecoding,
    LanguageModel,
    ModelBackend,
)
from model_trainer.core.contracts.tokenizer import (
    TokenizerConfig,
    TokenizerHandle,
    TokenizerMethod,
    TokenizerTrainRequest,
)
from model_trainer.infra.inference_pool import InferencePool
from model_trainer.plugin_hf import HfCausalLM
from model_trainer.plugins.gpt2 import Gpt2Backend, Gpt2Model
from model_trainer.plugins.llama import LlamaBackend
from model_trainer.plugins.qwen2 import Qwen2Backend
from model_trainer.plugins.tokenizers.char import CharBackend
from model_trainer.training.inference.generation import (
    Generation,
    LoadedModel,
    Sampling,
    Together,
    sample,
    start_token,
)
from model_trainer.training.loop.eval_samples import generate_samples

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS .\n"
VOCAB = len(ALPHABET) + 1  # and the unknown-character token
CONTEXT = 24


class Uncached:
    """The same model seen without its cache: every token runs the whole window."""

    def __init__(self, model: LanguageModel) -> None:
        self._model = model

    @property
    def module(self) -> nn.Module:
        return self._model.module

    def logits(self, idx: Tensor) -> Tensor:
        return self._model.logits(idx)

    def compile(self) -> None:
        raise NotImplementedError


def _model(family: str) -> LanguageModel:
    """A small model whose scores are far apart (weights scaled up), so that rounding in a
    differently ordered sum cannot flip a greedy choice."""
    backends: dict[str, ModelBackend] = {
        "gpt2": Gpt2Backend(),
        "llama": LlamaBackend(),
        "qwen2": Qwen2Backend(),
    }
    arch = Architecture(
        family=family,
        n_layer=2,
        n_head=4,
        n_embd=32,
        max_seq_len=CONTEXT,
        vocab_size=VOCAB,
        dropout=0.0,
        options={"n_kv_head": 2} if family != "gpt2" else {},
    )
    torch.manual_seed(3)
    model = backends[family].build(arch)
    with torch.no_grad():
        for parameter in model.module.parameters():
            if parameter.dim() > 1:
                parameter.mul_(4.0)
    model.module.eval()
    return model


def _greedy(
    model: LanguageModel, prompt: list[int], new: int, temperature: float = 0.0
) -> list[int]:
    with torch.no_grad():
        return sample(model, prompt, new, temperature, None, 7, CONTEXT)


@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2"])
def test_cached_tokens_are_the_whole_text_tokens(family: str) -> None:
    model = _model(family)
    assert isinstance(model, CachedDecoding)
    assert not model.keeps_cache_when_sliding()  # past the limit the window runs again
    for prompt in ([5, 9, 2, 30, 11], list(range(CONTEXT)), list(range(CONTEXT + 7))):
        new = 2 * CONTEXT
        assert _greedy(model, prompt, new) == _greedy(Uncached(model), prompt, new)
        seeded = _greedy(model, prompt, new, temperature=0.9)
        assert seeded == _greedy(Uncached(model), prompt, new, temperature=0.9)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_a_cache_that_may_slide_stays_within_the_context(family: str) -> None:
    model = _Sliding(_model(family))
    prompts = [[4, 4, 8], list(range(CONTEXT + 3))]
    together = [Sampling(p, 3 * CONTEXT, 0.0, None, 7, CONTEXT) for p in prompts]
    steps = Together(model)
    with torch.no_grad():
        while not all(s.done for s in together):
            steps.step([s for s in together if not s.done])
            assert all(s.text.cached_length() <= CONTEXT for s in together)
    assert all(len(s.new) == 3 * CONTEXT and max(s.new) < VOCAB for s in together)


@pytest.mark.parametrize(("family", "cache"), [("gpt2", True), ("llama", True), ("gpt2", False)])
def test_texts_sharing_a_batch_get_their_own_tokens(family: str, cache: bool) -> None:
    model = _model(family) if cache else Uncached(_model(family))
    prompts = [[3], [7, 1, 4, 4, 9, 12], [2, 2], [41, 3, 9]]
    new = 2 * CONTEXT  # past the limit: windows run again together, or caches slide
    alone = [_greedy(model, p, new) for p in prompts]
    together = [Sampling(p, new, 0.0, None, 7, CONTEXT) for p in prompts]
    steps = Together(model)
    with torch.no_grad():
        while not all(s.done for s in together):
            steps.step([s for s in together if not s.done])
    assert [s.new for s in together] == alone


def test_an_empty_prompt_starts_from_the_beginning_of_text(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"bos_token_id": 7, "eos_token_id": 3}')
    assert start_token(tmp_path) == 7
    (tmp_path / "config.json").write_text('{"bos_token_id": null, "eos_token_id": 3}')
    assert start_token(tmp_path) == 3
    (tmp_path / "config.json").write_text('{"bos_token_id": 9, "eos_token_id": 3, "vocab_size": 9}')
    assert start_token(tmp_path) == 3  # 9 is no id of a 9-token vocabulary
    (tmp_path / "config.json").write_text("{not json")
    assert start_token(tmp_path) == 0
    assert start_token(tmp_path / "missing") == 0
    model = _model("gpt2")
    from_bos = _greedy_from(model, 7)
    assert from_bos == _greedy(Uncached(model), [7], 8)
    assert Sampling([], 8, 0.0, None, 1, CONTEXT, start_id=7).text.ids == [7]


def _greedy_from(model: LanguageModel, start_id: int) -> list[int]:
    with torch.no_grad():
        return sample(model, [], 8, 0.0, None, 7, CONTEXT, start_id)


@pytest.fixture(scope="module")
def chars(tmp_path_factory: pytest.TempPathFactory) -> TokenizerHandle:
    """A char tokenizer of exactly `VOCAB` ids, so that every id the model makes decodes."""
    folder = tmp_path_factory.mktemp("chars")
    text = folder / "train.txt"
    text.write_text(ALPHABET * 20, encoding="utf-8")
    backend = CharBackend()
    (folder / "tok").mkdir()
    backend.train(
        TokenizerConfig(method=TokenizerMethod.CHAR, vocab_size=VOCAB),
        TokenizerTrainRequest(train_file=text, out_dir=folder / "tok", threads=1, seed=1),
    )
    handle = backend.load(folder / "tok")
    assert handle.info().vocab_size == VOCAB
    return handle


class _Counting(Uncached):
    """A cached model that counts its forward passes and the rows in each."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__(model)
        assert isinstance(model, CachedDecoding)
        self._cached = model
        self.rows: list[int] = []

    def forward_cached(
        self,
        ids: Tensor,
        past: list[tuple[Tensor, Tensor]] | None,
        mask: Tensor | None,
        positions: Tensor,
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        self.rows.append(ids.shape[0])
        return self._cached.forward_cached(ids, past, mask, positions)

    def keeps_cache_when_sliding(self) -> bool:
        return self._cached.keeps_cache_when_sliding()


class _Sliding(_Counting):
    """A cached model that keeps its cache as the window slides (as a family with windowed
    attention would): the oldest entries are dropped."""

    def keeps_cache_when_sliding(self) -> bool:
        return True


def test_concurrent_requests_share_forward_passes_through_the_pool(
    chars: TokenizerHandle,
) -> None:
    counting = _Counting(_model("gpt2"))
    loaded = LoadedModel(counting, chars, CONTEXT)
    prompts = ["c", "gad", "bb", "Naci", "e", "fffff"]
    alone = [_greedy(counting, chars.encode_batch([p])[0], 16) for p in prompts]
    counting.rows.clear()
    pool = InferencePool("generate", workers=2, queue=8)

    async def one(prompt: str) -> list[int]:
        def start() -> Generation:
            return loaded.start(prompt, 16, 0.0, None, 7)

        return (await pool.run_sliced(start, _never_gone))[1]

    async def everyone() -> list[list[int]]:
        return list(await asyncio.gather(*(one(p) for p in prompts)))

    try:
        assert asyncio.run(everyone()) == alone
    finally:
        pool.close()
    assert max(counting.rows) > 1  # some passes served several requests at once
    assert pool.admitted == 0


async def _never_gone() -> bool:
    return False


def test_a_stopped_generation_leaves_the_batch(chars: TokenizerHandle) -> None:
    loaded = LoadedModel(_model("gpt2"), chars, CONTEXT)
    first, second = loaded.start("ab", 50, 0.0, None, 1), loaded.start("c", 50, 0.0, None, 1)
    stop, go = threading.Event(), threading.Event()
    stop.set()
    assert loaded.advance_together([first, second], [stop, go], 10.0) == [False, False]
    assert len(second.result()[1]) == 1  # a first token ends its slice: a stream shows it
    assert loaded.advance_together([first, second], [stop, go], 10.0) == [False, True]
    assert first.result()[1] == [] and len(second.result()[1]) == 50


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_samples_from_the_cache_are_the_whole_buffer_samples(family: str) -> None:
    model = _model(family)
    val: npt.NDArray[np.uint16] = np.arange(200, dtype=np.uint16) % VOCAB
    device = torch.device("cpu")
    cached = generate_samples(model, val, 3, 12, 5, CONTEXT, device)
    whole = generate_samples(Uncached(model), val, 3, 12, 5, CONTEXT, device)
    assert cached == whole and all(len(s.new) == 12 for s in cached)


def test_clients_that_leave_mid_batch_free_their_places_and_spare_the_rest(
    chars: TokenizerHandle,
) -> None:
    loaded = LoadedModel(_model("gpt2"), chars, CONTEXT)
    prompts = ["c", "gad", "bb", "Naci", "e", "fffff"]
    alone = [_greedy(loaded.model, chars.encode_batch([p])[0], 40) for p in prompts]
    pool = InferencePool("generate", workers=2, queue=8)

    async def one(prompt: str, leaves: bool) -> list[int]:
        async def gone() -> bool:
            # asked first after the first slice, which a first token always ends
            return leaves

        def start() -> Generation:
            return loaded.start(prompt, 40, 0.0, None, 7)

        return (await pool.run_sliced(start, gone))[1]

    async def everyone() -> list[list[int]]:
        calls = (one(p, leaves=i % 2 == 1) for i, p in enumerate(prompts))
        return list(await asyncio.gather(*calls))

    try:
        got = asyncio.run(everyone())
    finally:
        pool.close()
    for i, (ids, expected) in enumerate(zip(got, alone, strict=True)):
        if i % 2 == 1:
            assert ids == expected[:1]  # stopped after its first token
        else:
            assert ids == expected
    assert pool.admitted == 0 and pool.stopped == 3


def test_a_text_crossing_the_limit_in_a_batch_gets_no_extra_token() -> None:
    """One text crosses the context limit in the cached batch while another already runs
    its window again: the first must not also run its window in the same step."""
    model = _model("gpt2")
    near = list(range(1, CONTEXT - 1))
    crossing = Sampling(near, 3, 0.0, None, 7, CONTEXT)
    past = Sampling(list(range(1, CONTEXT + 6)), 10, 0.0, None, 7, CONTEXT)
    other = Sampling(near, 10, 0.0, None, 7, CONTEXT)
    steps = Together(model)
    with torch.no_grad():
        for _ in range(4):
            steps.step([s for s in (crossing, past, other) if not s.done])
    assert len(crossing.new) == 3 and crossing.new == _greedy(model, near, 3)
    assert crossing.text.cache is None  # a finished text lets its keys go


def test_gpt2_lean_decoding_scores_as_the_library_does() -> None:
    """GPT-2 decodes from its own parameters (`gpt2_lean`); the library's cached forward
    gives the same scores and keys, for a prompt and for a left-padded batch step."""
    model = _model("gpt2")
    assert isinstance(model, Gpt2Model)
    ids = torch.arange(1, 7).unsqueeze(0)
    positions = torch.arange(6).unsqueeze(0)
    with torch.no_grad():
        lean, lean_past = model.forward_cached(ids, None, None, positions)
        hf, hf_past = HfCausalLM.forward_cached(model, ids, None, None, positions)
        assert torch.allclose(lean, hf, atol=1e-5)
        for (k, v), (hk, hv) in zip(lean_past, hf_past, strict=True):
            assert torch.allclose(k, hk, atol=1e-5) and torch.allclose(v, hv, atol=1e-5)
        two = [(torch.cat([k, k]), torch.cat([v, v])) for k, v in hf_past]
        mask = torch.ones(2, 7, dtype=torch.long)
        mask[0, :2] = 0  # the first row's first two places are padding
        step = torch.stack([ids[0, 5:6], ids[0, 2:3]])
        at = torch.stack([torch.full((1,), 4), torch.full((1,), 6)])
        lean, _ = model.forward_cached(step, two, mask, at)
        two = [(torch.cat([k, k]), torch.cat([v, v])) for k, v in hf_past]
        hf, _ = HfCausalLM.forward_cached(model, step, two, mask, at)
    assert torch.allclose(lean, hf, atol=1e-5)


def test_gpt2_with_dropout_decodes_the_lean_way_in_evaluation_mode() -> None:
    arch = Architecture(
        family="gpt2",
        n_layer=2,
        n_head=4,
        n_embd=32,
        max_seq_len=CONTEXT,
        vocab_size=VOCAB,
        dropout=0.1,
    )
    torch.manual_seed(3)
    model = Gpt2Backend().build(arch)
    assert isinstance(model, Gpt2Model)
    model.module.eval()
    prompt = [5, 9, 2, 30, 11]
    assert _greedy(model, prompt, 2 * CONTEXT) == _greedy(Uncached(model), prompt, 2 * CONTEXT)
    ids, positions = torch.arange(1, 7).unsqueeze(0), torch.arange(6).unsqueeze(0)
    with torch.no_grad():
        lean, _ = model.forward_cached(ids, None, None, positions)
        hf, _ = HfCausalLM.forward_cached(model, ids, None, None, positions)
    assert torch.allclose(lean, hf, atol=1e-5)
