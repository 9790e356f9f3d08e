"""A generation that says, after each slice, what text it has added: for streaming.

The text of a piece is never decoded from its own ids: a character of several bytes, or a
word the tokenizer's decoder joins, can span tokens, and decoding a token alone would show
a broken character. The whole generated id list is decoded after each slice instead and the
piece is what the text gained; a trailing U+FFFD (a character whose bytes are not all made
yet) is held back until the next slice completes it, so joining the pieces gives exactly
the text a non-streamed generation returns.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from model_trainer.infra.gathering import Submit
from model_trainer.training.inference.generation import Generation

REPLACEMENT = "\ufffd"
"""What a decoder shows for bytes that do not make a whole character (yet)."""


@dataclass(frozen=True)
class Piece:
    """Text added since the last piece, and the ids made since then."""

    text: str
    ids: list[int]


class Pieces:
    """Splits a growing decoded text into new pieces (see the module's docstring)."""

    def __init__(self) -> None:
        self._sent = ""
        self._ids_sent = 0

    def take(self, text: str, ids: list[int], final: bool) -> Piece | None:
        """The piece `text` adds to what was sent (None when nothing is new yet); `final`
        sends everything left, a trailing U+FFFD included."""
        shown = text if final else text.rstrip(REPLACEMENT)
        if not shown.startswith(self._sent):
            # The decoder rewrote text already sent (rare: a decoder that cleans up
            # spaces): wait until the text grows past it again, or the end says the rest.
            if not final:
                return None
            shown = text[_common_prefix(self._sent, text) :]
            piece, self._sent = shown, self._sent + shown
        else:
            piece, self._sent = shown[len(self._sent) :], shown
        new_ids = ids[self._ids_sent :]
        if not piece and not (final and new_ids):
            return None
        self._ids_sent = len(ids)
        return Piece(piece, new_ids)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Progress:
    """A streamed generation after a slice: the piece that slice added (None when it added
    no whole character) and everything so far."""

    piece: Piece | None
    text: str
    ids: list[int]


class StreamedGeneration:
    """A `Generation` advanced by the pool (`Sliced`, or `Joins` with the model's other
    generations) whose result is its `Progress`, decoded on the pool's thread after each
    slice rather than on the event loop."""

    def __init__(self, generation: Generation) -> None:
        self._generation = generation
        self._pieces = Pieces()
        self._progress = Progress(None, "", [])
        generation.on_slice = self._take

    def _take(self, finished: bool) -> None:
        text, ids = self._generation.result()
        self._progress = Progress(self._pieces.take(text, ids, finished), text, ids)

    def advance(self, budget_s: float, stop: threading.Event) -> bool:
        return self._generation.advance(budget_s, stop)

    def turn(
        self, stop: threading.Event, submit: Submit, charge: Callable[[float], None]
    ) -> Awaitable[bool]:
        return self._generation.turn(stop, submit, charge)

    def result(self) -> Progress:
        return self._progress
