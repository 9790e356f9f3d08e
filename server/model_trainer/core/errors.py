"""Typed application errors.

    AppError                  every error we raise on purpose carries an ErrorCode
    ├── (code -> HTTP status)   the API maps codes to statuses in one table below
    └── (code -> FailureClass)  jobs use the class to decide about retries

Third-party exceptions are translated where the library is called, never further out.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable, machine-readable error codes that appear in every error body."""

    CONFIG_INVALID = "CONFIG_INVALID"
    BODY_NOT_JSON = "BODY_NOT_JSON"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    TOKENS_PER_STEP_LIMIT_EXCEEDED = "TOKENS_PER_STEP_LIMIT_EXCEEDED"
    PARAMETER_LIMIT_EXCEEDED = "PARAMETER_LIMIT_EXCEEDED"
    DEVICE_UNAVAILABLE = "DEVICE_UNAVAILABLE"
    TRAINING_DIVERGED = "TRAINING_DIVERGED"
    PATH_OUTSIDE_ROOT = "PATH_OUTSIDE_ROOT"
    DATA_NOT_FOUND = "DATA_NOT_FOUND"
    DATA_INVALID = "DATA_INVALID"
    CORPUS_EMPTY = "CORPUS_EMPTY"
    CORPUS_NOT_UTF8 = "CORPUS_NOT_UTF8"
    TOKENIZER_NOT_FOUND = "TOKENIZER_NOT_FOUND"
    """A tokenizer that a body or a run names is missing; an unknown id in the URL, whatever
    its kind, is `NOT_FOUND`."""
    TOKENIZER_NOT_READY = "TOKENIZER_NOT_READY"
    TOKENIZER_TRAIN_FAILED = "TOKENIZER_TRAIN_FAILED"
    TOKENIZER_MISMATCH = "TOKENIZER_MISMATCH"
    """A run that fine-tunes weights names another tokenizer than theirs."""
    TOKENIZER_IN_USE = "TOKENIZER_IN_USE"
    """A tokenizer that runs use cannot be deleted before they are."""
    TOKENIZER_ACTIVE = "TOKENIZER_ACTIVE"
    """The tokenizer's own job is still queued or running: what was asked needs it ended."""
    UNKNOWN_BACKEND = "UNKNOWN_BACKEND"
    PLUGIN_BROKEN = "PLUGIN_BROKEN"
    PLUGIN_CONFLICT = "PLUGIN_CONFLICT"
    NOT_FOUND = "NOT_FOUND"
    """The tokenizer, run, evaluation, file or page the URL names does not exist."""
    RUN_NOT_ACTIVE = "RUN_NOT_ACTIVE"
    RUN_ACTIVE = "RUN_ACTIVE"
    """The run is still queued, running or stalled: what was asked needs it ended."""
    RUN_NOT_READY = "RUN_NOT_READY"
    MODEL_TRAIN_FAILED = "MODEL_TRAIN_FAILED"
    UNAUTHORIZED = "UNAUTHORIZED"
    HOST_NOT_ALLOWED = "HOST_NOT_ALLOWED"
    UNSUPPORTED_CONTENT_ENCODING = "UNSUPPORTED_CONTENT_ENCODING"
    RANGE_INVALID = "RANGE_INVALID"
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
    QUEUE_UNAVAILABLE = "QUEUE_UNAVAILABLE"
    SERVER_BUSY = "SERVER_BUSY"
    QUEUE_FULL = "QUEUE_FULL"
    NOT_READY = "NOT_READY"
    STORAGE_FAILED = "STORAGE_FAILED"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    """The shared artifact store (object storage) did not answer, after retries."""
    WORKER_LOST = "WORKER_LOST"
    RANK_FAILED = "RANK_FAILED"
    """A process of a run in several processes died or could not start; the group ended."""
    LEASE_LOST = "LEASE_LOST"
    CHECKPOINT_MISMATCH = "CHECKPOINT_MISMATCH"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class FailureClass(StrEnum):
    """Whether retrying could help: never for bad input, a few times for transient faults."""

    USER_INPUT = "USER_INPUT"
    TRANSIENT = "TRANSIENT"
    FATAL = "FATAL"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.CONFIG_INVALID: 422,
    ErrorCode.BODY_NOT_JSON: 400,
    ErrorCode.MEMORY_LIMIT_EXCEEDED: 422,
    ErrorCode.TOKENS_PER_STEP_LIMIT_EXCEEDED: 422,
    ErrorCode.PARAMETER_LIMIT_EXCEEDED: 422,
    ErrorCode.DEVICE_UNAVAILABLE: 422,
    ErrorCode.TRAINING_DIVERGED: 422,
    ErrorCode.PATH_OUTSIDE_ROOT: 400,
    ErrorCode.DATA_NOT_FOUND: 404,
    ErrorCode.DATA_INVALID: 400,
    ErrorCode.CORPUS_EMPTY: 400,
    ErrorCode.CORPUS_NOT_UTF8: 400,
    ErrorCode.TOKENIZER_NOT_FOUND: 404,
    ErrorCode.TOKENIZER_NOT_READY: 409,
    ErrorCode.TOKENIZER_TRAIN_FAILED: 500,
    ErrorCode.TOKENIZER_MISMATCH: 422,
    ErrorCode.TOKENIZER_IN_USE: 409,
    ErrorCode.TOKENIZER_ACTIVE: 409,
    ErrorCode.UNKNOWN_BACKEND: 422,
    ErrorCode.PLUGIN_BROKEN: 500,
    ErrorCode.PLUGIN_CONFLICT: 500,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.RUN_NOT_ACTIVE: 409,
    ErrorCode.RUN_ACTIVE: 409,
    ErrorCode.RUN_NOT_READY: 409,
    ErrorCode.MODEL_TRAIN_FAILED: 500,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.HOST_NOT_ALLOWED: 421,
    ErrorCode.UNSUPPORTED_CONTENT_ENCODING: 415,
    ErrorCode.RANGE_INVALID: 400,
    ErrorCode.RANGE_NOT_SATISFIABLE: 416,
    ErrorCode.QUEUE_UNAVAILABLE: 503,
    ErrorCode.SERVER_BUSY: 503,
    ErrorCode.QUEUE_FULL: 429,
    ErrorCode.NOT_READY: 503,
    ErrorCode.STORAGE_FAILED: 507,
    ErrorCode.STORE_UNAVAILABLE: 503,
    ErrorCode.WORKER_LOST: 500,
    ErrorCode.RANK_FAILED: 500,
    ErrorCode.LEASE_LOST: 409,
    ErrorCode.CHECKPOINT_MISMATCH: 409,
    ErrorCode.INTERNAL_ERROR: 500,
}

FAILURE_CLASS: dict[ErrorCode, FailureClass] = {
    ErrorCode.QUEUE_UNAVAILABLE: FailureClass.TRANSIENT,
    ErrorCode.SERVER_BUSY: FailureClass.TRANSIENT,
    ErrorCode.NOT_READY: FailureClass.TRANSIENT,
    ErrorCode.STORAGE_FAILED: FailureClass.FATAL,
    ErrorCode.STORE_UNAVAILABLE: FailureClass.TRANSIENT,
    ErrorCode.WORKER_LOST: FailureClass.TRANSIENT,
    ErrorCode.RANK_FAILED: FailureClass.TRANSIENT,
    ErrorCode.LEASE_LOST: FailureClass.TRANSIENT,
    ErrorCode.INTERNAL_ERROR: FailureClass.FATAL,
    ErrorCode.TOKENIZER_TRAIN_FAILED: FailureClass.FATAL,
    ErrorCode.PLUGIN_BROKEN: FailureClass.FATAL,
    ErrorCode.PLUGIN_CONFLICT: FailureClass.FATAL,
}


class AppError(Exception):
    """An error we raise on purpose: a code, a message for people, and the failure class."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        detail: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        """What only the logs may hear (addresses, library messages), never a response."""
        self.retry_after_s = retry_after_s
        """When to try again (the `Retry-After` header of a busy answer)."""

    @property
    def http_status(self) -> int:
        """The HTTP status the API answers with."""
        return HTTP_STATUS[self.code]

    @property
    def failure_class(self) -> FailureClass:
        """Bad input unless the code says otherwise."""
        return FAILURE_CLASS.get(self.code, FailureClass.USER_INPUT)

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.code}: {self.message}{detail}"
