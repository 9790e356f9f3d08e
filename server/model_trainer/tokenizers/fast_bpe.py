"""Exact, faster encoding for byte-level BPE: split the text once, encode each word once.

A byte-level BPE tokenizer cuts text into pre-tokens with GPT-2's pattern and encodes every
pre-token on its own, so the ids of a text are the ids of its pre-tokens in order. This
encoder splits with an equivalent pattern on Python's `re` (faster than the library's split
plus its per-call overhead), asks the library only for words it has not seen, and emits the
rest from a bounded cache. The result equals `encode(text, add_special_tokens=False).ids`:

- The pattern only distinguishes four classes of characters (whitespace, letters, numbers,
  the rest) plus a few ASCII literals. Each character's class is taken from the library's
  own pre-tokenizer (probes), never from Python's Unicode tables, which may be newer; text
  outside ASCII is mapped to one ASCII stand-in per class before matching, so `re` sees only
  ASCII. A character the probes cannot place sends its text to the library.
- Added tokens are cut out first, as the library does; where their options would make that
  inexact (stripping, normalisation), text containing one goes to the library.
- Anything else the trick does not cover (a normalizer, prefix space, dropout, truncation)
  makes `from_tokenizer` decline, and callers use the library.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from itertools import accumulate, filterfalse
from typing import Literal

from pydantic import BaseModel, ConfigDict
from tokenizers import Tokenizer, pre_tokenizers

from model_trainer.tokenizers.split_pattern import CLASSES, find_words, gpt2_pattern

CACHE_WORDS = 1 << 17
"""Words kept per encoder; the cache is emptied when it would grow past this (memory stays flat)."""
MAX_CACHED_CHARS = 64
"""Longer words are encoded each time they occur rather than kept."""

_STAND_INS = dict(zip(CLASSES, "a0!\t", strict=True))
"""One ASCII character per class; none of them is a literal of the pattern."""
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SELF_TEST = (
    "It's 'twas they're we've I'm you'll he'd 'S ''s x's  \n\n  a\t\tb \r\n\r\n end   \n"
    "héllo wörld ½ Ⅷ ٣ 日本語 🙂 \u00a0\u2003x e\u0301 a-b_c 3.14 $12,000 ... !? <|x|>\x0b\x1c\x85 "
)


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str
    add_prefix_space: bool = False
    use_regex: bool = True
    dropout: float | None = None


class _AddedToken(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    content: str
    single_word: bool
    lstrip: bool
    rstrip: bool
    normalized: bool


class _Spec(BaseModel):
    """The parts of a `tokenizer.json` that decide whether the word cache is exact."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    added_tokens: list[_AddedToken] = []
    normalizer: object = None
    pre_tokenizer: _Part | None = None
    model: _Part
    post_processor: _Part | None = None
    truncation: object = None
    padding: object = None

    def supported(self) -> bool:
        pre = self.pre_tokenizer
        return (
            self.normalizer is None
            and self.truncation is None
            and self.padding is None
            and pre is not None
            and pre.type == "ByteLevel"
            and pre.use_regex
            and not pre.add_prefix_space
            and self.model.type == "BPE"
            and not self.model.dropout
            and (self.post_processor is None or self.post_processor.type == "ByteLevel")
        )


TypeCode = Literal["H", "I"]
"""Token ids as unsigned 16 or 32-bit integers (`array` type codes), in native byte order."""


class FastBpeEncoder:
    """Encodes text exactly as a byte-level BPE `Tokenizer` does, without special tokens."""

    def __init__(self, tokenizer: Tokenizer, added: list[_AddedToken], typecode: TypeCode) -> None:
        self._tokenizer = tokenizer
        self._typecode: TypeCode = typecode
        self._split_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        self._added = {t.content: self._pack([t.id]) for t in added if t.content}
        # Plain added tokens are cut out leftmost-longest, as the library does; options that
        # change the cut send any text holding one to the library instead.
        self._added_exact = all(
            not (t.lstrip or t.rstrip or t.single_word or t.normalized) for t in added
        )
        longest_first = sorted(self._added, key=len, reverse=True)
        self._added_pattern = re.compile("|".join(map(re.escape, longest_first)))
        self._stand_in: dict[int, str] = {}
        ascii_classes = {chr(c): self._probe(chr(c)) for c in range(128)}
        # Stand-ins must sit in their own class, and every ASCII character in one; if not,
        # a pattern that matches nothing makes the self-test (and so `from_tokenizer`) fail.
        stand_ins_placed = all(ascii_classes[c] == name for name, c in _STAND_INS.items())
        self._pattern = (
            gpt2_pattern(ascii_classes)
            if stand_ins_placed and "?" not in ascii_classes.values()
            else re.compile("(?!)")
        )
        self._cache: dict[str, bytes] = {}

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer, typecode: TypeCode) -> FastBpeEncoder | None:
        """An encoder for `tokenizer`, or None where the word cache would not be exact."""
        spec = _Spec.model_validate_json(tokenizer.to_str())
        if not spec.supported() or tokenizer.encode_special_tokens:
            return None
        encoder = cls(tokenizer, spec.added_tokens, typecode)
        return encoder if encoder.agrees(_SELF_TEST) else None

    def agrees(self, text: str) -> bool:
        """Whether this encoder splits `text` as the library's pre-tokenizer does."""
        theirs = [text[a:b] for _, (a, b) in self._split_tokenizer.pre_tokenize_str(text)]
        return self._split(text) == theirs

    def cached_words(self) -> int:
        """How many words the cache holds now."""
        return len(self._cache)

    def encode(self, text: str) -> list[int]:
        return array(self._typecode, self.encode_bytes(text)).tolist()

    def encode_bytes(self, text: str) -> bytes:
        """The ids of `text`, packed as the type code says."""
        if not any(token in text for token in self._added):
            return self._encode_plain(text)
        if not self._added_exact:
            return self._pack(self._library(text))
        parts: list[bytes] = []
        start = 0
        for match in self._added_pattern.finditer(text):
            parts += (self._encode_plain(text[start : match.start()]), self._added[match.group()])
            start = match.end()
        parts.append(self._encode_plain(text[start:]))
        return b"".join(parts)

    def _encode_plain(self, text: str) -> bytes:
        words = self._split(text)
        if words is None:
            return self._pack(self._library(text))
        cache = self._cache
        try:
            return b"".join(map(cache.__getitem__, words))
        except KeyError:  # some words are new
            pass
        new = set(filterfalse(cache.__contains__, words))
        if len(cache) + len(new) > CACHE_WORDS:
            cache.clear()
            new = set(words)
        self._learn(list(new))
        packed = b"".join(map(cache.__getitem__, words))
        for word in new:
            if len(word) > MAX_CACHED_CHARS:
                del cache[word]
        return packed

    def _learn(self, words: list[str]) -> None:
        """Encode `words` in one library call (one pre-split sequence) into the cache."""
        encoding = self._tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
        pieces: list[list[int]] = [[] for _ in words]
        for token, word in zip(encoding.ids, encoding.word_ids, strict=True):
            if word is None:
                raise RuntimeError("the tokenizer added a token to a pre-split word")
            pieces[word].append(token)
        self._cache.update(zip(words, map(self._pack, pieces), strict=True))

    def _pack(self, ids: list[int]) -> bytes:
        return array(self._typecode, ids).tobytes()

    def _library(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def _split(self, text: str) -> list[str] | None:
        """The pre-tokens of `text`, or None when a character's class is unknown."""
        if text.isascii():
            return find_words(self._pattern, text)
        runs = [run.span() for run in _NON_ASCII.finditer(text)]
        table = self._stand_in
        for char in set("".join(text[a:b] for a, b in runs)):
            if ord(char) not in table:
                table[ord(char)] = _STAND_INS.get(self._probe(char), "")
            if not table[ord(char)]:
                return None
        # Stand-ins keep every length: the words' ends found in the stand-in text are ends in
        # `text` too, and only words that overlap a run outside ASCII need cutting again.
        words = find_words(self._pattern, _NON_ASCII.sub(self._shape_run, text))
        ends = list(accumulate(map(len, words)))
        for a, b in runs:
            for k in range(bisect_right(ends, a), bisect_right(ends, b - 1) + 1):
                words[k] = text[ends[k] - len(words[k]) : ends[k]]
        return words

    def _shape_run(self, run: re.Match[str]) -> str:
        return run.group().translate(self._stand_in)

    def _probe(self, char: str) -> str:
        """The class of `char` in the library's pattern: the stand-in it joins, else '?'."""
        joins = [
            name
            for name, stand_in in _STAND_INS.items()
            if len(self._split_tokenizer.pre_tokenize_str(stand_in + char)) == 1
        ]
        return joins[0] if len(joins) == 1 else "?"
