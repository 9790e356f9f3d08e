"""Structured JSON logging: one typed facade over structlog.

structlog's own API returns untyped values, so this module is the boundary (it is named in
pyproject as exempt from `disallow_any_expr`). Every record carries `timestamp`, `level`,
`service`, `category`, `event`, plus whatever context is bound (`request_id`, `job_id`).
While a job runs, records are also appended to that job's `logs.jsonl`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from model_trainer.core.json_types import JsonValue

Category = Literal["core", "api", "data", "tokenizer", "model", "training", "compute", "worker"]

_job_sink: ContextVar[TextIO | None] = ContextVar("job_sink", default=None)
_secrets: list[str] = []
_configured = threading.Lock()
_service = "model-trainer"
REDACTED = "***"


class _TeeLogger:
    """Writes each rendered line to stderr and, inside a job, to the job's log file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        sink = _job_sink.get()
        with self._lock:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
            if sink is not None:
                try:
                    sink.write(message + "\n")
                    sink.flush()
                except (OSError, ValueError) as exc:
                    # A full or vanished disk must not turn every log call into a crash;
                    # the job fails on its next real write, and stderr keeps the record.
                    _job_sink.set(None)
                    note = {"event": "job_log_unwritable", "level": "error", "error": str(exc)}
                    sys.stderr.write(json.dumps(note) + "\n")

    log = debug = info = warning = error = critical = exception = msg


def _tee_factory(*_args: object) -> _TeeLogger:
    return _TeeLogger()


def _add_service(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    event.setdefault("service", _service)
    event.setdefault("category", "core")
    return event


def _redact(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Never let a configured secret reach a log line, whatever field it hides in."""
    if not _secrets:
        return event
    for key, value in list(event.items()):
        if isinstance(value, str) and any(s in value for s in _secrets):
            text = value
            for secret in _secrets:
                text = text.replace(secret, REDACTED)
            event[key] = text
    return event


def configure_logging(level: str, service: str, secrets: list[str] | None = None) -> None:
    """Set up the processor chain once per process; later calls only update level/secrets."""
    global _service
    _service = service
    _secrets[:] = [s for s in (secrets or []) if s]
    with _configured:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
                _add_service,
                structlog.processors.format_exc_info,
                _redact,
                structlog.processors.JSONRenderer(sort_keys=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(
                logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
            ),
            logger_factory=_tee_factory,
            cache_logger_on_first_use=False,
        )


def bind_context(**fields: JsonValue) -> None:
    """Bind fields (e.g. `request_id`) to every record of the current context."""
    structlog.contextvars.bind_contextvars(**fields)


def clear_context() -> None:
    """Forget all context fields of the current context."""
    structlog.contextvars.clear_contextvars()


@contextmanager
def job_log_file(path: Path) -> Iterator[None]:
    """Append every record logged inside the block to `path` (a job's `logs.jsonl`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = path.open("a", encoding="utf-8")
    token = _job_sink.set(sink)
    try:
        yield
    finally:
        _job_sink.reset(token)
        try:
            sink.close()
        except OSError as exc:  # the disk filled up: the records are on stderr too
            sys.stderr.write(json.dumps({"event": "job_log_close_failed", "error": str(exc)}))
            sys.stderr.write("\n")


class Log:
    """A category-scoped logger whose methods take JSON-typed fields and return nothing."""

    def __init__(self, category: Category, **bound: JsonValue) -> None:
        self._category = category
        self._bound: dict[str, JsonValue] = dict(bound)

    def bind(self, **fields: JsonValue) -> Log:
        """A logger with extra fields on every record."""
        return Log(self._category, **(self._bound | fields))

    def _emit(self, method: str, event: str, fields: MutableMapping[str, JsonValue]) -> None:
        logger = structlog.get_logger()
        getattr(logger, method)(event, category=self._category, **self._bound, **fields)

    def debug(self, event: str, **fields: JsonValue) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: JsonValue) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: JsonValue) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: JsonValue) -> None:
        self._emit("error", event, fields)

    def exception(self, event: str, **fields: JsonValue) -> None:
        """An error record with the current exception's traceback."""
        structlog.get_logger().error(
            event, category=self._category, exc_info=True, **self._bound, **fields
        )
