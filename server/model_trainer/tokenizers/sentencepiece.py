"""SentencePiece (unigram or BPE), trained in-process by the `sentencepiece` package."""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from model_trainer.core.contracts.tokenizer import (
    TokenizerArtifact,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerInfo,
    TokenizerMethod,
    TokenizerTrainRequest,
)
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import move_into_place

MODEL_FILE = "tokenizer.model"
VOCAB_FILE = "tokenizer.vocab"
BYTE_FALLBACK_MIN_VOCAB = 512
"""Smallest vocab_size for which byte fallback is tried (256 byte pieces plus characters)."""

_log = Log("tokenizer")


class SentencePieceHandle:
    """`TokenizerHandle` over `SentencePieceProcessor`."""

    def __init__(self, processor: spm.SentencePieceProcessor) -> None:
        self.processor = processor

    def info(self) -> TokenizerInfo:
        size = self.processor.get_piece_size()
        specials = [
            self.processor.id_to_piece(i) for i in range(size) if self.processor.is_control(i)
        ]
        return TokenizerInfo(
            vocab_size=size, unk_id=self.processor.unk_id(), special_tokens=specials
        )

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.processor.encode(texts)

    def decode(self, ids: list[int]) -> str:
        return self.processor.decode(ids)

    def id_to_token(self, token_id: int) -> str:
        return self.processor.id_to_piece(token_id)


def _train(
    config: TokenizerConfig, request: TokenizerTrainRequest, prefix: Path, byte_fallback: bool
) -> None:
    # Identity normalisation and kept whitespace make decode(encode(x)) give back x, which
    # code corpora need; vocab_size is a ceiling, not a demand, on small corpora.
    spm.SentencePieceTrainer.train(
        input=str(request.train_file),
        model_prefix=str(prefix),
        vocab_size=config.vocab_size,
        model_type=config.model_type or "unigram",
        num_threads=request.threads,
        hard_vocab_limit=False,
        byte_fallback=byte_fallback,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        minloglevel=2,
    )


class SentencePieceBackend:
    """`TokenizerBackend` for SentencePiece; writes `tokenizer.model` and `tokenizer.vocab`."""

    def name(self) -> str:
        return "sentencepiece"

    def supported_methods(self) -> frozenset[TokenizerMethod]:
        return frozenset({TokenizerMethod.SENTENCEPIECE})

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        prefix = request.out_dir / ".spm-tmp"
        # Byte fallback spells unseen characters as bytes instead of <unk>, so any text
        # round-trips; it needs room for 256 byte pieces, so small vocabularies go without.
        attempts = [True, False] if config.vocab_size >= BYTE_FALLBACK_MIN_VOCAB else [False]
        for byte_fallback in attempts:
            spm.set_random_generator_seed(request.seed)
            try:
                _train(config, request, prefix, byte_fallback)
                break
            except RuntimeError as exc:
                if byte_fallback:
                    _log.warning("sentencepiece_byte_fallback_dropped", reason=str(exc))
                    continue
                raise AppError(ErrorCode.TOKENIZER_TRAIN_FAILED, f"sentencepiece: {exc}") from exc
        move_into_place(prefix.with_suffix(".model"), request.out_dir / MODEL_FILE)
        move_into_place(prefix.with_suffix(".vocab"), request.out_dir / VOCAB_FILE)
        size = spm.SentencePieceProcessor(
            model_file=str(request.out_dir / MODEL_FILE)
        ).get_piece_size()
        return TokenizerArtifact(
            main_file=MODEL_FILE, files=[MODEL_FILE, VOCAB_FILE], vocab_size=size
        )

    def load(self, artifact_dir: Path) -> TokenizerHandle:
        path = artifact_dir / MODEL_FILE
        if not path.is_file():
            raise AppError(ErrorCode.TOKENIZER_NOT_FOUND, f"{MODEL_FILE} is missing")
        return SentencePieceHandle(spm.SentencePieceProcessor(model_file=str(path)))

    def inspect(self, handle: TokenizerHandle) -> TokenizerInfo:
        return handle.info()

    def encode(self, handle: TokenizerHandle, text: str) -> list[int]:
        return handle.encode_batch([text])[0]

    def decode(self, handle: TokenizerHandle, ids: list[int]) -> str:
        return handle.decode(ids)
