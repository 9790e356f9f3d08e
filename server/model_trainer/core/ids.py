"""Identifiers for tokenizers and runs: short, sortable by creation, safe in paths."""

from __future__ import annotations

import re
import secrets
import time

from model_trainer.core.errors import AppError, ErrorCode

_ID_PATTERN = re.compile(r"^[a-z]{3}-[0-9a-z]{8}-[0-9a-f]{8}$")


def new_id(prefix: str) -> str:
    """`tok-<base36 ms time>-<random hex>`; the time part keeps ids roughly ordered."""
    millis = int(time.time() * 1000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    stamp = ""
    while millis:
        millis, rest = divmod(millis, 36)
        stamp = digits[rest] + stamp
    return f"{prefix}-{stamp.rjust(8, '0')[-8:]}-{secrets.token_hex(4)}"


def validate_id(value: str, what: str) -> str:
    """Refuse anything that is not an id we could have made, before it touches a path."""
    if not _ID_PATTERN.fullmatch(value):
        raise AppError(ErrorCode.NOT_FOUND, f"{what} '{value[:80]}' does not exist")
    return value
