"""A loaded `tokenizer.json` (Hugging Face `tokenizers`), shared by the bpe and char backends."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter
from tokenizers import Tokenizer

from model_trainer.core.contracts.tokenizer import TokenizerInfo
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject, JsonValue

TOKENIZER_JSON = "tokenizer.json"

_JSON: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _unmarked(part: JsonValue) -> JsonValue:
    """A normaliser or pre-tokenizer (as in `tokenizer.json`) that leaves the start of a text
    as it is: no `Prepend`, Metaspace's `prepend_scheme` "never", no prefix space."""
    if isinstance(part, list):
        return [
            _unmarked(p) for p in part if not (isinstance(p, dict) and p.get("type") == "Prepend")
        ]
    if not isinstance(part, dict):
        return part
    if part.get("type") == "Prepend":
        return None
    out: JsonObject = {key: _unmarked(value) for key, value in part.items()}
    if out.get("prepend_scheme") not in (None, "never"):
        out["prepend_scheme"] = "never"
    if out.get("add_prefix_space") is True:
        out["add_prefix_space"] = False
    return out


class _Front(BaseModel):
    """The parts of a `tokenizer.json` that may mark the start of a text."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    normalizer: JsonValue = None
    pre_tokenizer: JsonValue = None


def continuation_tokenizer(tokenizer: Tokenizer) -> Tokenizer | None:
    """`tokenizer` without what marks the start of a text (a prepended `▁` or space), for
    text that continues a longer one; None if it marks nothing."""
    text = tokenizer.to_str()
    front = _Front.model_validate_json(text)
    normalizer, pre_tokenizer = _unmarked(front.normalizer), _unmarked(front.pre_tokenizer)
    if (normalizer, pre_tokenizer) == (front.normalizer, front.pre_tokenizer):
        return None  # the whole file is parsed only for the few tokenizers that mark
    spec = _JSON.validate_json(text) | {"normalizer": normalizer, "pre_tokenizer": pre_tokenizer}
    return Tokenizer.from_str(_JSON.dump_json(spec).decode())


class HfTokenizerHandle:
    """`TokenizerHandle` over `tokenizers.Tokenizer`; batch encoding uses its native threads."""

    def __init__(self, tokenizer: Tokenizer, unk_token: str | None, specials: list[str]) -> None:
        self.tokenizer = tokenizer
        self._unk_id = tokenizer.token_to_id(unk_token) if unk_token else None
        self._specials = specials
        self._continuing: tuple[Tokenizer | None, int] | None = None
        """The tokenizer for continuations and the tokens of a line end, once asked for."""

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

    def encode_continuations(self, texts: list[str]) -> list[list[int]]:
        """`encode_batch` where the tokenizer marks no start of text. Where it does, each text
        goes after a line end to a copy that marks nothing, and the tokens of that line end
        are dropped: as many as it makes alone (one unknown token it may share with unknown
        characters after it, as in the whole text, or its byte)."""
        if self._continuing is None:
            unmarked = continuation_tokenizer(self.tokenizer)
            line_end = unmarked.encode("\n", add_special_tokens=False).ids if unmarked else []
            self._continuing = (unmarked, len(line_end))
        unmarked, skip = self._continuing
        if unmarked is None:
            return self.encode_batch(texts)
        lines = ["\n" + text for text in texts]
        encodings = unmarked.encode_batch_fast(lines, add_special_tokens=False)
        return [e.ids[skip:] for e in encodings]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        return self.tokenizer.id_to_token(token_id) or ""
