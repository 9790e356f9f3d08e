"""What must never reach a chat: filesystem paths, file names, URLs and secrets.

The formatter already leaves out every free-form text a worker or the API writes (failure
messages, log lines, corpus and artifact paths), because corpus text cannot be recognised
by a pattern; this is the second line, applied to every string of every message that leaves
the core, so that a path or a key slipped into a field by mistake is still masked.
"""

from __future__ import annotations

import re
from dataclasses import replace

from model_trainer.bot.messages import Field, Message, fitted

SECRET_MASK = "***"  # noqa: S105 - the mask, not a secret
PATH_MASK = "‹path›"
FILE_MASK = "‹file›"
URL_MASK = "‹url›"
MIN_SECRET_LEN = 6
"""Shorter configured secrets are not masked by value (every `abc` in a message would go);
the patterns below still catch keys that look like keys."""
COMMAND_MENTIONS = frozenset({"/trainer"})
"""Slash-command names a message may mention; they look like absolute paths."""

_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"\b(api[_-]?key|x-api-key|token|secret|password|passwd|authorization)(\s*[:=]\s*)"
    r"(?:bearer\s+)?[^\s,;]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer)\s+[^\s,;]+", re.IGNORECASE)
"""One group (the word); `_KEY_VALUE` has two (the name and its separator)."""
_DISCORD_TOKEN = re.compile(r"[\w\-]{20,}\.[\w\-]{4,}\.[\w\-]{20,}")
_OPAQUE = re.compile(r"\b(?=[\w\-]*\d)(?=[\w\-]*[A-Za-z])[\w\-]{32,}\b")
"""Hashes and keys: 32 or more word characters, letters and digits mixed (a run id has 21)."""
_PATH = re.compile(r"(?:[A-Za-z]:)?[\w.\-~$]*(?:[/\\]+[\w.\-~$]*)+")
_FILE = re.compile(
    r"\b[\w\-]+(?:\.[\w\-]+)*\.(?:txt|jsonl?|pt|pth|bin|model|vocab|safetensors|csv|tsv|md|"
    r"tar|gz|zip|parquet|log|py|ya?ml|toml|env|cfg|ini|lock|pid|sock)\b",
    re.IGNORECASE,
)


def _masked_value(match: re.Match[str]) -> str:
    """`password=***`: the name stays, so the reader knows what was there."""
    return match.expand(r"\g<1>\g<2>") + SECRET_MASK


def _masked_bearer(match: re.Match[str]) -> str:
    return match.expand(r"\g<1> ") + SECRET_MASK


def _path_or_text(match: re.Match[str]) -> str:
    text = match.string[match.start() : match.end()]
    if text in COMMAND_MENTIONS or not re.search(r"[A-Za-z~$]", text):
        return text  # a ratio such as 10/100, or a command's name
    return PATH_MASK


class Redactor:
    """Masks configured secrets by value, then anything shaped like a key, URL or path."""

    def __init__(self, secrets: list[str]) -> None:
        # Longest first, so that a secret containing another is masked whole.
        kept = {s for s in secrets if len(s) >= MIN_SECRET_LEN}
        self._secrets = sorted(kept, key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, SECRET_MASK)
        text = _URL.sub(URL_MASK, text)
        text = _KEY_VALUE.sub(_masked_value, text)
        text = _BEARER.sub(_masked_bearer, text)
        text = _DISCORD_TOKEN.sub(SECRET_MASK, text)
        text = _OPAQUE.sub(SECRET_MASK, text)
        text = _PATH.sub(_path_or_text, text)
        return _FILE.sub(FILE_MASK, text)

    def message(self, message: Message) -> Message:
        """Every string of the message masked, then fitted to Discord's limits."""
        fields = tuple(
            Field(self.text(f.name), self.text(f.value), f.inline) for f in message.fields
        )
        masked = replace(
            message,
            title=self.text(message.title),
            description=self.text(message.description),
            fields=fields,
            footer=self.text(message.footer),
        )
        return fitted(masked)
