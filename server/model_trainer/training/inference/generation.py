"""Sampling text from a finished run's exported model, with loaded models cached."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from pydantic import TypeAdapter, ValidationError
from torch import Tensor

from model_trainer.core.contracts.model import CachedDecoding, LanguageModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.infra.gathering import Gathering, Submit
from model_trainer.infra.inference_pool import SLICE_S, lower_priority
from model_trainer.training.inference.decoding import DecodeBatch, Text, rerun_windows
from model_trainer.training.model_registry import ModelRegistry

MODEL_CACHE_SIZE = 4
"""Loaded models kept in the API process (least recently used evicted)."""


class Sampling:
    """One seeded ancestral sampling (greedy when temperature is 0), a token at a time, so
    that it can pause between tokens and go on with the same generator and cache. An empty
    prompt starts from `start_id` (the tokenizer's beginning of text)."""

    def __init__(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        seed: int,
        max_seq_len: int,
        start_id: int = 0,
    ) -> None:
        self._generator = torch.Generator().manual_seed(seed)
        self.text = Text(prompt_ids if prompt_ids else [start_id], max_seq_len)
        self._max_new_tokens = max_new_tokens
        self._temperature = temperature
        self._top_k = top_k
        self.new: list[int] = []

    @property
    def done(self) -> bool:
        return len(self.new) >= self._max_new_tokens

    def step(self, model: LanguageModel) -> None:
        """Sample the next token (under `torch.no_grad()`)."""
        self.choose(self.text.scores(model))

    def choose(self, logits: Tensor) -> None:
        """Pick the next token from its (1, vocab) scores, and add it to the text."""
        if not bool(torch.isfinite(logits).all()):
            raise AppError(
                ErrorCode.DATA_INVALID, "the model's scores are not finite numbers (NaN)"
            )
        temperature = self._temperature
        scaled = logits / temperature if temperature > 0 else logits
        if temperature <= 0 or not bool(torch.isfinite(scaled).all()):
            # Greedy: at temperature 0, and where a tiny temperature overflows the scores
            # (1e-300 makes every score infinite), which is the limit it tends to anyway.
            next_id = torch.argmax(logits, dim=-1, keepdim=True)
        else:
            if self._top_k is not None and self._top_k > 0:
                kth = torch.topk(scaled, min(self._top_k, scaled.size(-1))).values[:, -1:]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            probs = torch.softmax(scaled, dim=-1)
            next_id = torch.multinomial(probs, 1, generator=self._generator)
        token = int(next_id.item())
        self.text.ids.append(token)
        self.new.append(token)
        if self.done:
            self.text.cache = None  # its keys (and a batch's buffer) are not needed again


class Together:
    """Steps of several samplings of one model within a slice: those whose next step is one
    cached token share a forward pass (their batch kept while they stay the same), those
    running a full window again share another, and the rest (a prompt, a text of a model
    without a cache) go alone."""

    def __init__(self, model: LanguageModel) -> None:
        self._model = model
        self._batch: DecodeBatch | None = None

    def step(self, samplings: list[Sampling]) -> None:
        """One new token for each of `samplings`."""
        model = self._model
        # Which pass each takes is decided before any steps: a text the cached batch takes
        # past the limit must not run its window in the same step too.
        cached = [s for s in samplings if not s.done and s.text.batchable(model)]
        windows = [s for s in samplings if not s.done and s.text.reruns(model)]
        shared: list[Sampling] = []
        if len(cached) > 1 and isinstance(model, CachedDecoding):
            texts = [s.text for s in cached]
            if self._batch is None or not self._batch.holds(texts):
                self._batch = DecodeBatch(model, texts)
            _choose(cached, self._batch.step())
            shared += cached
        if len(windows) > 1:
            _choose(windows, rerun_windows(model, [s.text for s in windows]))
            shared += windows
        for sampling in samplings:
            if not sampling.done and not any(sampling is s for s in shared):
                sampling.step(model)


def _choose(samplings: list[Sampling], scores: Tensor) -> None:
    for row, sampling in enumerate(samplings):
        sampling.choose(scores[row : row + 1])


def sample(
    model: LanguageModel,
    prompt_ids: list[int],
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    max_seq_len: int,
    start_id: int = 0,
) -> list[int]:
    """Seeded ancestral sampling (greedy when temperature is 0); returns the new ids."""
    sampling = Sampling(prompt_ids, max_new_tokens, temperature, top_k, seed, max_seq_len, start_id)
    with torch.no_grad():
        while not sampling.done:
            sampling.step(model)
    return sampling.new


_CONFIG: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def start_token(export_dir: Path) -> int:
    """The id an empty prompt starts from: the beginning of text the export's `config.json`
    records (the tokenizer's), else its end of text (GPT-2's habit), else 0."""
    try:
        config = _CONFIG.validate_json((export_dir / "config.json").read_bytes())
    except (OSError, ValidationError):
        return 0
    vocab = config.get("vocab_size")
    for key in ("bos_token_id", "eos_token_id"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if not isinstance(vocab, int) or value < vocab:  # an id the model has
                return value
    return 0


MOST_TOGETHER = 32
"""Generations of one model that share a forward pass at most (the rest wait a slice)."""


class LoadedModel:
    """A model and its tokenizer, ready to sample. Its generations share their slices
    (`Gathering`): one forward pass gives every one of them its next token."""

    def __init__(
        self,
        model: LanguageModel,
        tokenizer: TokenizerHandle,
        max_seq_len: int,
        start_id: int = 0,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.start_id = start_id
        self.lock = threading.Lock()
        self.gathering: Gathering[Generation] = Gathering(
            self.advance_together, MOST_TOGETHER, SLICE_S
        )
        # The model computes on one thread of its own, which the pool's thread waits for:
        # torch keeps its intra-op threads per calling thread, and slices moving between
        # the pool's threads left two sets of them contending for the cores (a third of
        # the speed lost on two cores). The pool's thread still holds the place.
        self._compute = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="model", initializer=lower_priority
        )

    def close(self) -> None:
        """Let the model's thread go once its queued work is done (evicted from the cache)."""
        self._compute.shutdown(wait=False)

    def start(
        self, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None, seed: int
    ) -> Generation:
        """A generation that samples only when advanced (see `Generation`)."""
        prompt_ids = self.tokenizer.encode_batch([prompt])[0] if prompt else []
        sampling = Sampling(
            prompt_ids, max_new_tokens, temperature, top_k, seed, self.max_seq_len, self.start_id
        )
        return Generation(self, sampling)

    def advance_together(
        self, generations: list[Generation], stops: list[threading.Event], budget_s: float
    ) -> list[bool]:
        """Sample for about `budget_s` (at least one token each) for all of `generations`,
        a forward pass per token, on the model's own thread; each leaves when finished or
        stopped."""
        try:
            future = self._compute.submit(self._advance, generations, stops, budget_s)
        except RuntimeError:  # evicted from the cache while it still generates: here then
            return self._advance(generations, stops, budget_s)
        return future.result()

    def _advance(
        self, generations: list[Generation], stops: list[threading.Event], budget_s: float
    ) -> list[bool]:
        with self.lock, torch.no_grad():
            until = time.perf_counter() + budget_s  # from here: waiting for the lock is free
            self.model.module.eval()
            active = [g for g, stop in zip(generations, stops, strict=True) if not g.busy(stop)]
            # A generation's first token ends the slice at once: a stream shows it then.
            fresh = any(not g.sampling.new for g in active)
            together = Together(self.model)
            while active:
                together.step([g.sampling for g in active])
                active = [g for g, stop in zip(generations, stops, strict=True) if not g.busy(stop)]
                if fresh or time.perf_counter() >= until:
                    break
        for generation in generations:
            generation.sliced()
        return [g.sampling.done for g in generations]


class Generation:
    """One request's sampling, a slice at a time (`InferencePool.open_sliced`): the model is
    held only for a slice, so requests for one model share it instead of waiting for the
    whole of a long one, and the output is the same however it was sliced."""

    def __init__(self, loaded: LoadedModel, sampling: Sampling) -> None:
        self._loaded = loaded
        self.sampling = sampling
        self.on_slice: Callable[[bool], None] | None = None
        """Called on the pool's thread after each slice, with whether it finished."""

    def busy(self, stop: threading.Event) -> bool:
        """Whether it is out of the running: finished, or its client gone."""
        return self.sampling.done or stop.is_set()

    def sliced(self) -> None:
        if self.on_slice is not None:
            self.on_slice(self.sampling.done)

    def advance(self, budget_s: float, stop: threading.Event) -> bool:
        """Sample alone for about `budget_s` (at least one token); stop checked every token."""
        return self._loaded.advance_together([self], [stop], budget_s)[0]

    def turn(
        self, stop: threading.Event, submit: Submit, charge: Callable[[float], None]
    ) -> Awaitable[bool]:
        """The next slice shared with the model's other generations (`Joins`)."""
        return self._loaded.gathering.turn(self, stop, submit, charge)

    def result(self) -> tuple[str, list[int]]:
        """The text and ids sampled so far."""
        ids = list(self.sampling.new)
        return self._loaded.tokenizer.decode(ids), ids


class ModelCache:
    """Keeps a few loaded models so repeated generation does not reload weights."""

    def __init__(self, models: ModelRegistry, size: int = MODEL_CACHE_SIZE) -> None:
        self._registry = models
        self._size = size
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        run_id: str,
        family: str,
        export_dir: Path,
        tokenizer: TokenizerHandle,
        max_seq_len: int,
    ) -> LoadedModel:
        # One lock over lookup and load: two threads loading at once each got a model whose
        # scores were NaN (loading patches process-wide state in `transformers`), and one
        # load per run is all a burst of requests needs anyway.
        with self._lock:
            if run_id in self._models:
                self._models.move_to_end(run_id)
                return self._models[run_id]
            model = self._registry.get(family).load(export_dir)
            loaded = LoadedModel(model, tokenizer, max_seq_len, start_token(export_dir))
            self._models[run_id] = loaded
            while len(self._models) > self._size:
                self._models.popitem(last=False)[1].close()
            return loaded
