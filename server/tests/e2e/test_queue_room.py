"""New work is refused with a clear code once too many jobs wait for a worker."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.app import create_app
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.tokenizers import TokenizersPublic
from model_trainer.core.settings import LimitSettings, Settings, WorkerSettings
from model_trainer.services import build_registry

pytestmark = pytest.mark.timeout(120)


def _other_database(url: str) -> str:
    """The same Redis server, another database: these jobs stay out of the shared lists."""
    return (re.sub(r"/\d+$", "", url) if re.search(r":\d+/\d+$", url) else url) + "/5"


def test_a_full_queue_refuses_new_jobs_with_queue_full(
    stack_settings: Settings, tmp_path: Path
) -> None:
    # A queue of its own that no worker takes from: every job stays waiting.
    settings = Settings(
        redis_url=_other_database(stack_settings.redis_url),
        artifacts_root=tmp_path,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name=f"unserved-{uuid.uuid4().hex[:8]}"),
        limits=LimitSettings(max_queued_jobs=2),
    )
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt"}
    registry = build_registry(settings)
    try:
        with TestClient(create_app(registry), base_url="http://localhost") as api:
            for _ in range(2):
                assert api.post("/tokenizers/train", json=body).status_code == 202
            refused = api.post("/tokenizers/train", json=body)
            assert refused.status_code == 429, refused.text
            error = ErrorBody.model_validate_json(refused.content)
            assert error.code == "QUEUE_FULL" and "2 jobs are waiting" in error.message
            assert refused.headers["Retry-After"].isdigit()
            assert TokenizersPublic.model_validate_json(api.get("/tokenizers").content).count == 2
    finally:
        registry.close()
