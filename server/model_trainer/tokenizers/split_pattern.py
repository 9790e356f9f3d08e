"""GPT-2's pre-token pattern over ASCII, with its character classes given by the caller.

`re`'s `findall` is typed as returning `list[Any]`; for a pattern without groups it returns
the matched strings, and `find_words` is the one place that says so.
"""

from __future__ import annotations

import re

CLASSES = ("L", "N", "P", "S")
"""Letters, numbers, the rest, whitespace: the only distinctions the pattern makes."""


def gpt2_pattern(classes: dict[str, str]) -> re.Pattern[str]:
    """`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`
    with each class spelled out as the ASCII characters `classes` puts in it."""

    def members(name: str) -> str:
        return "".join(re.escape(char) for char, found in classes.items() if found == name)

    letters, numbers, spaces = members("L"), members("N"), members("S")
    return re.compile(
        rf"'(?:[stmd]|re|ve|ll)| ?[{letters}]+| ?[{numbers}]+| ?[^{spaces}{letters}{numbers}]+"
        rf"|[{spaces}]+(?![^{spaces}])|[{spaces}]+"
    )


def find_words(pattern: re.Pattern[str], text: str) -> list[str]:
    """Every match of `pattern` in `text`, in order."""
    words: list[str] = pattern.findall(text)
    return words
