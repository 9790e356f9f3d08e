"""Every integer a client can send has an upper bound in the schema: a 4,000-digit number is
refused with a 422 naming the field, never accepted to fail later with an `OverflowError`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from model_trainer.api.app import create_app
from model_trainer.core.json_types import JsonObject, JsonValue
from model_trainer.core.settings import Settings
from model_trainer.services import build_registry
from model_trainer.tokenizers.registry import discover_tokenizers
from model_trainer.training.model_registry import discover_models

SPEC: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)
VALUES = ("default", "examples", "example", "enum", "const")
"""Schema keys whose contents are values, not schemas."""


@pytest.fixture(scope="module")
def spec() -> JsonObject:
    with TestClient(create_app(build_registry(Settings())), base_url="http://localhost") as client:
        return SPEC.validate_json(client.get("/openapi.json").content)


def _unbounded(
    node: JsonValue, where: str, defs: JsonObject, seen: set[str], found: list[str]
) -> None:
    """Collect the integers under `node` (following `$ref`s once each) with no maximum."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _unbounded(item, f"{where}[{i}]", defs, seen, found)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            _follow(ref.rsplit("/", 1)[-1], defs, seen, found)
        elif node.get("type") == "integer" and "maximum" not in node:
            found.append(where)
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for field, sub in value.items():
                    _unbounded(sub, f"{where}.{field}", defs, seen, found)
            elif key not in VALUES:
                _unbounded(value, where, defs, seen, found)


def _follow(name: str, defs: JsonObject, seen: set[str], found: list[str]) -> None:
    if name not in seen:
        seen.add(name)
        _unbounded(defs.get(name), name, defs, seen, found)


def _operations(spec: JsonObject) -> list[tuple[str, JsonObject]]:
    paths = spec.get("paths")
    assert isinstance(paths, dict)
    out: list[tuple[str, JsonObject]] = []
    for path, methods in paths.items():
        assert isinstance(methods, dict)
        for method, operation in methods.items():
            assert isinstance(operation, dict)
            out.append((f"{method.upper()} {path}", operation))
    return out


def test_every_integer_in_a_request_has_an_upper_bound(spec: JsonObject) -> None:
    components = spec.get("components")
    assert isinstance(components, dict)
    defs = components.get("schemas")
    assert isinstance(defs, dict)
    found: list[str] = []
    for name, operation in _operations(spec):
        parameters = operation.get("parameters", [])
        assert isinstance(parameters, list)
        for parameter in parameters:
            assert isinstance(parameter, dict)
            where = f"{name} ?{parameter.get('name')}"
            _unbounded(parameter.get("schema"), where, defs, set(), found)
        _unbounded(operation.get("requestBody"), name, defs, set(), found)
    assert not found, "\n".join(found)


def test_every_integer_option_of_a_plugin_has_an_upper_bound() -> None:
    found: list[str] = []
    for registry in (discover_tokenizers({}), discover_models({})):
        for record in registry.records():
            schema = record.options_schema or {}
            defs = schema.get("$defs")
            _unbounded(schema, record.name, defs if isinstance(defs, dict) else {}, set(), found)
    assert not found, "\n".join(found)
