"""A few short samples at each evaluation during training, to see what the model writes.

Prompts are the first tokens of the validation text at evenly spread places (its start
first), the same at every evaluation; each sample draws from a generator of its own, seeded
from the run's seed, so the samples neither touch torch's global generator (a resumed run
trains bit for bit as an uninterrupted one) nor change between two runs of one config.
All prompts go through the model together, one forward pass per new token (one token's
work each, from the key/value cache, when the model has one); the prompt and the new tokens
stay within the model's context.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor

from model_trainer.core.contracts.model import CachedDecoding, KeyValues, LanguageModel
from model_trainer.training.data.sampler import TokenArray, to_long_tensor

SAMPLE_SEED_OFFSET = 3_000_017
PROMPT_TOKENS = 8
TEMPERATURE = 0.8
TOP_K = 40


class SampleIds(BaseModel):
    """One sample as token ids: its prompt, and what the model added."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: list[int]
    new: list[int]


def prompts(val: TokenArray, count: int, max_seq_len: int) -> list[list[int]]:
    """`count` prompts of equal length from the validation tokens, spread evenly."""
    length = max(1, min(PROMPT_TOKENS, max_seq_len // 4, len(val) // max(count, 1)))
    last = len(val) - length
    starts = [last * i // count for i in range(count)] if count > 1 else [0]
    rows: list[list[int]] = torch.stack(
        [to_long_tensor(val[s : s + length]) for s in starts]
    ).tolist()
    return rows


class _Scores:
    """Next-token scores at each place of `idx` once the ids before it are filled: from the
    key/value cache when the model has one (one token's work per place), else by running
    the whole buffer again."""

    def __init__(self, model: LanguageModel, idx: Tensor, width: int) -> None:
        self._model, self._idx = model, idx
        self._cache: KeyValues | None = None
        self._logits: Tensor | None = None
        if isinstance(model, CachedDecoding):
            positions = torch.arange(width, device=idx.device).expand(idx.shape[0], width)
            logits, self._cache = model.forward_cached(idx[:, :width], None, None, positions)
            self._logits = logits[:, -1, :]

    def at(self, place: int) -> Tensor:
        """(B, vocab) scores of the token at `place` (called for consecutive places)."""
        model, idx = self._model, self._idx
        if not isinstance(model, CachedDecoding) or self._logits is None:
            return model.logits(idx)[:, place - 1, :]
        if self._cache is not None and self._cache[0][0].shape[2] < place:
            positions = torch.full((idx.shape[0], 1), place - 1, device=idx.device)
            ids = idx[:, place - 1 : place]
            logits, self._cache = model.forward_cached(ids, self._cache, None, positions)
            self._logits = logits[:, -1, :]
        return self._logits


@torch.no_grad()
def generate_samples(
    model: LanguageModel,
    val: TokenArray,
    count: int,
    new_tokens: int,
    seed: int,
    max_seq_len: int,
    device: torch.device,
) -> list[SampleIds]:
    """`count` seeded samples of up to `new_tokens` ids each (fewer when the prompt and
    they would not fit the context); none when `count` is 0. The model is left in the mode
    it was in."""
    if count <= 0 or new_tokens <= 0:
        return []
    starts = prompts(val, count, max_seq_len)
    width = len(starts[0])
    total = min(max_seq_len, width + new_tokens)
    # One buffer of fixed shape, filled as tokens come: a causal model's scores at a place
    # depend on the tokens before it alone, and a compiled model sees one shape throughout.
    idx = torch.zeros((len(starts), total), dtype=torch.long, device=device)
    idx[:, :width] = torch.tensor(starts, dtype=torch.long, device=device)
    generator = torch.Generator(device=device).manual_seed(seed + SAMPLE_SEED_OFFSET)
    was_training = model.module.training
    model.module.eval()
    try:
        scores = _Scores(model, idx, width)
        for place in range(width, total):
            scaled = torch.nan_to_num(scores.at(place).float() / TEMPERATURE, nan=0.0)
            kth = torch.topk(scaled, min(TOP_K, scaled.size(-1))).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            picked = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)
            idx[:, place] = picked[:, 0]
    finally:
        model.module.train(was_training)
    rows: list[list[int]] = idx.cpu().tolist()
    return [SampleIds(prompt=row[:width], new=row[width:]) for row in rows]
