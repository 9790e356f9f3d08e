"""What people call a run or a tokenizer: a name, notes and tags, given at submission and
edited later.

The job's `config` keeps what was submitted; the current labels live beside the manifest
(`LabelledFolder.labels`), written by the API alone, so a worker rewriting the manifest never
undoes an edit.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.request_model import RequestModel

NAME_MAX = 120
"""Characters of a name at most (after surrounding blanks are stripped)."""
NOTES_MAX = 10_000
"""Characters of notes at most."""
TAGS_MAX = 16
"""Tags of one run or tokenizer at most (after duplicates are removed)."""
TAG_MAX = 40
"""Characters of one tag at most."""
TAG_PATTERN = r"^[A-Za-z0-9_.:-]{1,40}$"
"""A tag: letters, digits, `-`, `_`, `.`, `:`; kept as typed, compared case-insensitively."""

_UNSHOWABLE = "\x7f-\x9f\u202a-\u202e\u2066-\u2069"
"""DEL, the C1 controls (U+0080-U+009F, which terminals act on) and the bidirectional
embeddings, overrides and isolates (which make a name read otherwise than it is stored)."""
_CONTROL = re.compile(f"[\\x00-\\x1f{_UNSHOWABLE}]")
_NOTES_CONTROL = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f{_UNSHOWABLE}]")
_TAG = re.compile(TAG_PATTERN)


def _printable(text: str, control: re.Pattern[str]) -> str:
    """Refuse what UTF-8 cannot hold (a lone surrogate from a JSON `\\ud800`), control
    characters and bidirectional overrides: each would break the stored file, a terminal
    or a chat message, or show it otherwise than it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a character UTF-8 cannot encode (a lone surrogate)") from None
    found = control.search(text)
    if found is not None:
        raise ValueError(f"holds the control or direction character U+{ord(found.group()):04X}")
    return text


def _name(text: str) -> str:
    text = _printable(text.strip(), _CONTROL)
    if not text:
        raise ValueError("is blank; give 1 to 120 characters, or null for no name")
    if len(text) > NAME_MAX:
        raise ValueError(f"has {len(text)} characters; at most {NAME_MAX}")
    return text


def _notes(text: str) -> str:
    return _printable(text, _NOTES_CONTROL)


def _tags(tags: list[str]) -> list[str]:
    """Each tag checked; duplicates (ignoring case) dropped, the first spelling kept."""
    kept: dict[str, str] = {}
    for tag in tags:
        if not _TAG.fullmatch(tag):
            shown = tag[:TAG_MAX].encode("ascii", "backslashreplace").decode("ascii")
            raise ValueError(
                f"'{shown}' is not a tag: 1 to {TAG_MAX} letters, digits, '-', '_', '.' or ':'"
            )
        kept.setdefault(tag.casefold(), tag)
    if len(kept) > TAGS_MAX:
        raise ValueError(f"has {len(kept)} tags; at most {TAGS_MAX}")
    return list(kept.values())


# Lengths are bounded before the checks run, so a hostile megabyte is refused cheaply.
LabelName = Annotated[
    str,
    Field(max_length=4 * NAME_MAX, description="1 to 120 characters (surrounding blanks dropped)"),
    AfterValidator(_name),
]
LabelNotes = Annotated[
    str,
    Field(max_length=NOTES_MAX, description="Free text, at most 10,000 characters"),
    AfterValidator(_notes),
]
LabelTags = Annotated[
    list[Annotated[str, Field(max_length=4 * TAG_MAX)]],
    Field(
        max_length=4 * TAGS_MAX,
        description=f"At most {TAGS_MAX} tags of 1 to {TAG_MAX} ASCII letters, digits, '-', '_', "
        "'.' or ':'; kept as typed, compared case-insensitively, duplicates dropped",
    ),
    AfterValidator(_tags),
]


def same_tag(a: str, b: str) -> bool:
    """Tags compare case-insensitively (`Baseline` is `baseline`)."""
    return a.casefold() == b.casefold()


class Labels(BaseModel):
    """A run's or tokenizer's current name, notes and tags (its folder's labels file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: LabelName | None = None
    notes: LabelNotes | None = None
    tags: LabelTags = []


class LabelsPatch(RequestModel):
    """A change to a run's or tokenizer's labels: a field left out stays as it is, null
    clears it.

    `tags` replaces the whole list; `add_tags` and `remove_tags` change the tags it has when
    the edit is applied, so two people tagging at once both keep their tags."""

    model_config = ConfigDict(extra="forbid")

    name: LabelName | None = None
    notes: LabelNotes | None = None
    tags: LabelTags | None = None
    add_tags: Annotated[
        LabelTags, Field(description="Tags to add to the current ones (kept if present)")
    ] = []
    remove_tags: Annotated[
        LabelTags,
        Field(
            description="Tags to take out of the current ones, ignoring case; a tag in both "
            "lists is removed"
        ),
    ] = []

    @model_validator(mode="after")
    def _one_way_to_retag(self) -> Self:
        if "tags" in self.model_fields_set and (self.add_tags or self.remove_tags):
            raise ValueError("give either tags (the whole list) or add_tags/remove_tags, not both")
        return self

    def applied_to(self, current: Labels) -> Labels:
        """`current` with the fields this patch carries replaced (null: cleared)."""
        given = self.model_fields_set
        tags = (self.tags or []) if "tags" in given else self._retagged(current.tags)
        return Labels(
            name=self.name if "name" in given else current.name,
            notes=self.notes if "notes" in given else current.notes,
            tags=tags,
        )

    def _retagged(self, current: list[str]) -> list[str]:
        """`current` without `remove_tags`, then with `add_tags` not already there
        (ignoring case); 422 when that makes too many."""
        gone = {t.casefold() for t in self.remove_tags}
        kept = [t for t in current if t.casefold() not in gone]
        seen = {t.casefold() for t in kept}
        for tag in self.add_tags:
            if tag.casefold() not in seen and tag.casefold() not in gone:
                kept.append(tag)
                seen.add(tag.casefold())
        if len(kept) > TAGS_MAX:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"add_tags: it would have {len(kept)} tags; at most {TAGS_MAX}",
            )
        return kept
