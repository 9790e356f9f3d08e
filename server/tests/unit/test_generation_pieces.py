"""Streamed generation pieces: never a broken character, and joined they are the text."""

from __future__ import annotations

from model_trainer.training.inference.streaming import REPLACEMENT, Piece, Pieces

TEXT = "naïve café — 東京 🙂 done"


def _decode(ids: list[int]) -> str:
    """What a byte-level tokenizer's decoder does with ids that are bytes."""
    return bytes(ids).decode("utf-8", errors="replace")


def _stream(ids: list[int], per_slice: int) -> list[Piece]:
    pieces = Pieces()
    out: list[Piece] = []
    for end in range(per_slice, len(ids) + per_slice, per_slice):
        made = ids[: min(end, len(ids))]
        piece = pieces.take(_decode(made), made, final=len(made) == len(ids))
        if piece is not None:
            out.append(piece)
    return out


def test_a_character_split_across_tokens_waits_for_its_last_byte() -> None:
    ids = list(TEXT.encode("utf-8"))
    for per_slice in (1, 2, 3, 5):
        pieces = _stream(ids, per_slice)
        assert "".join(p.text for p in pieces) == TEXT
        assert [i for p in pieces for i in p.ids] == ids
        assert not any(REPLACEMENT in p.text for p in pieces)
        assert all(p.text for p in pieces)


def test_the_end_sends_what_is_left_even_a_broken_character() -> None:
    ids = list("ok é".encode())[:-1]  # the generation stopped inside "é"
    pieces = _stream(ids, 1)
    assert "".join(p.text for p in pieces) == _decode(ids) == "ok " + REPLACEMENT
    assert [i for p in pieces for i in p.ids] == ids
