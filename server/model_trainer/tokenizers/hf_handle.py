"""A loaded `tokenizer.json` (Hugging Face `tokenizers`), shared by the bpe and char backends."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import TokenizerInfo
from model_trainer.core.errors import AppError, ErrorCode

TOKENIZER_JSON = "tokenizer.json"


class HfTokenizerHandle:
    """`TokenizerHandle` over `tokenizers.Tokenizer`; batch encoding uses its native threads."""

    def __init__(self, tokenizer: Tokenizer, unk_token: str | None, specials: list[str]) -> None:
        self.tokenizer = tokenizer
        self._unk_id = tokenizer.token_to_id(unk_token) if unk_token else None
        self._specials = specials

    @classmethod
    def from_dir(cls, artifact_dir: Path, unk_token: str | None) -> HfTokenizerHandle:
        path = artifact_dir / TOKENIZER_JSON
        if not path.is_file():
            raise AppError(ErrorCode.TOKENIZER_NOT_FOUND, f"{TOKENIZER_JSON} is missing")
        tokenizer = Tokenizer.from_file(str(path))
        specials = [t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special]
        return cls(tokenizer, unk_token, specials)

    def info(self) -> TokenizerInfo:
        return TokenizerInfo(
            vocab_size=self.tokenizer.get_vocab_size(with_added_tokens=True),
            unk_id=self._unk_id,
            special_tokens=self._specials,
        )

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encodings]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        return self.tokenizer.id_to_token(token_id) or ""
