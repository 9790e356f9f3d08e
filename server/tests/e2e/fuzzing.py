"""Schemathesis's engine (what `st run` drives) behind one typed call, for `test_fuzz.py`.

schemathesis is configured from plain dicts and hands back cases whose bodies and responses
are typed `Any`, so this module is exempt from `disallow_any_expr` in pyproject; only ints,
strings and the small classes below leave it.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.core.result import Ok
from schemathesis.engine import Status, events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder

ERROR_FIELDS = ("code", "message", "request_id")
REQUEST_ID_HEADER = "x-request-id"
"""schemathesis lowercases header names."""

BUILTIN_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@schemathesis.check
def uniform_errors(
    ctx: schemathesis.CheckContext,
    response: schemathesis.Response,
    case: object,
) -> bool | None:
    """Every response carries one `X-Request-ID`; every 4xx/5xx is a JSON `ErrorBody` whose
    `request_id` is that header's value."""
    ids = response.headers.get(REQUEST_ID_HEADER, [])
    if len(ids) != 1 or not ids[0]:
        raise AssertionError(f"expected one X-Request-ID header, got {ids!r}")
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])[0]
    if not media_type.startswith("application/json"):
        raise AssertionError(f"error answered as {media_type!r}, not JSON")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError("error body is not JSON") from None
    if not isinstance(body, dict):
        raise AssertionError(f"error body is not an object: {body!r}")
    missing = [f for f in ERROR_FIELDS if not isinstance(body.get(f), str) or not body.get(f)]
    if missing:
        raise AssertionError(f"error body lacks {missing}: {body!r}")
    if body["request_id"] != ids[0]:
        raise AssertionError(f"request_id {body['request_id']!r} is not X-Request-ID {ids[0]!r}")
    return None


CHECKS = (*BUILTIN_CHECKS, uniform_errors.__name__)

FRAMING_HEADERS = frozenset(
    {"transfer-encoding", "content-length", "connection", "te", "trailer", "upgrade", "host"}
)
"""How a request is framed on the wire, not what it asks: the HTTP server (h11) refuses a
bad one before the application sees it, so it cannot carry a request id. Generated values
for these are dropped here; `test_fuzz` sends odd framing headers itself and checks the
server's answers."""


@schemathesis.hook
def before_call(ctx: object, case: object, **kwargs: object) -> None:
    headers = getattr(case, "headers", None)  # a schemathesis Case (generic over Any)
    if isinstance(headers, dict):
        for name in [h for h in headers if str(h).lower() in FRAMING_HEADERS]:
            del headers[name]


@dataclass(frozen=True)
class Binding:
    """Where a parameter draws known-good (and known-bad) values from, and how often."""

    dictionary: str
    probability: float = 0.5


@dataclass(frozen=True)
class OperationPlan:
    """Settings for one operation that replace the plan's."""

    parameters: dict[str, Binding] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)
    """`path.run_id`, ... -> the one value every case of the operation sends."""
    max_examples: int | None = None
    reuse_responses: bool = True
    """Whether values seen in other responses (ids, ...) may be sent to this operation."""


@dataclass(frozen=True)
class FuzzPlan:
    """One deterministic run over every operation of the schema at `schema_url`."""

    schema_url: str
    seed: int
    max_examples: int
    """Generated examples per operation; the coverage phase adds its own fixed cases."""
    request_timeout_s: float
    hypothesis_home: Path
    """Where hypothesis keeps its caches: never the repository."""
    dictionaries: dict[str, list[str]] = field(default_factory=dict)
    parameters: dict[str, Binding] = field(default_factory=dict)
    """`path.run_id`, `body.data.tokenizer_id`, ... -> the dictionary to draw from."""
    operations: dict[str, OperationPlan] = field(default_factory=dict)
    """Operation id -> what differs for it."""
    stateful: bool = False
    """Off by default: its chains (queue a run, then stream its log) open streams that stay
    open while the run is queued, which here is for ever."""


@dataclass
class FuzzReport:
    """What the run did and found; `failures` holds one entry per distinct problem."""

    cases: int = 0
    responses: int = 0
    declared: set[str] = field(default_factory=set)
    """Every operation of the schema, as `METHOD /path`."""
    operations: Counter[str] = field(default_factory=Counter)
    """Cases per operation."""
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent per operation, for spotting slow ones."""
    phases: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def slowest(self, n: int) -> list[tuple[str, float]]:
        """The `n` operations that took longest, with their seconds."""
        return sorted(self.seconds.items(), key=lambda item: item[1], reverse=True)[:n]


def _bindings(parameters: dict[str, Binding]) -> dict[str, dict[str, str | float]]:
    return {
        name: {"dictionary": b.dictionary, "probability": b.probability}
        for name, b in parameters.items()
    }


def _operation(operation_id: str, plan: OperationPlan) -> dict[str, object]:
    config: dict[str, object] = {
        "include-operation-id": operation_id,
        "parameters": {**_bindings(plan.parameters), **plan.fixed},
        "phases": {"fuzzing": {"extra-data-sources": {"responses": plan.reuse_responses}}},
    }
    if plan.max_examples is not None:
        config["generation"] = {"max-examples": plan.max_examples}
    return config


def _config(plan: FuzzPlan) -> schemathesis.Config:
    checks: dict[str, object] = {"enabled": False}
    checks.update({name: {"enabled": True} for name in CHECKS})
    return schemathesis.Config.from_dict(
        {
            "seed": plan.seed,
            "workers": 1,
            "request-timeout": plan.request_timeout_s,
            "continue-on-failure": True,
            "cache": {"enabled": False},
            "generation": {
                "max-examples": plan.max_examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": plan.stateful}},
            "checks": checks,
            "dictionaries": {name: {"values": v} for name, v in plan.dictionaries.items()},
            "parameters": _bindings(plan.parameters),
            "operations": [_operation(op, settings) for op, settings in plan.operations.items()],
        }
    )


def _record(report: FuzzReport, recorder: ScenarioRecorder) -> None:
    for case_id, node in recorder.cases.items():
        report.cases += 1
        report.operations[node.value.operation.label] += 1
        interaction = recorder.interactions.get(case_id)
        if interaction is not None and interaction.response is not None:
            report.responses += 1
            report.statuses[interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status is Status.ERROR:
                report.errors.append(f"{recorder.label} [{check.name}] errored ({case_id})")
            if check.status is not Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            interaction = recorder.interactions.get(case_id)
            status = interaction.response.status_code if interaction and interaction.response else 0
            key = f"{failure.operation or recorder.label} [{check.name}] {status}: {failure.title}"
            detail = f"{failure.message}\n{check.failure_info.code_sample}"
            report.failures.setdefault(key, detail)


def run_schemathesis(plan: FuzzPlan) -> FuzzReport:
    """Load the live schema and run the examples, coverage and fuzzing phases against it
    (and the stateful one if asked), with every check in `CHECKS` on every response."""
    report = FuzzReport()
    set_hypothesis_home_dir(plan.hypothesis_home)
    try:
        schema = schemathesis.openapi.from_url(plan.schema_url, config=_config(plan))
        for result in schema.get_all_operations():
            if isinstance(result, Ok):
                report.declared.add(result.ok().label)
            else:
                report.errors.append(f"unusable operation: {result.err()}")
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _record(report, event.recorder)
                label = event.recorder.label
                report.seconds[label] = report.seconds.get(label, 0.0) + event.elapsed_time
            elif isinstance(event, events.PhaseFinished):
                report.phases[str(event.phase.name.value)] = str(event.status.value)
            elif isinstance(event, events.NonFatalError):
                report.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
            elif isinstance(event, events.FatalError):
                report.errors.append(f"fatal: {event.exception!r}")
            elif isinstance(event, events.EngineFinished):
                for failure in event.failures:
                    report.failures.setdefault(f"after run: {failure.title}", failure.message)
    finally:
        set_hypothesis_home_dir(None)
    return report


@dataclass(frozen=True)
class Operation:
    """One operation of the schema: its method, path template, id, and the dotted paths of
    the number fields of its JSON body (empty without one)."""

    method: str
    path: str
    operation_id: str
    fields: tuple[str, ...] = ()


def _resolve(spec: dict[str, object], schema: object) -> dict[str, object]:
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        components = spec["components"]
        assert isinstance(components, dict)
        return _resolve(spec, components["schemas"][ref.rsplit("/", 1)[1]])
    return schema


def _numbers(spec: dict[str, object], schema: object, prefix: str, depth: int = 0) -> list[str]:
    """Dotted paths of every number property under `schema` (through refs and anyOf)."""
    node = _resolve(spec, schema)
    found: list[str] = []
    alternatives = node.get("anyOf", [])
    assert isinstance(alternatives, list)
    variants = [node, *[_resolve(spec, v) for v in alternatives]]
    if any(v.get("type") == "number" for v in variants) and prefix:
        found.append(prefix)
    for variant in variants:
        properties = variant.get("properties", {})
        if depth < 4 and isinstance(properties, dict):
            for name, child in properties.items():
                path = f"{prefix}.{name}" if prefix else name
                found += _numbers(spec, child, path, depth + 1)
    return sorted(set(found))


def all_operations(spec_json: str) -> list[Operation]:
    """Every operation of an OpenAPI document, with its body's number fields."""
    spec = json.loads(spec_json)
    found: list[Operation] = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            fields = _numbers(spec, body["schema"], "") if body else []
            found.append(Operation(method.upper(), path, operation["operationId"], tuple(fields)))
    return found


def number_fields(spec_json: str) -> list[Operation]:
    """The operations whose JSON body has number fields."""
    return [op for op in all_operations(spec_json) if op.fields]


RAW = "\u0000raw\u0000"


def with_raw_number(base_json: str, dotted: str, raw: str) -> str:
    """`base_json` with the field at `dotted` set to `raw` written verbatim (`Infinity`...)."""
    body = json.loads(base_json)
    node = body
    *parents, last = dotted.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = RAW
    return json.dumps(body).replace(json.dumps(RAW), raw)


def raw_request(base: str, method: str, path: str, header: str, value: str) -> int:
    """The status of a request carrying `header: value` as UTF-8 bytes (clients refuse to
    send such headers); 0 when the server closed without an answer."""
    host, port = base.removeprefix("http://").split(":")
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {host}".encode()]
    if header.lower() != "content-length" and body:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(header.encode() + b": " + value.encode("utf-8"))
    lines.append(b"Content-Type: application/json")
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return 0
            head += chunk
    return int(head.split(b" ", 2)[1])
