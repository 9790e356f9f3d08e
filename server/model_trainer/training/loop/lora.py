"""LoRA through `peft`: low-rank adapters beside a model's frozen weights, saved alone or
merged back in.

`peft` injects its layers into the model in place, so the family's own `LanguageModel` goes
on computing (now through the adapters), checkpoints see the adapters among its parameters,
and after `merge` the same model holds plain layers again and exports as the family's.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils.error import NoMatchingPeftModuleError
from torch import nn

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.atomic import make_readable
from model_trainer.training.loop.torch_state import pretrained_model


class LoraSettings:
    """What the adapters are: rank, scale, dropout and the modules they adapt."""

    def __init__(self, rank: int, alpha: int, dropout: float, targets: list[str]) -> None:
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets


def _targeted(name: str, targets: list[str]) -> bool:
    """Whether `peft` adapts the module called `name` (a list of targets matches a module
    whose name is one of them or ends in `.` and one)."""
    return any(name == t or name.endswith(f".{t}") for t in targets)


def _owners(model: nn.Module) -> dict[int, list[str]]:
    """Every parameter (by identity) and the modules that hold it directly: a tied weight
    has several."""
    owners: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(parameter), []).append(name.rpartition(".")[0])
    return owners


def refuse_shared_targets(model: nn.Module, targets: list[str]) -> None:
    """Refuse targets whose weights another module shares (tied input and output
    embeddings: GPT-2's `wte` and `lm_head`, Llama's `embed_tokens` and `lm_head` when
    tied: one `Parameter` held by both, also on the meta device). Merging the adapters
    would write the update into the shared tensor, so the export would not be the model
    that trained."""
    shared = {n for names in _owners(model).values() if len(names) > 1 for n in names}
    hit = sorted(n for n in shared if n and _targeted(n, targets))
    if hit:
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"finetune.target_modules: {', '.join(targets)}: {', '.join(hit)}: their weights are "
            "shared with another module (tied embeddings), and merging adapters into them "
            "would change that module too; leave them out",
        )


class LoraAdapter:
    """The adapters attached to one model."""

    def __init__(self, peft_model: PeftModel) -> None:
        self._peft = peft_model

    @classmethod
    def attach(cls, module: nn.Module, settings: LoraSettings) -> LoraAdapter:
        """Adapters on `settings.targets` of `module`, which then trains only them; a target
        the model has no module of, or one whose weights another module shares, is refused
        naming `finetune.target_modules`."""
        model = pretrained_model(module)
        if model is None:
            raise AppError(ErrorCode.CONFIG_INVALID, "finetune: LoRA needs a transformers model")
        refuse_shared_targets(model, settings.targets)
        config = LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=list(settings.targets),
            bias="none",
        )
        try:
            with warnings.catch_warnings():
                # GPT-2's Conv1D layers store weights transposed; peft notices and says so.
                warnings.simplefilter("ignore", UserWarning)
                peft_model = get_peft_model(model, config)
        except (NoMatchingPeftModuleError, ValueError) as exc:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"finetune.target_modules: {', '.join(settings.targets)}: {exc}",
            ) from None
        if not isinstance(peft_model, PeftModel):
            raise AppError(ErrorCode.INTERNAL_ERROR, "peft returned no PeftModel")
        return cls(peft_model)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self._peft.parameters() if p.requires_grad)

    def save(self, out_dir: Path, base: str) -> list[str]:
        """The adapters alone, as `PeftModel.from_pretrained(base_model, out_dir)` loads
        them; `base` names the weights they were trained on. Returns the file names."""
        self._peft.peft_config["default"].base_model_name_or_path = base
        self._peft.save_pretrained(str(out_dir), safe_serialization=True)
        make_readable(out_dir)
        return sorted(p.name for p in out_dir.iterdir() if p.is_file())

    def merge(self) -> None:
        """Fold the adapters into the weights, leaving the model with plain layers (what
        its family exports), in place."""
        with torch.no_grad():
            self._peft.merge_and_unload()


def lora_parameter_count(module: nn.Module, settings: LoraSettings) -> int:
    """Parameters the adapters of `settings` add to `module` (built on the meta device:
    nothing is allocated), or the refusal of targets it lacks."""
    return LoraAdapter.attach(module, settings).trainable_parameters()
