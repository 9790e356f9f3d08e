"""What `transformers` itself makes of an export: the reference the contract suite compares to.

`transformers`' auto classes and model outputs are untyped, so this module is named in
pyproject's mypy overrides; it hands on only ids and tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from transformers import AutoModelForCausalLM, AutoTokenizer


def hf_encode(folder: Path, text: str) -> list[int]:
    """`text` encoded by the tokenizer `AutoTokenizer` loads from `folder`, no specials added."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return [int(i) for i in tokenizer.encode(text, add_special_tokens=False)]


def hf_logits(folder: Path, ids: Tensor) -> Tensor:
    """(B, T, vocab) logits of the model `AutoModelForCausalLM` loads from `folder`."""
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
    model.eval()
    with torch.no_grad():
        logits: Tensor = model(input_ids=ids).logits
    return logits
