"""Tokens per second of Hugging Face's `Trainer` on the same model and data as our loop.

`transformers.Trainer` and its callbacks pass untyped values, so this module is named in
pyproject as exempt from `disallow_any_expr`; it hands back one float.
"""

from __future__ import annotations

import tempfile
import time

import torch
from torch.utils.data import Dataset
from transformers import (
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)


class RandomWindows(Dataset[dict[str, torch.Tensor]]):
    """Random windows of `block` tokens, as our sampler draws them."""

    def __init__(self, data: torch.Tensor, block: int, length: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self._starts = torch.randint(len(data) - block - 1, (length,), generator=generator)
        self._data = data
        self._block = block

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self._starts[index])
        window = self._data[start : start + self._block]
        return {"input_ids": window, "labels": window}


class _StepClock(TrainerCallback):
    """Times optimizer steps after a warm-up."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.started = 0.0
        self.ended = 0.0

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: object
    ) -> None:
        if state.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: object
    ) -> None:
        self.ended = time.perf_counter()


def hf_trainer_tokens_per_s(
    model: GPT2LMHeadModel, data: torch.Tensor, batch: int, block: int, steps: int, warmup: int
) -> float:
    """Train `warmup + steps` steps with `Trainer` (fp32, CPU, no logging or saving)."""
    clock = _StepClock(warmup)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=warmup + steps,
            learning_rate=1e-3,
            weight_decay=0.1,
            adam_beta2=0.99,
            max_grad_norm=1.0,
            lr_scheduler_type="cosine",
            warmup_steps=2,
            logging_strategy="no",
            save_strategy="no",
            report_to=[],
            use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        dataset = RandomWindows(data, block, batch * (warmup + steps), seed=7)
        Trainer(model=model, args=args, train_dataset=dataset, callbacks=[clock]).train()
    return steps * batch * block / (clock.ended - clock.started)
