"""Structured JSON logging: one typed facade over structlog.

structlog hands over its bound loggers as `Any`: this module checks the one it gets for the
`log` method it calls (`_logger`), and nothing untyped leaves it. Every record carries
`timestamp`, `level`, `service`, `category`, `event`, plus whatever context is bound
(`request_id`, `job_id`).
While a job runs, its records are also appended to that job's `logs.jsonl`. Records of the
standard library's `logging` (uvicorn, asyncio, RQ, transformers, warnings) and uncaught
exceptions are rendered the same way, so that every line on stderr is one JSON object; the
libraries' records stay on the service's log (stderr), out of the job's.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, TextIO, TypeGuard, runtime_checkable

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger

from model_trainer.core.json_types import JsonValue

Category = Literal[
    "core", "api", "data", "tokenizer", "model", "training", "compute", "worker", "bot"
]

_job_sink: ContextVar[TextIO | None] = ContextVar("job_sink", default=None)
_secrets: list[str] = []
_configured = threading.Lock()
_write_lock = threading.Lock()
"""One line at a time on stderr and the job's log, whichever logger writes it."""
_service = "model-trainer"
REDACTED = "***"

_add_log_level: Processor = structlog.processors.add_log_level
"""structlog's processor, under structlog's own type for processors (its signature says `Any`
for the logger it ignores)."""
_Formatter: type[ProcessorFormatter] = ProcessorFormatter
"""structlog's class, named once: only its constructor's extra arguments are typed `Any`."""
# Python's own hooks (typeshed types them as returning `Any`), compared by identity only.
_DEFAULT_EXCEPTHOOK: object = sys.__excepthook__
_DEFAULT_UNRAISABLEHOOK: object = sys.__unraisablehook__


@runtime_checkable
class _LevelLogger(Protocol):
    """What this module calls on structlog's bound loggers: `FilteringBoundLogger.log`."""

    def log(self, level: int, event: str, /, **fields: object) -> object: ...


_LEVEL_LOGGERS: set[type[object]] = set()
"""Classes seen to fit `_LevelLogger`: a runtime protocol check costs tens of µs, so each class
is checked once."""


def _is_level_logger(value: object) -> TypeGuard[_LevelLogger]:
    if type(value) in _LEVEL_LOGGERS:
        return True
    if isinstance(value, _LevelLogger):
        _LEVEL_LOGGERS.add(type(value))
        return True
    return False


def _logger() -> _LevelLogger:
    """The logger structlog is configured to make: `structlog.get_logger()` hands over a lazy
    proxy typed `Any`, checked here for the `log` it passes on to the bound logger."""
    proxy: object = structlog.get_logger()
    if not _is_level_logger(proxy):
        raise TypeError(f"structlog is configured with a logger that cannot log: {proxy!r}")
    return proxy


class _TeeLogger:
    """Writes each rendered line to stderr and, inside a job, to the job's log file (unless
    it is `service_only`)."""

    def __init__(self, service_only: bool = False) -> None:
        self._service_only = service_only

    def msg(self, message: str) -> None:
        sink = None if self._service_only else _job_sink.get()
        with _write_lock:  # looked up at each call: a forked child has its own
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


def _new_locks_after_fork() -> None:
    """A forked child (an RQ work horse) starts with this module's locks as they were at the
    fork, held for ever if another thread of the parent (the resource sampler, logging a
    Redis failure) held them then: the child gets fresh ones."""
    global _configured, _write_lock
    _configured = threading.Lock()
    _write_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_locks_after_fork)


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


_LIBRARY_CATEGORIES: dict[str, Category] = {
    "uvicorn": "api",
    "fastapi": "api",
    "starlette": "api",
    "rq": "worker",
    "transformers": "model",
    "huggingface_hub": "model",
    "torch": "model",
    "tokenizers": "tokenizer",
}
"""Category of a standard-library record by the first part of its logger's name."""


def _add_logger_name(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        event["logger"] = record.name
        event.setdefault("category", _LIBRARY_CATEGORIES.get(record.name.split(".")[0], "core"))
    message = event.get("event")
    if isinstance(message, str):
        # `warnings` ends its text with a newline; nothing is gained by keeping it.
        event["event"] = message.rstrip()
    return event


class _JsonHandler(logging.Handler):
    """Standard-library records as JSON lines, on the service's log (stderr) only: what
    libraries say (a transformers warning during an evaluation) is the operator's concern,
    not a line of the job's own log, which holds the service's records of the job."""

    def __init__(self) -> None:
        super().__init__()
        self._out = _TeeLogger(service_only=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a library's bad format args must not kill its caller
            self.handleError(record)
            return
        self._out.msg(line)

    def handleError(self, record: logging.LogRecord) -> None:
        # logging's own report is a multi-line traceback on stderr; keep it one JSON line.
        exc = sys.exc_info()[1]
        message: object = record.msg
        note = {
            "event": "log_record_unrenderable",
            "level": "error",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "service": _service,
            "category": "core",
            "logger": record.name,
            "message": str(message),
            "error": repr(exc),
        }
        sys.stderr.write(json.dumps(_redact(None, "error", note)) + "\n")


_root_handler = _JsonHandler()


def _log_uncaught(
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    **fields: JsonValue,
) -> None:
    _logger().log(
        logging.CRITICAL,
        "uncaught_exception",
        category="core",
        exc_info=(exc_type, exc, tb),
        **fields,
    )


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    _log_uncaught(exc_type, exc, tb, thread="MainThread")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, SystemExit):
        return  # as the default hook does: a thread may end itself this way
    name = args.thread.name if args.thread is not None else None
    _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, thread=name)


def _unraisablehook(args: sys.UnraisableHookArgs) -> None:
    try:
        where = repr(args.object)
    except Exception:  # noqa: BLE001 - the object may be half torn down; its repr is optional
        where = "<unrepresentable>"
    _logger().log(
        logging.ERROR,
        "unraisable_exception",
        category="core",
        message=args.err_msg or "Exception ignored",
        object=where,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def _route_stdlib(level: int) -> None:
    """Render the standard library's records, warnings and uncaught exceptions as our JSON."""
    formatter = _Formatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            _add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _add_logger_name,
            _add_service,
            structlog.processors.format_exc_info,
            _redact,
        ],
        processors=[
            _Formatter.remove_processors_meta,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
    )
    _root_handler.setFormatter(formatter)
    root = logging.getLogger()
    if _root_handler not in root.handlers:
        # Other handlers (a test runner's capture) stay; libraries that look for an effective
        # handler before adding their own plain-text one (RQ, uvicorn) now find this one.
        root.addHandler(_root_handler)
    # Libraries' INFO chatter stays out, as it did when only logging's last resort printed.
    root.setLevel(max(level, logging.WARNING))
    logging.captureWarnings(True)
    # A hook someone else installed (a test runner's) keeps its place.
    hook: object = sys.excepthook
    if hook is _DEFAULT_EXCEPTHOOK:
        sys.excepthook = _excepthook
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = _thread_excepthook
    unraisable: object = sys.unraisablehook
    if unraisable is _DEFAULT_UNRAISABLEHOOK:
        sys.unraisablehook = _unraisablehook


def adopt_library_loggers(*names: str) -> None:
    """Send the named libraries' loggers to the root's JSON handler, not their own stderr."""
    loggers = [logging.getLogger(name) for name in names]
    loggers += [
        logger
        for key, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and key.startswith(tuple(f"{n}." for n in names))
    ]
    for logger in loggers:
        # Only plain stream handlers: file handlers and trace sinks a library set up stay.
        plain = [h for h in logger.handlers if type(h) is logging.StreamHandler]
        for handler in plain:
            logger.removeHandler(handler)
        if plain:
            logger.propagate = True


def configure_logging(level: str, service: str, secrets: list[str] | None = None) -> None:
    """Set up the processor chain once per process; later calls only update level/secrets."""
    global _service
    _service = service
    _secrets[:] = [s for s in (secrets or []) if s]
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    with _configured:
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                _add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
                _add_service,
                structlog.processors.format_exc_info,
                _redact,
                structlog.processors.JSONRenderer(sort_keys=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(threshold),
            logger_factory=_tee_factory,
            cache_logger_on_first_use=False,
        )
        _route_stdlib(threshold)


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
            note = {"event": "job_log_close_failed", "error": str(exc)}
            sys.stderr.write(json.dumps(note))
            sys.stderr.write("\n")


class Log:
    """A category-scoped logger whose methods take JSON-typed fields and return nothing."""

    def __init__(self, category: Category, **bound: JsonValue) -> None:
        self._category = category
        self._bound: dict[str, JsonValue] = dict(bound)

    def bind(self, **fields: JsonValue) -> Log:
        """A logger with extra fields on every record."""
        return Log(self._category, **(self._bound | fields))

    def _emit(self, level: int, event: str, fields: MutableMapping[str, JsonValue]) -> None:
        _logger().log(level, event, category=self._category, **self._bound, **fields)

    def debug(self, event: str, **fields: JsonValue) -> None:
        self._emit(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: JsonValue) -> None:
        self._emit(logging.INFO, event, fields)

    def warning(self, event: str, **fields: JsonValue) -> None:
        self._emit(logging.WARNING, event, fields)

    def error(self, event: str, **fields: JsonValue) -> None:
        self._emit(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: JsonValue) -> None:
        """An error record with the current exception's traceback."""
        _logger().log(
            logging.ERROR, event, category=self._category, exc_info=True, **self._bound, **fields
        )
