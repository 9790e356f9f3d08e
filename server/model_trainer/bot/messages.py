"""What the core hands to a chat: an embed-like `Message`, and a command's `Reply`.

The limits are Discord's (an embed's parts, and all of them together); `fitted` trims a
message to them so that no send is refused for its size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000
"""Title, description, field names and values and footer together."""
CHOICES_MAX = 25
"""Autocomplete offers at most this many choices."""
CHOICE_NAME_MAX = 100
ELLIPSIS = "…"


class Colour(IntEnum):
    """The stripe beside an embed, by how much the news matters."""

    MUTED = 0x6B7280
    INFO = 0x3B82F6
    SUCCESS = 0x22C55E
    WARNING = 0xF59E0B
    FAILURE = 0xEF4444


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True)
class Image:
    """A PNG shown inside the embed (sent as an attachment)."""

    filename: str
    png: bytes


@dataclass(frozen=True)
class Message:
    """One embed: the core's only output to a chat."""

    title: str
    description: str = ""
    fields: tuple[Field, ...] = ()
    colour: Colour = Colour.INFO
    footer: str = ""
    image: Image | None = None

    def texts(self) -> list[str]:
        """Every string the message shows, in reading order."""
        parts = [self.title, self.description]
        for field in self.fields:
            parts += [field.name, field.value]
        return [*parts, self.footer]

    def size(self) -> int:
        """Characters as Discord counts them against `EMBED_TOTAL_MAX`."""
        return sum(len(text) for text in self.texts())


@dataclass(frozen=True)
class Reply:
    """A command's answer; `confirm_cancel` asks the adapter for a confirmation button."""

    message: Message
    confirm_cancel: str | None = None
    refused: bool = False


@dataclass(frozen=True)
class Choice:
    """An autocomplete choice: what is shown, and the value it fills in."""

    name: str
    value: str


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS if limit > 0 else ""


def fitted(message: Message) -> Message:
    """The message within every one of Discord's embed limits (the description gives way
    last, since it holds the news)."""
    fields = tuple(
        Field(clip(f.name, FIELD_NAME_MAX) or "-", clip(f.value, FIELD_VALUE_MAX) or "-", f.inline)
        for f in message.fields[:FIELDS_MAX]
    )
    fitted_message = replace(
        message,
        title=clip(message.title, TITLE_MAX),
        description=clip(message.description, DESCRIPTION_MAX),
        fields=fields,
        footer=clip(message.footer, FOOTER_MAX),
    )
    while fitted_message.size() > EMBED_TOTAL_MAX and len(fitted_message.fields) > 1:
        fitted_message = replace(fitted_message, fields=fitted_message.fields[:-1])
    excess = fitted_message.size() - EMBED_TOTAL_MAX
    if excess > 0:
        room = max(0, len(fitted_message.description) - excess)
        fitted_message = replace(fitted_message, description=clip(fitted_message.description, room))
    return fitted_message
