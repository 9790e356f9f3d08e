"""Settings from the environment, `.env` and defaults; the names here are public."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model_trainer.core.contracts.queue import Capability

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
HostName = Annotated[str, Field(pattern=r"^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$")]
"""A name as the `Host` header carries it, without the port: `api`, `10.0.0.5`, `[fd00::5]`."""


def _default_threads() -> int:
    """Every core the process may use, at least one."""
    return max(1, len(os.sched_getaffinity(0)))


PACKAGE_UI_DIST = Path(__file__).resolve().parents[1] / "ui_dist"
"""A dashboard build shipped inside the installed package."""
CHECKOUT_UI_DIST = Path(__file__).resolve().parents[3] / "ui" / "dist"
"""Where `npm run build` puts the dashboard when running from a checkout."""


def _default_ui_dist() -> Path:
    """The package's own build if it has one, else the checkout's `ui/dist`."""
    return PACKAGE_UI_DIST if PACKAGE_UI_DIST.is_dir() else CHECKOUT_UI_DIST


class SecuritySettings(BaseModel):
    """API access; without a key the API is open, to requests addressed to this machine."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    api_key: str | None = None
    """When set, every endpoint except `/healthz`, the dashboard's files (`/ui/`) and the
    documentation pages (`/docs`, `/redoc`) needs this value in the `X-Api-Key` header."""
    allowed_hosts: list[HostName] = []
    """Host names (no port) a keyless API answers besides `localhost`, `127.0.0.1` and
    `[::1]`, e.g. `["api", "trainer.lan"]`; requests naming any other `Host` are refused
    (421), so that no web page can reach a keyless API by DNS rebinding. With a key set, every
    host is answered."""


_NAMES: TypeAdapter[list[str]] = TypeAdapter(list[str])


class WorkerSettings(BaseModel):
    """How a worker process runs jobs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    threads: Annotated[int, Field(ge=1, le=512)] = _default_threads()
    """CPU threads a worker gives each job (torch and the tokenizer trainers)."""
    queue_name: str = "model-trainer"
    """The base name of the RQ queues the API fills and the workers take jobs from; both must
    agree. CPU work (tokenizers, evaluations, runs on `cpu`, `auto` or `mps`) goes on this
    queue itself, runs on `cuda` on `<queue_name>-cuda`."""
    queues: Annotated[list[Capability] | None, NoDecode] = None
    """What this worker serves: `cpu`, `cuda` or both, comma-separated (`cpu,cuda`) or as
    JSON (`["cpu", "cuda"]`). Unset: `cpu`, plus `cuda` when the machine has an NVIDIA GPU.
    A worker told to serve `cuda` on a machine without one refuses to start."""
    heartbeat_interval_s: Annotated[float, Field(gt=0, le=300)] = 2.0
    """Seconds between a running job's heartbeats."""
    heartbeat_ttl_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    """Seconds of heartbeat silence after which a job's worker counts as dead."""
    reconcile_interval_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """Seconds between a worker's sweeps for jobs whose worker died, to start them again."""
    resource_interval_s: Annotated[float, Field(ge=0.5, le=600)] = 10.0
    """Seconds between a worker's samples of its machine's CPU, memory and GPU use; `GET
    /workers` shows the last hour of them."""
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    """Starts of one job (after worker deaths) before it is marked failed."""
    transient_retries: Annotated[int, Field(ge=0, le=100)] = 3
    """Retries, from the last checkpoint, of a job that failed for a transient reason."""
    retry_backoff_s: Annotated[float, Field(ge=0, le=600)] = 2.0
    """Seconds before the first such retry; the wait doubles with each one."""
    nice: Annotated[int, Field(ge=0, le=19)] = 10
    """How far the worker lowers its CPU priority: on a shared machine, training yields the
    cores to the API (and the rest) whenever they want them, and keeps them otherwise."""
    stop_grace_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """How long a stopping worker (SIGTERM) lets its job finish the step, save and queue
    itself again before killing it; set it below your supervisor's own kill timeout."""

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: object) -> object:
        """`cpu,cuda` as well as JSON; blank means unset (the machine decides)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        if text.startswith("["):
            try:
                return _NAMES.validate_json(text)
            except ValidationError:
                raise ValueError('not a JSON list of names, e.g. ["cpu", "cuda"]') from None
        return [part.strip() for part in text.split(",")]

    @field_validator("queues")
    @classmethod
    def _distinct_queues(cls, value: list[Capability] | None) -> list[Capability] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("name at least one of cpu, cuda (or leave it unset)")
        distinct: list[Capability] = []
        for capability in value:  # `cpu,cpu` means cpu; the order is kept
            if capability not in distinct:
                distinct.append(capability)
        return distinct


class PluginSettings(BaseModel):
    """Which distribution provides a plugin name that two installed packages claim."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    prefer: dict[str, str] = {}
    """Plugin name -> distribution, e.g. `PLUGINS__PREFER='{"wordpiece": "my-tokenizers"}'`."""


class ApiSettings(BaseModel):
    """How the API process shares itself between cheap requests and heavy ones."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    inference_workers: Annotated[int, Field(ge=1, le=64)] = 2
    """Generation (and, in a pool of their own, encode) requests computed at once."""
    inference_queue: Annotated[int, Field(ge=0, le=10_000)] = 8
    """Requests that may wait for a free worker; past that they are refused with 503."""
    inference_threads: Annotated[int, Field(ge=1, le=512)] = max(1, _default_threads() // 2)
    """torch threads of the API process: the other cores stay free for serving requests."""


class LimitSettings(BaseModel):
    """Ceilings that stop one request from exhausting the machine."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_vocab_size: Annotated[int, Field(ge=2)] = 1_000_000
    """Largest vocabulary a tokenizer job may ask for."""
    max_steps: Annotated[int, Field(ge=1)] = 10_000_000
    """Most optimizer steps one training run may ask for."""
    max_parameters: Annotated[int, Field(ge=1)] = 2_000_000_000
    """Most parameters a requested model may have."""
    max_seq_len: Annotated[int, Field(ge=2)] = 32_768
    """Longest context (tokens) a requested model may have."""
    max_new_tokens: Annotated[int, Field(ge=1)] = 4096
    """Most tokens one generation request may ask for."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1 << 20
    """Largest request body the API reads; bigger ones answer 413."""
    max_tokens_per_step: Annotated[int, Field(ge=1)] = 1 << 22
    """Tokens one optimizer step may read (batch_size x grad_accum_steps x max_seq_len):
    4 Mi, eight times nanoGPT's GPT-2 recipe; a step bigger than that runs for hours between
    checks for cancellation."""
    memory_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    """Share of a worker's memory (RAM, or the GPU's) that one run's estimate may take."""
    max_queued_jobs: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    """Jobs (tokenizers, runs, evaluations) that may wait for a worker; past that new work is
    refused with 429 `QUEUE_FULL` until the workers catch up."""


class DiscordSettings(BaseModel):
    """The DM-only status bot (`model-trainer bot`); without a token it refuses to start."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    token: SecretStr | None = None
    """The bot application's token (Discord developer portal, Bot tab)."""
    owner_id: Annotated[int, Field(ge=0)] | None = None
    """Your Discord user id: the only person the bot answers and messages."""
    auto_watch: bool = False
    """Watch every new run without being asked."""
    summary_interval_s: Annotated[float, Field(ge=10, le=86_400)] = 600.0
    """How often a watched, running run gets a progress summary with a loss chart."""


class StoreSettings(BaseModel):
    """How a process talks to an object store behind `ARTIFACTS_ROOT=s3://...`."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    attempts: Annotated[int, Field(ge=1, le=100)] = 8
    """Tries of one upload or download before it fails `STORE_UNAVAILABLE` (8 tries wait
    about 40 s in all)."""
    first_delay_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    """The wait after the first failed try; each later wait doubles."""
    max_delay_s: Annotated[float, Field(ge=0, le=600)] = 8.0
    """No single wait between tries is longer than this."""
    refresh_s: Annotated[float, Field(ge=0, le=3600)] = 1.0
    """How long the API trusts the manifest it last fetched before asking the store again."""
    api_attempts: Annotated[int, Field(ge=1, le=100)] = 2
    """Tries the API makes for a request that needs the store: it answers 503
    `STORE_UNAVAILABLE` within seconds rather than hold the request (and a thread) for the
    workers' whole budget."""


STORE_SCHEME = "s3://"
"""`ARTIFACTS_ROOT` in object storage: `s3://bucket/prefix`."""


class Settings(BaseSettings):
    """Process-wide configuration; env names are `REDIS_URL`, `WORKER__THREADS`, ..."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_nested_delimiter="__",
        extra="ignore",
        use_attribute_docstrings=True,
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    """The Redis that holds the queue, job state and events (a password may go in the URL)."""
    api_base_url: str = "http://127.0.0.1:8000"
    """Where clients (the CLI, the Discord bot) reach the API."""
    artifacts_root: Path = Path("artifacts")
    """Where tokenizers, runs and their logs are written: a folder, or object storage as
    `s3://bucket/prefix` (configured by `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID` and
    `AWS_SECRET_ACCESS_KEY`), which every API and worker process then shares."""
    artifacts_cache: Path = Path("artifacts-cache")
    """With `ARTIFACTS_ROOT` in object storage: this process's local copy of what it reads and
    writes (encoded datasets stay here only). Give each process its own."""
    store: StoreSettings = StoreSettings()
    """Retries and refreshes of the object store."""
    corpus_root: Path = Path("corpus")
    """The only folder training text is read from; request paths are relative to it."""
    models_root: Path = Path("models")
    """The only folder Hugging Face model folders are read from, to fine-tune
    (`model.init_from.path` is relative to it)."""
    ui_dist: Annotated[Path, Field(default_factory=_default_ui_dist)]
    """The built dashboard the API serves at `/ui/` (none there: `/ui/` answers 404)."""
    log_level: LogLevel = "INFO"
    """Lowest level logged: `DEBUG`, `INFO`, `WARNING` or `ERROR`."""
    service_name: str = "model-trainer"
    """A name for this installation; accepted, but no process reads it yet."""
    security: SecuritySettings = SecuritySettings()
    """API access."""
    api: ApiSettings = ApiSettings()
    """The API process's inference pools."""
    plugins: PluginSettings = PluginSettings()
    """Tokenizer and model plugins."""
    worker: WorkerSettings = WorkerSettings()
    """Worker processes."""
    limits: LimitSettings = LimitSettings()
    """Ceilings per request."""
    discord: DiscordSettings = DiscordSettings()
    """The Discord status bot."""

    @property
    def artifacts_url(self) -> str | None:
        """`s3://bucket/prefix` when artifacts live in object storage, else None."""
        # A `Path` keeps one slash of `s3://`; the URL is rebuilt from it.
        root = self.artifacts_root.as_posix()
        scheme = STORE_SCHEME.removesuffix("/")
        if root.startswith(scheme) and not root.startswith(STORE_SCHEME):
            return STORE_SCHEME + root.removeprefix(scheme).strip("/")
        return None

    @property
    def artifacts_folder(self) -> Path:
        """The local folder jobs read and write: the artifacts root itself, or this process's
        cache of the object store."""
        return self.artifacts_cache if self.artifacts_url else self.artifacts_root
