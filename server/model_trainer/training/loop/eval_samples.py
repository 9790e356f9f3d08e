"""A few short samples at each evaluation during training, to see what the model writes.

Prompts are the first tokens of the validation text at evenly spread places (its start
first), the same at every evaluation; each sample draws from a generator of its own, seeded
from the run's seed, so the samples neither touch torch's global generator (a resumed run
trains bit for bit as an uninterrupted one) nor change between two runs of one config.
All prompts go through the model together, one forward pass per new token; the prompt
and the new tokens stay within the model's context.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.model import LanguageModel
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
        for place in range(width, total):
            logits = model.logits(idx)[:, place - 1, :].float()
            scaled = torch.nan_to_num(logits / TEMPERATURE, nan=0.0)
            kth = torch.topk(scaled, min(TOP_K, scaled.size(-1))).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            picked = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)
            idx[:, place] = picked[:, 0]
    finally:
        model.module.train(was_training)
    rows: list[list[int]] = idx.cpu().tolist()
    return [SampleIds(prompt=row[:width], new=row[width:]) for row in rows]
