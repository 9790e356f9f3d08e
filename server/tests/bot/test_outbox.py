"""The pacing and batching parts on their own: the token bucket, how a queue becomes
messages within Discord's limits, newer summaries replacing waiting ones, and a message
Discord refuses (sent again without its chart; dropped, and logged, when refused bare)."""

from __future__ import annotations

import asyncio

from model_trainer.bot.messages import (
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    Field,
    Image,
    Message,
    fitted,
)
from model_trainer.bot.outbox import DeliveryFailed, Outbox, Outgoing, next_message
from model_trainer.bot.ratelimit import RatePolicy, TokenBucket
from model_trainer.bot.redact import Redactor
from model_trainer.core.logging import Log

from .helpers import FAST, RecordingSink


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _item(n: int, width: int = 60, image: bool = False) -> Outgoing:
    line = f"event {n:04d} " + "x" * (width - 11)
    picture = Image("c.png", b"png") if image else None
    return Outgoing(Message(f"alert {n}", line, image=picture), line)


def test_the_bucket_lets_a_burst_through_then_one_per_period() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RatePolicy(burst=2, period_s=2.0), clock)
    for _ in range(2):
        assert bucket.delay() == 0.0
        bucket.take()
    assert bucket.delay() == 2.0
    clock.now += 1.5
    assert abs(bucket.delay() - 0.5) < 1e-9
    clock.now += 10.0
    assert bucket.delay() == 0.0, "refilled, but never past the burst"
    bucket.take()
    bucket.take()
    assert bucket.delay() > 0
    assert RatePolicy().most_in(5.0) == 4


def test_one_item_goes_as_itself_many_as_batches_within_the_limits() -> None:
    single = [_item(1)]
    assert next_message(single) == (single[0].message, 1)
    queue = [_item(n, width=300) for n in range(500)]
    seen: list[str] = []
    while queue:
        message, taken = next_message(queue)
        assert len(message.description) <= DESCRIPTION_MAX and message.size() <= EMBED_TOTAL_MAX
        assert message.title == f"{taken} updates" or taken == 1
        seen += [line.removeprefix("• ")[:10] for line in message.description.split("\n")]
        del queue[:taken]
    assert seen == [f"event {n:04d}" for n in range(500)], "all, once, in order"


def test_a_chart_goes_alone_and_a_batch_stops_before_it() -> None:
    queue = [_item(1), _item(2), _item(3, image=True), _item(4)]
    batch, taken = next_message(queue)
    assert taken == 2 and batch.title == "2 updates"
    assert next_message(queue[2:]) == (queue[2].message, 1)


def test_fitted_trims_every_part_to_discord_limits() -> None:
    fields = tuple(Field("n" * 300, "v" * 2000) for _ in range(40))
    message = fitted(Message("t" * 400, "d" * 9000, fields, footer="f" * 3000))
    assert len(message.title) <= 256 and len(message.footer) <= 2048
    assert len(message.fields) <= FIELDS_MAX
    assert all(len(f.value) <= FIELD_VALUE_MAX for f in message.fields)
    assert message.size() <= EMBED_TOTAL_MAX


class RefusingSink(RecordingSink):
    """Refuses messages with an image, or every message (`bare`), as Discord does a bad one."""

    def __init__(self, bare: bool) -> None:
        super().__init__()
        self.bare = bare

    async def send(self, user_id: int, message: Message) -> None:
        if message.image is not None or (self.bare and message.title == "refused"):
            raise DeliveryFailed("HTTP 400 (50035)", rejected=True)
        await super().send(user_id, message)


def test_a_newer_summary_replaces_a_waiting_one_and_refused_messages_do_not_block() -> None:
    async def scenario() -> tuple[RefusingSink, list[Outgoing]]:
        sink = RefusingSink(bare=True)
        delivered: list[Outgoing] = []

        async def record(items: list[Outgoing]) -> None:
            delivered.extend(items)

        outbox = Outbox(1, sink, Redactor([]), FAST, record, Log("core"))
        chart = Image("c.png", b"png")
        outbox.put(Outgoing(Message("summary 1", image=chart), "s1", replaces="summary:r"))
        outbox.put(Outgoing(Message("summary 2", image=chart), "s2", replaces="summary:r"))
        outbox.put(Outgoing(Message("refused"), "refused"))
        task = asyncio.create_task(outbox.run())
        assert await outbox.drained(10)
        outbox.put(Outgoing(Message("after"), "after"))
        assert await outbox.drained(10)
        task.cancel()
        return sink, delivered

    sink, delivered = asyncio.run(scenario())
    titles = [s.message.title for s in sink.sent]
    assert titles == ["summary 2", "after"], "the chart-less summary, then the rest"
    assert sink.sent[0].message.image is None
    assert [d.line for d in delivered] == ["s2", "after"], "a refused message is not delivered"
