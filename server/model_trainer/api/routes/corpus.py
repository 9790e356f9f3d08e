"""`/corpus`: the folders and corpus files a training request may name, with their sizes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from model_trainer.api.deps import CorpusDep
from model_trainer.api.schemas.common import GUARDED, error_responses
from model_trainer.api.schemas.corpus import CorpusPublic


def list_corpus(
    corpus: CorpusDep,
    path: Annotated[
        str | None,
        Query(max_length=1024, description="A folder relative to the corpus root (the root)"),
    ] = None,
) -> CorpusPublic:
    """A folder's folders and corpus files (text, JSON Lines, JSON, CSV, Parquet, `save_to_disk`
    folders), each with what training on it would read, and structured ones with their columns."""
    return CorpusPublic.from_folder(corpus.folder(path))


# The folder is refused as training would refuse it: outside the root, a symlink loop, or
# reached through a name that is not UTF-8 or too deep (400), missing (404); every route
# may answer 401 or 421 (key, host), 422 (parameters) and 500.
router = APIRouter(prefix="/corpus", tags=["corpus"], responses=error_responses(*GUARDED, 422, 500))
router.add_api_route(
    "",
    list_corpus,
    methods=["GET"],
    operation_id="corpus-list",
    responses=error_responses(400, 404),
)
