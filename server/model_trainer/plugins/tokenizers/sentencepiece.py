"""SentencePiece (unigram or BPE), trained in-process by the `sentencepiece` package."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from model_trainer.plugin import (
    TOKENIZER_JSON,
    AppError,
    ErrorCode,
    HandleMethods,
    JsonObject,
    Log,
    TokenizerArtifact,
    TokenizerConfig,
    TokenizerHandle,
    TokenizerInfo,
    TokenizerTrainRequest,
    move_into_place,
    write_tokenizer_config,
)
from model_trainer.plugins.tokenizers.spm_adapter import SpmProcessor
from model_trainer.plugins.tokenizers.spm_adapter import train as spm_train
from model_trainer.plugins.tokenizers.spm_convert import spm_to_tokenizer

MODEL_FILE = "tokenizer.model"
VOCAB_FILE = "tokenizer.vocab"
BYTE_FALLBACK_MIN_VOCAB = 512
"""Smallest vocab_size for which byte fallback is tried (256 byte pieces plus characters)."""
META_PIECES = ("<unk>", "<s>", "</s>")
"""Ids 0, 1 and 2 of every model: unknown, begin and end of text (what an export names)."""

_log = Log("tokenizer")


class SentencePieceOptions(BaseModel):
    """SentencePiece's own knob: the segmentation model."""

    model_config = ConfigDict(extra="forbid")

    model_type: Literal["unigram", "bpe"] = "unigram"


class SentencePieceHandle:
    """`TokenizerHandle` over a SentencePiece model (through the typed adapter)."""

    def __init__(self, processor: SpmProcessor, continuing: SpmProcessor) -> None:
        self.processor = processor
        self._continuing = continuing

    def info(self) -> TokenizerInfo:
        size = self.processor.piece_size()
        specials = [
            self.processor.id_to_piece(i) for i in range(size) if self.processor.is_control(i)
        ]
        return TokenizerInfo(
            vocab_size=size, unk_id=self.processor.unk_id(), special_tokens=specials
        )

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.processor.encode_batch(texts)

    def encode_continuations(self, texts: list[str]) -> list[list[int]]:
        """Each text after the line end it follows, with no leading `▁`, and that line
        end's token dropped: no piece holds a line end (training reads lines), so it is one
        token (its byte, or `<unk>` merged with the unknown characters around it, as in
        the whole text)."""
        encoded = self._continuing.encode_batch(["\n" + text for text in texts])
        return [ids[1:] for ids in encoded]

    def decode(self, ids: list[int]) -> str:
        return self.processor.decode(ids)

    def id_to_token(self, token_id: int) -> str:
        return self.processor.id_to_piece(token_id)


class SentencePieceBackend(HandleMethods):
    """`TokenizerBackend` for SentencePiece; writes `tokenizer.model` and `tokenizer.vocab`."""

    def name(self) -> str:
        return "sentencepiece"

    def options_model(self) -> type[BaseModel]:
        return SentencePieceOptions

    def check(self, config: TokenizerConfig) -> TokenizerConfig:
        """The trainer needs room for its three meta pieces and a piece per character of the
        corpus (only the first is known here), and has no minimum frequency."""
        least = len(META_PIECES) + 1
        if config.vocab_size < least:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"vocab_size: SentencePiece needs at least {least} ({', '.join(META_PIECES)} "
                f"and a piece per character of the corpus), got {config.vocab_size}",
            )
        return config.with_min_frequency(None)

    def train(self, config: TokenizerConfig, request: TokenizerTrainRequest) -> TokenizerArtifact:
        options = SentencePieceOptions.model_validate(config.options)
        prefix = request.out_dir / ".spm-tmp"
        # Byte fallback spells unseen characters as bytes instead of <unk>, so any text
        # round-trips; it needs room for 256 byte pieces, so small vocabularies go without.
        attempts = [True, False] if config.vocab_size >= BYTE_FALLBACK_MIN_VOCAB else [False]
        for byte_fallback in attempts:
            try:
                spm_train(
                    seed=request.seed,
                    input=str(request.train_file),
                    model_prefix=str(prefix),
                    vocab_size=config.vocab_size,
                    model_type=options.model_type,
                    num_threads=request.threads,
                    byte_fallback=byte_fallback,
                )
                break
            except RuntimeError as exc:
                if byte_fallback:
                    _log.warning("sentencepiece_byte_fallback_dropped", reason=str(exc))
                    continue
                raise AppError(ErrorCode.TOKENIZER_TRAIN_FAILED, f"sentencepiece: {exc}") from exc
        move_into_place(prefix.with_suffix(".model"), request.out_dir / MODEL_FILE)
        move_into_place(prefix.with_suffix(".vocab"), request.out_dir / VOCAB_FILE)
        size = SpmProcessor(request.out_dir / MODEL_FILE).piece_size()
        return TokenizerArtifact(
            main_file=MODEL_FILE, files=[MODEL_FILE, VOCAB_FILE], vocab_size=size
        )

    def load(self, artifact_dir: Path) -> TokenizerHandle:
        path = artifact_dir / MODEL_FILE
        if not path.is_file():
            raise AppError(ErrorCode.TOKENIZER_NOT_FOUND, f"{MODEL_FILE} is missing")
        return SentencePieceHandle(SpmProcessor(path), SpmProcessor(path, dummy_prefix=False))

    def export_hf(
        self, artifact_dir: Path, options: JsonObject, out_dir: Path, max_len: int
    ) -> list[str]:
        """A `tokenizer.json` rebuilt from the vocabulary (no sentencepiece needed to load)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        model_type = SentencePieceOptions.model_validate(options).model_type
        spm_to_tokenizer(artifact_dir / VOCAB_FILE, model_type).save(str(out_dir / TOKENIZER_JSON))
        unk, bos, eos = META_PIECES
        specials = {"unk_token": unk, "bos_token": bos, "eos_token": eos, "pad_token": eos}
        config = write_tokenizer_config(out_dir, max_len, specials)
        return [TOKENIZER_JSON, config]
