"""What `transformers` itself makes of an export: the reference the contract suite compares to.

`transformers`' auto classes hand back tokenizers whose `encode` and models whose outputs are
typed `Any`: each is read as an `object` and checked before it is handed on (ids and tensors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from pydantic import TypeAdapter
from torch import Tensor
from transformers import AutoModelForCausalLM, AutoTokenizer

_IDS: TypeAdapter[list[int]] = TypeAdapter(list[int])
_MODELS: type[AutoModelForCausalLM] = AutoModelForCausalLM
"""The auto class, named once: only its constructor, never called here, takes `Any`."""


@runtime_checkable
class _Output(Protocol):
    """A model's output, as far as it is read here."""

    @property
    def logits(self) -> object: ...


def hf_encode(folder: Path, text: str) -> list[int]:
    """`text` encoded by the tokenizer `AutoTokenizer` loads from `folder`, no specials added."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    ids: object = tokenizer.encode(text, add_special_tokens=False)
    return _IDS.validate_python(ids)


def hf_logits(folder: Path, ids: Tensor) -> Tensor:
    """(B, T, vocab) logits of the model `AutoModelForCausalLM` loads from `folder`."""
    model = _MODELS.from_pretrained(str(folder), local_files_only=True)
    model.train(False)  # what `eval()` does; transformers leaves `eval` unannotated
    with torch.no_grad():
        output: object = model(input_ids=ids)
    logits = output.logits if isinstance(output, _Output) else None
    if not torch.is_tensor(logits):
        raise TypeError(f"{type(output).__name__} has no logits tensor")
    return logits
