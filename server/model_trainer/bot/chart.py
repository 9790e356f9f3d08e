"""A small loss chart as PNG bytes, drawn in pure Python (no matplotlib or Pillow at run time).

An RGB pixel buffer, a frame with faint gridlines, the training loss as a line and the
validation loss as a line with dots; encoded as PNG by hand (zlib + CRC32), which is enough
for a few hundred points on a phone screen. The numbers themselves go in the embed's fields.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

WIDTH = 480
HEIGHT = 240
MARGIN = 12
BACKGROUND = (255, 255, 255)
GRID = (229, 231, 235)
FRAME = (156, 163, 175)
TRAIN = (59, 130, 246)
VAL = (239, 68, 68)

Point = tuple[float, float]
"""(step, loss)."""
Rgb = tuple[int, int, int]


class Canvas:
    """An RGB pixel buffer with the few drawing operations a line chart needs."""

    def __init__(self, width: int, height: int, background: Rgb) -> None:
        self.width = width
        self.height = height
        self._pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, colour: Rgb) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = (y * self.width + x) * 3
            self._pixels[at : at + 3] = bytes(colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: Rgb, thick: bool = False) -> None:
        """Bresenham's line; a thick one is drawn twice, a pixel apart."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, colour)
            if thick:
                self.dot(x0, y0 + 1, colour)
            if x0 == x1 and y0 == y1:
                return
            double = 2 * err
            if double >= dy:
                err += dy
                x0 += sx
            if double <= dx:
                err += dx
                y0 += sy

    def disc(self, x: int, y: int, colour: Rgb) -> None:
        for ox in range(-2, 3):
            for oy in range(-2, 3):
                if ox * ox + oy * oy <= 5:
                    self.dot(x + ox, y + oy, colour)

    def png(self) -> bytes:
        """The buffer as a PNG: 8-bit RGB, each row with filter byte 0."""
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self._pixels[row * stride : (row + 1) * stride])
            for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _finite(points: Sequence[Point]) -> list[Point]:
    return [(s, v) for s, v in points if math.isfinite(s) and math.isfinite(v)]


def loss_chart(
    train: Sequence[Point], val: Sequence[Point], width: int = WIDTH, height: int = HEIGHT
) -> bytes:
    """A PNG of the losses against steps; an empty frame when there is nothing to draw."""
    canvas = Canvas(width, height, BACKGROUND)
    left, top, right, bottom = MARGIN, MARGIN, width - MARGIN - 1, height - MARGIN - 1
    for i in range(1, 4):  # faint quarter lines help read a trend at a glance
        y = top + (bottom - top) * i // 4
        canvas.line(left, y, right, y, GRID)
    for x0, y0, x1, y1 in ((left, top, left, bottom), (left, bottom, right, bottom)):
        canvas.line(x0, y0, x1, y1, FRAME)
    train, val = _finite(train), _finite(val)
    everything = train + val
    if not everything:
        return canvas.png()
    lo_step, hi_step = min(s for s, _ in everything), max(s for s, _ in everything)
    lo, hi = min(v for _, v in everything), max(v for _, v in everything)
    pad = (hi - lo) * 0.05 or max(abs(hi) * 0.05, 1e-6)
    lo, hi = lo - pad, hi + pad

    def at(point: Point) -> tuple[int, int]:
        step, value = point
        fx = (step - lo_step) / (hi_step - lo_step) if hi_step > lo_step else 0.5
        fy = (value - lo) / (hi - lo)
        return round(left + fx * (right - left)), round(bottom - fy * (bottom - top))

    for points, colour, dots in ((train, TRAIN, False), (val, VAL, True)):
        pixels = [at(p) for p in sorted(points)]
        for (x0, y0), (x1, y1) in zip(pixels, pixels[1:], strict=False):
            canvas.line(x0, y0, x1, y1, colour, thick=True)
        if dots or len(pixels) == 1:
            for x, y in pixels:
                canvas.disc(x, y, colour)
    return canvas.png()
