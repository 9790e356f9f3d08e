"""Sampling text from a finished run's exported model, with loaded models cached."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

import torch

from model_trainer.core.contracts.model import LanguageModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.training.model_registry import ModelRegistry

MODEL_CACHE_SIZE = 4
"""Loaded models kept in the API process (least recently used evicted)."""


class Sampling:
    """One seeded ancestral sampling (greedy when temperature is 0), a token at a time, so
    that it can pause between tokens and go on with the same generator and ids."""

    def __init__(
        self,
        prompt_ids: list[int],
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        seed: int,
        max_seq_len: int,
    ) -> None:
        self._generator = torch.Generator().manual_seed(seed)
        start: list[list[int]] = [prompt_ids if prompt_ids else [0]]
        self._idx = torch.tensor(start, dtype=torch.long)
        self._max_new_tokens = max_new_tokens
        self._temperature = temperature
        self._top_k = top_k
        self._max_seq_len = max_seq_len
        self.new: list[int] = []

    @property
    def done(self) -> bool:
        return len(self.new) >= self._max_new_tokens

    def step(self, model: LanguageModel) -> None:
        """Sample the next token (under `torch.no_grad()`)."""
        logits = model.logits(self._idx[:, -self._max_seq_len :])[:, -1, :]  # (1, vocab)
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
        self._idx = torch.cat([self._idx, next_id], dim=1)
        self.new.append(int(next_id.item()))


def sample(
    model: LanguageModel,
    prompt_ids: list[int],
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    max_seq_len: int,
) -> list[int]:
    """Seeded ancestral sampling (greedy when temperature is 0); returns the new ids."""
    sampling = Sampling(prompt_ids, max_new_tokens, temperature, top_k, seed, max_seq_len)
    with torch.no_grad():
        while not sampling.done:
            sampling.step(model)
    return sampling.new


class LoadedModel:
    """A model and its tokenizer, ready to sample; one sampler at a time per model."""

    def __init__(self, model: LanguageModel, tokenizer: TokenizerHandle, max_seq_len: int):
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.lock = threading.Lock()

    def start(
        self, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None, seed: int
    ) -> Generation:
        """A generation that samples only when advanced (see `Generation`)."""
        prompt_ids = self.tokenizer.encode_batch([prompt])[0] if prompt else []
        sampling = Sampling(prompt_ids, max_new_tokens, temperature, top_k, seed, self.max_seq_len)
        return Generation(self, sampling)


class Generation:
    """One request's sampling, a slice at a time (`InferencePool.run_sliced`): the model is
    held only for a slice, so requests for one model take turns instead of waiting for the
    whole of a long one, and the output is the same however it was sliced."""

    def __init__(self, loaded: LoadedModel, sampling: Sampling) -> None:
        self._loaded = loaded
        self._sampling = sampling

    def advance(self, budget_s: float, stop: threading.Event) -> bool:
        """Sample for about `budget_s` (at least one token); stop checked every token."""
        with self._loaded.lock, torch.no_grad():
            until = time.perf_counter() + budget_s  # from here: waiting for the lock is free
            self._loaded.model.module.eval()
            while not self._sampling.done and not stop.is_set():
                self._sampling.step(self._loaded.model)
                if time.perf_counter() >= until:
                    break
        return self._sampling.done

    def result(self) -> tuple[str, list[int]]:
        """The text and ids sampled so far."""
        ids = list(self._sampling.new)
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
            loaded = LoadedModel(model, tokenizer, max_seq_len)
            self._models[run_id] = loaded
            while len(self._models) > self._size:
                self._models.popitem(last=False)
            return loaded
