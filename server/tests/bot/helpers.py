"""A recording stand-in for Discord, the real stack the bot reads, and a bot to run against it."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from e2e.processes import READY_S, ProcessStack

from model_trainer.bot.api import API_KEY_HEADER, TrainerApi
from model_trainer.bot.core import BotOptions, StatusBot
from model_trainer.bot.format import event_alert
from model_trainer.bot.messages import Message
from model_trainer.bot.ratelimit import RatePolicy
from model_trainer.bot.watchlist import ALIVE_KEY, MARK_PREFIX, WATCHING_KEY, RunMark, advance
from model_trainer.client.views import QueuedView, RunView
from model_trainer.core.logging import Log
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from model_trainer.training.run.events import EVENT_ADAPTER, GLOBAL_CHANNEL, TrainingEvent

API_KEY = "bot-tests-api-key-7d1c40ab"
OWNER = 424_242_424_242_424_242
STRANGER = 101_010_101_010_101_010
FAST = RatePolicy(burst=2, period_s=0.2, linger_s=0.2, first_retry_s=0.2, max_retry_s=1.0)
"""A quick pace for tests that are not about pacing."""


@dataclass(frozen=True)
class Sent:
    at: float
    user_id: int
    message: Message

    def text(self) -> str:
        return "\n".join(self.message.texts())


class RecordingSink:
    """Records what would go to Discord, with when; fails like a lost connection on demand."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.refused = 0
        self._down_until = 0.0

    def disconnect_for(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds

    async def send(self, user_id: int, message: Message) -> None:
        await asyncio.sleep(0.005)  # a round trip, so that sends are not all in one instant
        if time.monotonic() < self._down_until:
            self.refused += 1
            raise ConnectionError("simulated: Discord unreachable")
        self.sent.append(Sent(time.monotonic(), user_id, message))

    def text(self) -> str:
        """Everything sent, in order, as one text."""
        return "\n".join(s.text() for s in self.sent)

    async def wait_for(self, what: Callable[[str], bool], timeout_s: float = 120) -> str:
        deadline = time.monotonic() + timeout_s
        while not what(self.text()):
            assert time.monotonic() < deadline, f"not received in time; got:\n{self.text()}"
            await asyncio.sleep(0.05)
        return self.text()

    def most_in_window(self, window_s: float) -> int:
        times = [s.at for s in self.sent]
        return max(
            (sum(1 for t in times[i:] if t - start < window_s) for i, start in enumerate(times)),
            default=0,
        )


def positions(text: str, *patterns: str) -> list[int]:
    """Where each pattern is first found in `text` (case-insensitive); -1 when absent."""
    found = []
    for pattern in patterns:
        match = re.search(pattern, text, re.IGNORECASE)
        found.append(match.start() if match else -1)
    return found


@dataclass
class Stack:
    """Redis, an API (with an API key) and a worker as processes, and a finished tokenizer."""

    processes: ProcessStack
    corpus: Path
    tokenizer_id: str = ""

    @property
    def redis_url(self) -> str:
        return self.processes.env["REDIS_URL"]

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.processes.base, headers={API_KEY_HEADER: API_KEY}, timeout=60
        )

    def wait_ready(self, timeout_s: float = READY_S) -> None:
        deadline = time.monotonic() + timeout_s
        with self.http() as http:
            while True:
                try:
                    if http.get("/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (
                    f"stack not ready; logs in {self.processes.work}"
                )
                time.sleep(0.2)

    def start_run(self, trainer: TrainerSpec, corpus_path: str = "story.txt") -> str:
        config = RunConfig(
            model=ModelSpec(size="nano", n_layer=2, n_head=2, n_embd=64, max_seq_len=32),
            data=DataSpec(tokenizer_id=self.tokenizer_id, corpus_path=corpus_path),
            trainer=trainer,
        )
        with self.http() as http:
            answer = http.post(
                "/runs/train",
                content=config.model_dump_json(),
                headers={"Content-Type": "application/json"},
            )
        assert answer.status_code == 202, answer.text
        run_id = QueuedView.model_validate_json(answer.content).run_id
        assert run_id is not None, answer.text
        return run_id

    def run(self, run_id: str) -> RunView:
        with self.http() as http:
            answer = http.get(f"/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        return RunView.model_validate_json(answer.content)

    def wait_run(
        self, run_id: str, until: set[str], at_step: int = 0, timeout_s: float = 300
    ) -> RunView:
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(run_id)
            if run.status.value in until or (at_step and run.progress.step >= at_step):
                return run
            assert time.monotonic() < deadline, f"{run_id} never reached {until}: {run.status}"
            time.sleep(0.1)


def quick_trainer(max_steps: int = 60, **changes: int) -> TrainerSpec:
    """A nano run of seconds: evaluations and checkpoints on the way."""
    spec = TrainerSpec(
        max_steps=max_steps,
        batch_size=8,
        warmup_steps=5,
        eval_interval=20,
        eval_steps=2,
        checkpoint_interval=30,
        log_interval=10,
        seed=7,
    )
    return spec.model_copy(update=changes)


def forget_bot_state(redis_url: str) -> None:
    """A first start: no watch list, no marks, no note of the bot having run."""
    store = RedisStore(redis_url)
    try:
        for run_id in store.set_members(WATCHING_KEY):
            store.delete(MARK_PREFIX + run_id)
        store.delete(WATCHING_KEY, ALIVE_KEY)
    finally:
        store.close()


@asynccontextmanager
async def running_bot(
    stack: Stack,
    sink: RecordingSink,
    auto_watch: bool = False,
    summary_interval_s: float = 600.0,
    rate: RatePolicy = FAST,
) -> AsyncIterator[StatusBot]:
    """The bot's core on the stack's Redis and API, started and caught up."""
    options = BotOptions(
        owner_id=OWNER,
        auto_watch=auto_watch,
        summary_interval_s=summary_interval_s,
        rate=rate,
        secrets=(API_KEY,),
    )
    store = RedisStore(stack.redis_url)
    api = TrainerApi(stack.processes.base, API_KEY)
    bot = StatusBot(options, sink, api, store, Log("bot"))
    await bot.start()
    try:
        await asyncio.wait_for(bot.ready.wait(), 60)
        yield bot
    finally:
        await bot.stop()
        await api.aclose()
        store.close()


def delivered_lines(sink: RecordingSink, run_id: str) -> list[str]:
    """The lines about `run_id` as the owner reads them: a batch's bullets, or an alert's
    description."""
    lines: list[str] = []
    for sent in sink.sent:
        message = sent.message
        parts = (
            message.description.split("\n")
            if message.title.endswith(" updates")
            else [message.description]
        )
        lines += [p.removeprefix("• ") for p in parts if f"`{run_id}`" in p]
    return lines


class Listener:
    """Every event published on `trainer:events` while it listens, as a subscriber hears it."""

    def __init__(self, redis_url: str, quiet_s: float) -> None:
        self.heard: list[TrainingEvent] = []
        self._store = RedisStore(redis_url)
        self._thread = threading.Thread(target=self._listen, args=(quiet_s,), daemon=True)
        self._thread.start()
        time.sleep(0.5)  # subscribed before anything is published

    def _listen(self, quiet_s: float) -> None:
        self.heard += [
            EVENT_ADAPTER.validate_json(raw)
            for raw in self._store.subscribe(GLOBAL_CHANNEL, quiet_s)
        ]

    def events_of(self, run_id: str) -> list[TrainingEvent]:
        self._thread.join(timeout=120)
        self._store.close()
        return [e for e in self.heard if e.request_id == run_id]


def expected_lines(events: list[TrainingEvent]) -> list[str]:
    """The alert lines the published events make, in order (progress makes none)."""
    lines: list[str] = []
    mark: RunMark | None = None
    for event in events:
        alert = event_alert(event, mark)
        mark = advance(mark, event)
        if alert is not None:
            lines.append(alert.line)
    return lines
