"""Byte-level BPE (GPT-2 style) on Hugging Face `tokenizers`, trained with its native threads."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from model_trainer.plugin import (
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
"""GPT-2's document separator; doubles as padding and end of sequence on export."""


def byte_level_bpe(config: TokenizerConfig) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """The untrained tokenizer and its trainer (shared with the benchmark's direct call)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    specials: list[str] = [END_OF_TEXT, *config.special_tokens]
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        show_progress=False,
        special_tokens=specials,
        initial_alphabet=byte_level.alphabet(),
    )
    return tokenizer, trainer


class BpeBackend(HandleMethods):
    """`TokenizerBackend` for byte-level BPE; writes `tokenizer.json`."""

    def name(self) -> str:
        return "bpe"

    def options_model(self) -> type[BaseModel]:
        return NoOptions

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
