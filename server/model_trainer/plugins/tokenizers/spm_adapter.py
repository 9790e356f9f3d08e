"""The `sentencepiece` calls we make, with what they return checked before it is typed.

The package ships annotations, but types `encode`, `decode` and the trainer's keywords as
`Any`; this module is named in pyproject as exempt from `disallow_any_expr` and is the only
place that calls them. Checks are on shape (a list of lists, the first id an int), not on
every id: the batch encoder feeds dataset preparation, where a per-id check would cost more
than the encoding.
"""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from model_trainer.plugin import AppError, ErrorCode


def _ids(value: object, what: str) -> list[int]:
    if not isinstance(value, list) or (value and not isinstance(value[0], int)):
        raise AppError(ErrorCode.INTERNAL_ERROR, f"sentencepiece {what}: not a list of ids")
    return value


NO_DUMMY_PREFIX = bytes([0x1A, 0x02, 0x18, 0x00])
"""A serialized `ModelProto` holding only `normalizer_spec { add_dummy_prefix: false }`.
Appended to a model's bytes it is merged into the model's own normaliser spec (protobuf
merges a message field that occurs twice), so the model no longer puts a `▁` before
the text: how a piece of text in the middle of a longer one is encoded."""


class SpmProcessor:
    """A loaded SentencePiece model: batch encode, decode, and its pieces; with
    `dummy_prefix=False` it encodes text as the middle of a longer text (no leading `▁`)."""

    def __init__(self, model_file: Path, dummy_prefix: bool = True) -> None:
        proto = model_file.read_bytes() + (b"" if dummy_prefix else NO_DUMMY_PREFIX)
        self._processor = spm.SentencePieceProcessor(model_proto=proto)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encoded = self._processor.encode(texts, out_type=int)
        if not isinstance(encoded, list):
            raise AppError(ErrorCode.INTERNAL_ERROR, "sentencepiece encode: not a list")
        return [_ids(row, "encode") for row in encoded]

    def decode(self, ids: list[int]) -> str:
        text = self._processor.decode(ids)
        if not isinstance(text, str):
            raise AppError(ErrorCode.INTERNAL_ERROR, "sentencepiece decode: not a string")
        return text

    def piece_size(self) -> int:
        return self._processor.get_piece_size()

    def id_to_piece(self, token_id: int) -> str:
        return self._processor.id_to_piece(token_id)

    def is_control(self, token_id: int) -> bool:
        return self._processor.is_control(token_id)

    def unk_id(self) -> int:
        return self._processor.unk_id()


def train(
    *,
    seed: int,
    input: str,
    model_prefix: str,
    vocab_size: int,
    model_type: str,
    num_threads: int,
    byte_fallback: bool,
) -> None:
    """`SentencePieceTrainer.train` with the generator seeded first (its only seed); the
    text is kept verbatim (identity normalisation, whitespace kept), so decode(encode(x))
    gives back x, and `vocab_size` is a ceiling, not a demand, on small corpora."""
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        input=input,
        model_prefix=model_prefix,
        vocab_size=vocab_size,
        model_type=model_type,
        num_threads=num_threads,
        hard_vocab_limit=False,
        byte_fallback=byte_fallback,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
