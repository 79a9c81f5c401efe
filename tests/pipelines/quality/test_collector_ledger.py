"""The collector's ledger hop: per-minute counts in Redis, taken off the request path."""

import asyncio
import uuid
from collections import Counter

import pytest
import redis

from pipelines.contracts.samples import one_of_each
from tests.pipelines.collector.conftest import make_config, run_async, run_collector, wire

pytestmark = pytest.mark.engines


def _ledger(client: redis.Redis, prefix: str) -> Counter:
    total: Counter = Counter()
    for key in client.scan_iter(match=f"{prefix}:cl:*"):
        assert client.ttl(key) > 0
        for f, n in dict(client.hgetall(key)).items():
            total[f.decode() if isinstance(f, bytes) else str(f)] += int(n)
    return total


def test_collector_counts_accepted_and_rejected_events_per_minute_in_redis(
    local_engines, collector_codec, topics, tmp_path
):
    good = wire(one_of_each()["page_view"], "page_view")
    click = wire(one_of_each()["affiliate_click"], "affiliate_click")
    wrong = {**good, "event_id": str(uuid.uuid4()), "page_view_id": 42}
    unknown = {**good, "event_id": str(uuid.uuid4()), "event_type": "page_vew"}
    cfg = make_config(
        tmp_path,
        local_engines.kafka_bootstrap,
        topics,
        ledger_redis_url=local_engines.redis_url,
        ledger_redis_prefix=topics,
        ledger_flush_interval_s=0.1,
    )

    async def body(c):
        r1 = await c.post_events([good, click, wrong, unknown])
        r2 = await c.client.post("/v1/events", content=b'{"events": [')
        return r1.json(), r2.status_code

    assert run_collector(cfg, collector_codec, body) == ({"accepted": 2, "rejected": 2}, 400)
    got = _ledger(redis.Redis.from_url(local_engines.redis_url), topics)
    assert got == {
        "page_view|accepted": 1,
        "affiliate_click|accepted": 1,
        "dead_letter|rejected:schema_violation": 1,
        "dead_letter|rejected:unknown_event_type": 1,
        "dead_letter|rejected:unparseable": 1,
    }


def test_collector_counts_spilled_records_when_kafka_is_unreachable(local_engines, collector_codec, topics, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    good = wire(one_of_each()["page_view"], "page_view")
    cfg = make_config(
        tmp_path,
        f"127.0.0.1:{closed}",  # nothing listens: the first request fails over to the journal
        topics,
        ledger_redis_url=local_engines.redis_url,
        ledger_redis_prefix=topics,
        delivery_timeout_ms=1000,
        drain_timeout_s=1,
    )

    async def body(c):
        first = await c.post_events([good])
        second = await c.post_events([{**good, "event_id": str(uuid.uuid4())}])
        return first.status_code, second.status_code

    assert run_collector(cfg, collector_codec, body) == (200, 200)
    got = _ledger(redis.Redis.from_url(local_engines.redis_url), topics)
    assert got == {"page_view|accepted": 2, "page_view|spilled": 2}


def test_collector_counts_records_replayed_from_its_journal(local_engines, collector_codec, topics, tmp_path):
    import asyncio
    import time

    good = wire(one_of_each()["page_view"], "page_view")
    cfg = make_config(
        tmp_path,
        local_engines.kafka_bootstrap,
        topics,
        ledger_redis_url=local_engines.redis_url,
        ledger_redis_prefix=topics,
    )

    async def body(c):
        c.app.delivery.broker_up = False  # as after a failed produce: requests spill until the probe sees Kafka
        r = await c.post_events([good, {**good, "event_id": str(uuid.uuid4())}])
        deadline = time.monotonic() + 20
        while not c.app.delivery.journal.is_empty():  # the probe finds the broker, the replayer drains
            assert time.monotonic() < deadline, "the journal was never replayed"
            await asyncio.sleep(0.1)
        return r.status_code

    assert run_collector(cfg, collector_codec, body) == 200
    got = _ledger(redis.Redis.from_url(local_engines.redis_url), topics)
    assert got == {"page_view|accepted": 2, "page_view|spilled": 2, "page_view|replayed": 2}


class _SlowPipeline:
    """A redis.asyncio pipeline whose execute takes a while, like a Redis round trip under load."""

    def __init__(self, store: Counter, started: "asyncio.Event") -> None:
        self.store, self.started, self.ops = store, started, []

    def hincrby(self, key: str, field: str, n: int) -> None:
        self.ops.append((key, field, n))

    def expire(self, key: str, ttl: int) -> None:
        pass

    async def execute(self) -> None:
        self.started.set()
        await asyncio.sleep(0.2)
        for key, field, n in self.ops:
            self.store[f"{key}|{field}"] += n


class _SlowRedis:
    def __init__(self) -> None:
        self.store: Counter = Counter()
        self.flushing = asyncio.Event()

    def pipeline(self, transaction: bool = False) -> _SlowPipeline:
        return _SlowPipeline(self.store, self.flushing)

    async def aclose(self) -> None:
        pass


def test_stopping_during_a_flush_loses_no_counts():
    """stop() used to cancel the flush loop; a cancel landing while a flush awaited Redis dropped the
    counts that flush had already taken out of memory (seen once in CI as an empty ledger)."""
    from pipelines.collector.ledger import CollectorLedger

    async def main() -> Counter:
        client = _SlowRedis()
        ledger = CollectorLedger(client, {"page_view": "t.page_view"}, prefix="p", flush_interval_s=0.01)
        await ledger.start()
        ledger.batch(60_000, {"page_view": 3}, {"schema_violation": 1})
        await asyncio.wait_for(client.flushing.wait(), 5)  # the loop's flush is now inside execute()
        ledger.batch(60_000, {"page_view": 2}, {})  # counted after that flush took its snapshot
        await ledger.stop()
        return client.store

    assert run_async(main()) == {"p:cl:1|page_view|accepted": 5, "p:cl:1|dead_letter|rejected:schema_violation": 1}
