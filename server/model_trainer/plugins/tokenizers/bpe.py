"""Byte-level BPE (GPT-2 style) on Hugging Face `tokenizers`, trained with its native threads."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from model_trainer.plugin import (
    AppError,
    ErrorCode,
    HandleMethods,
    HfTokenizerHandle,
    JsonObject,
    NoOptions,
    TokenizerArtifact,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerTrainRequest,
    export_tokenizer_json,
    save_tokenizer_json,
)

END_OF_TEXT = "<|endoftext|>"
"""GPT-2's document separator, id 0; doubles as padding and end of sequence on export."""
BYTES = 256
"""The byte-level alphabet, every byte a token, whatever the corpus."""


def bpe_specials(config: TokenizerConfig) -> list[str]:
    """The special tokens, in id order from 0: end of text, then the config's own."""
    return [END_OF_TEXT, *(t for t in config.special_tokens if t != END_OF_TEXT)]


def byte_level_bpe(config: TokenizerConfig) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """The untrained tokenizer and its trainer (shared with the benchmark's direct call)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.applied_min_frequency(),
        show_progress=False,
        special_tokens=bpe_specials(config),
        initial_alphabet=byte_level.alphabet(),
    )
    return tokenizer, trainer


class BpeBackend(HandleMethods):
    """`TokenizerBackend` for byte-level BPE; writes `tokenizer.json`."""

    def name(self) -> str:
        return "bpe"

    def options_model(self) -> type[BaseModel]:
        return NoOptions

    def check(self, config: TokenizerConfig) -> TokenizerConfig:
        """The trainer keeps every byte and special token whatever `vocab_size` says."""
        least = BYTES + len(bpe_specials(config))
        if config.vocab_size < least:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"vocab_size: byte-level BPE needs at least {least} (the {BYTES} bytes and "
                f"{END_OF_TEXT}), got {config.vocab_size}",
            )
        return config.with_min_frequency(config.applied_min_frequency())

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        # The Rust trainer reads this to size its thread pool.
        os.environ["RAYON_NUM_THREADS"] = str(request.threads)
        tokenizer, trainer = byte_level_bpe(config)
        tokenizer.train([str(request.train_file)], trainer)
        return save_tokenizer_json(tokenizer, request.out_dir)

    def load(self, artifact_dir: Path) -> TokenizerHandle:
        return HfTokenizerHandle.from_dir(artifact_dir, unk_token=None)

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        specials = {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "pad_token": END_OF_TEXT}
        return export_tokenizer_json(artifact_dir, out_dir, max_len, specials)
