"""`/corpus` bodies: a folder of the corpus root and what is inside it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.orchestrators.corpus import CorpusEntry, CorpusFolder, CorpusSkip


class CorpusPublic(BaseModel):
    """A corpus folder: what training on it reads, then its folders and corpus files by name."""

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(description="Relative to the corpus root; empty for the root")]
    bytes: int
    files: int
    data: list[CorpusEntry]
    count: int
    skipped: Annotated[
        list[CorpusSkip],
        Field(description="What training on this folder passes over, anywhere under it, and why"),
    ]

    @classmethod
    def from_folder(cls, folder: CorpusFolder) -> CorpusPublic:
        return cls(
            path=folder.path,
            bytes=folder.bytes,
            files=folder.files,
            data=folder.entries,
            count=len(folder.entries),
            skipped=folder.skipped,
        )
