"""The CLI's and the bot's read models name only fields the API really answers with, and
need no field the API may leave out; the client stays free of torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter

from model_trainer.api.app import create_app
from model_trainer.api.schemas.runs import GenerateToken
from model_trainer.client import stream, views
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.core.settings import Settings
from model_trainer.services import build_registry

# Each read model and the API schema(s) it reads.
READS: dict[type[BaseModel], tuple[str, ...]] = {
    views.RunView: ("RunPublic",),
    views.RunsView: ("RunsPublic",),
    views.RunMetricsView: ("MetricsSummary",),
    views.TokenizerRefView: ("TokenizerRef",),
    views.EvalSummaryView: ("EvalSummary",),
    views.DurationsView: ("RunDurations",),
    views.FinetuneView: ("FinetuneInfo",),
    views.WeightsOriginView: ("WeightsOrigin",),
    views.LoraView: ("LoraInfo",),
    views.TokenizerView: ("TokenizerPublic",),
    views.TokenizersView: ("TokenizersPublic",),
    views.TokenizerStatsView: ("TokenizerStats",),
    views.QueuedView: ("RunQueued", "TokenizerQueued", "EvalQueued"),
    views.MetricRecordView: ("MetricRecord",),
    views.MetricsView: ("MetricsPublic",),
    views.LogsView: ("LogsPublic",),
    views.EncodeView: ("EncodePublic",),
    views.GenerateView: ("GeneratePublic",),
    views.EvalMetricsView: ("EvalMetrics",),
    views.SampleView: ("Sample",),
    views.EvalView: ("EvalPublic",),
    views.JobErrorView: ("JobError",),
    views.ArtifactFileView: ("ArtifactFile",),
    views.ArtifactsView: ("ArtifactListing",),
    views.BackendView: ("BackendPublic",),
    views.BackendsView: ("BackendsPublic",),
    views.CorpusEntryView: ("CorpusEntry",),
    views.CorpusFolderView: ("CorpusPublic",),
    views.EstimateView: ("RunEstimatePublic",),
    views.ArchitectureView: ("Architecture",),
    views.StepMemoryView: ("StepMemoryPublic",),
    views.MemoryBudgetView: ("MemoryBudgetPublic",),
    views.QueuePlaceView: ("QueuePlace",),
    views.RegressionView: ("Regression",),
    views.StoppedEarlyView: ("StoppedEarly",),
    stream.TokenEvent: ("GenerateToken",),
    stream.DoneEvent: ("GeneratePublic",),
    stream.ErrorEvent: ("ErrorBody",),
}


SPEC: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _object(value: JsonValue) -> JsonObject:
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module")
def schemas() -> JsonObject:
    with TestClient(create_app(build_registry(Settings())), base_url="http://localhost") as client:
        spec = SPEC.validate_json(client.get("/openapi.json").content)
    components = _object(spec.get("components"))
    # A streamed `token` event is declared inline in the event stream's answer, not as a
    # component: its model's own schema stands in.
    fields = GenerateToken.model_fields
    inline: JsonObject = {
        "properties": {name: {} for name in fields},
        "required": [name for name, info in fields.items() if info.is_required()],
    }
    return _object(components.get("schemas")) | {"GenerateToken": inline}


def test_every_read_model_is_checked() -> None:
    assert set(views.View.__subclasses__()) == set(READS)


@pytest.mark.parametrize("view", list(READS), ids=[view.__name__ for view in READS])
def test_read_model_fields_exist_in_the_api_schema(
    view: type[BaseModel], schemas: JsonObject
) -> None:
    properties: set[str] = set()
    required: set[str] = set()
    for name in READS[view]:
        schema = _object(schemas[name])
        properties |= set(_object(schema.get("properties", {})))
        listed = schema.get("required", [])
        assert isinstance(listed, list)
        required |= {str(item) for item in listed}
    for field, info in view.model_fields.items():
        assert field in properties, f"{view.__name__}.{field} is not in {READS[view]}"
        if info.is_required() and len(READS[view]) == 1:
            assert field in required, f"{view.__name__}.{field} may be absent from the answer"


def test_the_client_and_the_cli_import_no_torch() -> None:
    code = (
        "import sys, model_trainer.cli.app, model_trainer.client.follow; "
        "sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
