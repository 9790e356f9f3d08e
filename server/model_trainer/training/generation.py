"""Sampling text from a finished run's exported model, with loaded models cached."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import torch

from model_trainer.core.contracts.model import LanguageModel
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.training.model_registry import ModelRegistry

MODEL_CACHE_SIZE = 4
"""Loaded models kept in the API process (least recently used evicted)."""


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
    generator = torch.Generator().manual_seed(seed)
    start: list[list[int]] = [prompt_ids if prompt_ids else [0]]
    idx = torch.tensor(start, dtype=torch.long)
    new: list[int] = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model.logits(idx[:, -max_seq_len:])[:, -1, :]  # (1, vocab)
            if not bool(torch.isfinite(logits).all()):
                raise AppError(
                    ErrorCode.DATA_INVALID, "the model's scores are not finite numbers (NaN)"
                )
            scaled = logits / temperature if temperature > 0 else logits
            if temperature <= 0 or not bool(torch.isfinite(scaled).all()):
                # Greedy: at temperature 0, and where a tiny temperature overflows the scores
                # (1e-300 makes every score infinite), which is the limit it tends to anyway.
                next_id = torch.argmax(logits, dim=-1, keepdim=True)
            else:
                if top_k is not None and top_k > 0:
                    kth = torch.topk(scaled, min(top_k, scaled.size(-1))).values[:, -1:]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                next_id = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, next_id], dim=1)
            new.append(int(next_id.item()))
    return new


class LoadedModel:
    """A model and its tokenizer, ready to sample; one sampler at a time per model."""

    def __init__(self, model: LanguageModel, tokenizer: TokenizerHandle, max_seq_len: int):
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self.lock = threading.Lock()

    def generate(
        self, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None, seed: int
    ) -> tuple[str, list[int]]:
        prompt_ids = self.tokenizer.encode_batch([prompt])[0] if prompt else []
        with self.lock:
            self.model.module.eval()
            ids = sample(
                self.model, prompt_ids, max_new_tokens, temperature, top_k, seed, self.max_seq_len
            )
        return self.tokenizer.decode(ids), ids


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
