"""Numbers and times written for people, the same in the terminal and in chat messages.

Every figure the CLI shows goes through here, so one kind reads one way everywhere:
times as local `YYYY-MM-DD HH:MM:SS`, durations as `3m 07s`, counts with thousands
separators (`12,345`), losses and other figures with 4 significant digits (`2.346`,
`0.01234`, `1,234`), model sizes as `1.23M`, shares as `12.34%`, bytes as `1.2 MiB`; and a
waiting job's place in its queue, which the CLI and the bot both say.
"""

from __future__ import annotations

import math
from datetime import datetime

from model_trainer.client.views import QueuePlaceView

NONE = "—"
"""What an unknown value reads as."""
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def duration(seconds: float | None) -> str:
    """`45s`, `3m 07s`, `2h 05m`, `1d 4h`."""
    if seconds is None or seconds < 0 or not math.isfinite(seconds):
        return NONE
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86_400}d {s % 86_400 // 3600}h"


def moment(when: datetime | float | None) -> str:
    """A time (an aware datetime, or unix seconds) in the reader's local zone."""
    if when is None:
        return NONE
    local = (
        datetime.fromtimestamp(when).astimezone()
        if isinstance(when, int | float)
        else when.astimezone()
    )
    return local.strftime(TIME_FORMAT)


def log_moment(timestamp: str) -> str:
    """A log record's ISO timestamp (UTC as written) as `moment` writes times."""
    try:
        return moment(datetime.fromisoformat(timestamp.replace("Z", "+00:00")))
    except ValueError:
        return timestamp


def integer(value: float | None) -> str:
    """`12,345` (rounded to a whole number)."""
    return NONE if value is None or not math.isfinite(value) else f"{round(value):,}"


def figure(value: float | None) -> str:
    """4 significant digits, never in exponent form: `2.346`, `0.01234`, `12.35`, `1,235`."""
    if value is None:
        return NONE
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, 3 - magnitude)
    return f"{value:,.{decimals}f}"


def compact(value: float | None) -> str:
    """A size in units: `1.23M`, `45.6k`, `812` (parameters, FLOPs)."""
    if value is None:
        return NONE
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


def percent(share: float | None, digits: int = 2) -> str:
    """`12.34%` of a share in [0, 1]."""
    return NONE if share is None else f"{share:.{digits}%}"


def size(n: int | None) -> str:
    """Bytes: `512 B`, `1.2 KiB`, `3.4 MiB`, `1.23 GiB`."""
    if n is None:
        return NONE
    for unit, step in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= step:
            return f"{n / step:.2f} {unit}" if unit == "GiB" else f"{n / step:.1f} {unit}"
    return f"{n:,} B"


def ordinal(n: int) -> str:
    """`1st`, `2nd`, `3rd`, `11th`, `22nd`."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def queue_words(queue: QueuePlaceView, reason: bool = True) -> str:
    """`2nd in line (1 ahead), waiting for a free worker (...)`: where a waiting job stands,
    in the same words in the terminal and in chat (`reason=False` leaves out what it waits
    for)."""
    ahead = f" ({integer(queue.ahead)} ahead)" if queue.ahead else ""
    why = f", waiting for {queue.waiting_for}" if reason else ""
    return f"{ordinal(queue.position)} in line{ahead}{why}"


def elapsed(seconds: float | None) -> str:
    """A span that may be short (a generation): `0.8s`, `42.5s`, then as `duration`."""
    if seconds is None or seconds < 0 or not math.isfinite(seconds):
        return NONE
    return f"{seconds:.1f}s" if seconds < 59.95 else duration(seconds)
