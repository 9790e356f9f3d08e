"""The loss chart is a PNG any decoder reads: signature, chunks and CRCs, size, pixels."""

from __future__ import annotations

import math
import zlib

from model_trainer.bot.chart import BACKGROUND, TRAIN, VAL, loss_chart


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB PNG with unfiltered rows; every
    chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        size = _u32(data, at)
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        assert _u32(data, at + 8 + size) == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        at += 12 + size
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    header = chunks[0][1]
    width, height = _u32(header, 0), _u32(header, 4)
    assert (header[8], header[9]) == (8, 2), "8-bit RGB"
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == height * stride
    rows = [raw[r * stride : (r + 1) * stride] for r in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows]


def _colours(rows: list[bytes]) -> set[tuple[int, int, int]]:
    return {(row[i], row[i + 1], row[i + 2]) for row in rows for i in range(0, len(row), 3)}


def test_a_chart_of_two_series_decodes_at_its_size_with_both_colours() -> None:
    train = [(float(s), 4.0 * math.exp(-s / 300) + 1.0) for s in range(0, 1000, 10)]
    val = [(float(s), 4.2 * math.exp(-s / 300) + 1.1) for s in range(0, 1001, 250)]
    width, height, rows = decode_png(loss_chart(train, val, width=320, height=160))
    assert (width, height) == (320, 160)
    colours = _colours(rows)
    assert {BACKGROUND, TRAIN, VAL} <= colours


def test_nothing_to_draw_one_point_and_non_finite_values_still_make_a_chart() -> None:
    for train in ([], [(5.0, 2.0)], [(1.0, math.nan), (2.0, math.inf), (3.0, 1.0)]):
        width, height, rows = decode_png(loss_chart(train, []))
        assert (width, height) == (480, 240)
        assert BACKGROUND in _colours(rows)
