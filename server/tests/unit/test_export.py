"""SentencePiece models rebuilt as tokenizer.json segment exactly like the original."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from model_trainer.core.contracts.tokenizer import (
    TokenizerConfig,
    TokenizerMethod,
    TokenizerTrainRequest,
)
from model_trainer.plugins.tokenizers.sentencepiece import SentencePieceBackend
from model_trainer.plugins.tokenizers.spm_adapter import SpmProcessor
from model_trainer.plugins.tokenizers.spm_convert import spm_to_tokenizer

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_spm_conversion_matches_sentencepiece(
    tmp_path: Path, model_type: Literal["unigram", "bpe"]
) -> None:
    lines = [" ".join(WORDS[(i * j) % len(WORDS)] for j in range(1, 9)) for i in range(600)]
    text = tmp_path / "train.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "tok"
    out.mkdir()
    SentencePieceBackend().train(
        TokenizerConfig(
            method=TokenizerMethod.SENTENCEPIECE,
            vocab_size=120,
            options={"model_type": model_type},
        ),
        TokenizerTrainRequest(train_file=text, out_dir=out, threads=2, seed=1),
    )
    processor = SpmProcessor(out / "tokenizer.model")
    converted = spm_to_tokenizer(out / "tokenizer.vocab", model_type)
    for line in [*lines[:50], "gamma  delta", "alphabet soup"]:
        ids = converted.encode(line, add_special_tokens=False).ids
        assert ids == processor.encode_batch([line])[0], line
        assert converted.decode(ids) == processor.decode(ids)
