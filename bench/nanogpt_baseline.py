"""nanoGPT's own `train.py` as a baseline, run from a checkout the user points at.

The checkout is copied to a scratch folder (nanoGPT writes its data and checkpoints beside its
code), given the same Shakespeare text, trained with its documented CPU command, and timed.
Its final weights are then loaded into our GPT-2 module, so both trainers' models are scored
by the same function over the same held-out text. nanoGPT's checkpoint and vocabulary are
pickles (`torch.load` and `pickle.load` return `Any`): each is read as an `object` and
validated into the small models below before use.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import GPT2LMHeadModel

from model_trainer.core.contracts.model import Architecture
from model_trainer.plugins.gpt2 import Gpt2Model, gpt2_config
from model_trainer.training.loop.loop import mean_loss

FINAL_EVAL = re.compile(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)")
CONV1D_WEIGHTS = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)
"""nanoGPT keeps these as nn.Linear (out, in); Hugging Face's GPT-2 as Conv1D (in, out)."""


class _Shape(BaseModel):
    """The `model_args` of a nanoGPT checkpoint that our GPT-2 needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    vocab_size: int


class _Checkpoint(BaseModel):
    """nanoGPT's `ckpt.pt`, as far as it is read here."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)

    model_args: _Shape
    model: dict[str, torch.Tensor]


class _Meta(BaseModel):
    """nanoGPT's `meta.pkl`: its character vocabulary."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stoi: dict[str, int]


class NanoGptRun(BaseModel):
    """What one run of nanoGPT's train.py gave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_s: float
    printed_val_loss: float
    checkpoint: Path
    meta: Path
    val_bin: Path


def run_nanogpt(
    checkout: Path, work: Path, corpus: Path, steps: int, threads: int, nice: int = 0
) -> NanoGptRun:
    """nanoGPT's README command for a CPU, with the final weights kept; wall time of train.py
    alone (data preparation excluded). `nice`: the CPU priority it trains at, lowered like
    our worker's (`worker.nice`) so that on a shared machine both yield alike to the rest."""
    home = work / "nanogpt"
    skip: Callable[[str, list[str]], set[str]] = shutil.ignore_patterns(".git", "out*", "*.bin")
    shutil.copytree(checkout, home, ignore=skip)
    data = home / "data" / "shakespeare_char"
    shutil.copy(corpus, data / "input.txt")  # prepare.py downloads only when this is missing
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(
        [sys.executable, "prepare.py"], cwd=data, env=env, check=True, capture_output=True
    )
    out = work / "nanogpt-out"
    command = [
        "nice", "-n", str(nice),
        sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu",
        "--compile=False", "--eval_iters=20", "--log_interval=1", "--block_size=64",
        "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128",
        f"--max_iters={steps}", f"--lr_decay_iters={steps}", "--dropout=0.0",
        "--always_save_checkpoint=True", f"--out_dir={out}",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=home, env=env, check=True, capture_output=True, text=True)
    wall = time.monotonic() - started
    evals = [m.groups("") for m in FINAL_EVAL.finditer(done.stdout)]
    if not evals or int(evals[-1][0]) != steps:
        raise SystemExit(f"nanoGPT did not report step {steps}:\n{done.stdout[-2000:]}")
    return NanoGptRun(
        wall_s=wall,
        printed_val_loss=float(evals[-1][2]),
        checkpoint=out / "ckpt.pt",
        meta=data / "meta.pkl",
        val_bin=data / "val.bin",
    )


def nanogpt_as_gpt2(checkpoint: Path) -> Gpt2Model:
    """nanoGPT's weights in our GPT-2 module (its recipe trains no biases: they are set to 0)."""
    loaded: object = torch.load(checkpoint, map_location="cpu", weights_only=False)
    saved = _Checkpoint.model_validate(loaded)
    shape = saved.model_args
    arch = Architecture(
        family="gpt2",
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        n_embd=shape.n_embd,
        max_seq_len=shape.block_size,
        vocab_size=shape.vocab_size,
        dropout=0.0,
    )
    config = gpt2_config(arch, 0, 0)
    config.activation_function = "gelu"  # nanoGPT's nn.GELU(); ours is the same today
    host = GPT2LMHeadModel(config)
    source = {k.removeprefix("_orig_mod."): v for k, v in saved.model.items()}
    with torch.no_grad():
        for name, param in host.named_parameters():
            if name in source:
                value = source.pop(name)
                param.copy_(value.t() if name.endswith(CONV1D_WEIGHTS) else value)
            elif name.endswith(".bias"):
                param.zero_()  # nanoGPT's recipe trains without biases
            else:
                raise SystemExit(f"nanoGPT checkpoint lacks {name}")
    source.pop("lm_head.weight", None)  # tied to the token embedding, as in ours
    leftover = [k for k in source if not k.endswith(".attn.bias")]  # its causal-mask buffer
    if leftover:
        raise SystemExit(f"nanoGPT weights not understood: {leftover}")
    return Gpt2Model(host)


def encode_for_nanogpt(meta: Path, text: str) -> torch.Tensor:
    """Text as nanoGPT's character ids (its vocabulary covers the whole corpus)."""
    with meta.open("rb") as handle:  # written moments ago by prepare.py in our scratch folder
        meta_pickle: object = pickle.load(handle)  # noqa: S301
    stoi = _Meta.model_validate(meta_pickle).stoi
    ids: list[int] = [stoi[c] for c in text]
    return torch.tensor(ids, dtype=torch.long)


def nanogpt_val_bin(path: Path) -> torch.Tensor:
    """nanoGPT's own validation split (uint16 ids)."""
    return torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint16).long()


def whole_split_loss(model: Gpt2Model, tokens: torch.Tensor, block: int) -> float:
    return mean_loss(model, tokens, block)[0]
