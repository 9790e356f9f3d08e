"""WordPiece (BERT style) on Hugging Face `tokenizers`: a `tokenizer.json` any HF stack loads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from model_trainer.plugin import (
    AppError,
    ErrorCode,
    HandleMethods,
    HfTokenizerHandle,
    JsonObject,
    TokenizerArtifact,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerTrainRequest,
    export_tokenizer_json,
    save_tokenizer_json,
)

SEP = "[SEP]"
"""End of text; id 0, because the model families name id 0 as bos/eos in their exports."""
UNK = "[UNK]"


class WordPieceOptions(BaseModel):
    """WordPiece's own knobs: case folding and the marker of a word's continuation pieces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lowercase: bool = False
    continuing_subword_prefix: Annotated[
        str, Field(min_length=1, max_length=8, pattern=r"^\S+$")
    ] = "##"


def wordpiece_specials(config: TokenizerConfig) -> list[str]:
    """The special tokens, in id order from 0: end of text, unknown, then the config's own."""
    return [SEP, UNK] + [t for t in config.special_tokens if t not in (SEP, UNK)]


def wordpiece_tokenizer(
    config: TokenizerConfig, options: WordPieceOptions
) -> tuple[Tokenizer, trainers.WordPieceTrainer]:
    """The untrained tokenizer and its trainer."""
    prefix = options.continuing_subword_prefix
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix=prefix))
    # BERT's normaliser: control characters dropped, whitespace made spaces; accents go
    # with case, as in BERT's uncased models.
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=options.lowercase,
        lowercase=options.lowercase,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix=prefix, cleanup=True)
    trainer = trainers.WordPieceTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.applied_min_frequency(),
        show_progress=False,
        special_tokens=wordpiece_specials(config),
        continuing_subword_prefix=prefix,
    )
    return tokenizer, trainer


class WordPieceBackend(HandleMethods):
    """`TokenizerBackend` for WordPiece; writes `tokenizer.json`."""

    def name(self) -> str:
        return "wordpiece"

    def options_model(self) -> type[BaseModel]:
        return WordPieceOptions

    def check(self, config: TokenizerConfig) -> TokenizerConfig:
        """The trainer keeps the special tokens and every character of the corpus whatever
        `vocab_size` says; only the specials are known here. Merges seen fewer than
        `min_frequency` times are not learned."""
        least = len(wordpiece_specials(config)) + 1
        if config.vocab_size < least:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"vocab_size: WordPiece needs at least {least} (its special tokens and a "
                f"character), got {config.vocab_size}",
            )
        return config.with_min_frequency(config.applied_min_frequency())

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        options = WordPieceOptions.model_validate(config.options)
        # The Rust trainer reads this to size its thread pool.
        os.environ["RAYON_NUM_THREADS"] = str(request.threads)
        tokenizer, trainer = wordpiece_tokenizer(config, options)
        tokenizer.train([str(request.train_file)], trainer)
        return save_tokenizer_json(tokenizer, request.out_dir)

    def load(self, artifact_dir: Path) -> TokenizerHandle:
        return HfTokenizerHandle.from_dir(artifact_dir, unk_token=UNK)

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        """`tokenizer.json` as trained (it holds the options) and a config naming the specials."""
        specials = {"unk_token": UNK, "bos_token": SEP, "eos_token": SEP, "pad_token": SEP}
        return export_tokenizer_json(artifact_dir, out_dir, max_len, specials)
