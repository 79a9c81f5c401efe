"""The collector's hop of the data-quality ledger (``pipelines/quality``): per-minute counts in Redis.

Counted in memory on the request path (a dict increment), flushed off it by a background task
every ``flush_interval_s`` with one pipelined ``HINCRBY`` per field. Redis keys (``<p>`` = prefix,
``<m>`` = epoch minute of the collector receive time)::

    <p>:cl:<m>   hash  "<event_type>|accepted"            events acknowledged by Kafka or spilled
                       "dead_letter|rejected:<reason>"    records sent to the dead-letter topic
                       "<event_type>|spilled"              records appended to the spill journal
                       "<event_type>|replayed"             journal records acknowledged on replay
                                                           (counted in the minute of the replay)

``received`` is ``accepted + rejected``: every event of a parsed batch ends in exactly one of
them (``ingest.py``). Counts are only taken once the records are acknowledged or spilled, the
moment the client gets its 2xx, so a 503 (the tracer keeps its events) counts nothing. A flush that
fails keeps its counts for the next one; counts are lost only when the process dies between
flushes (at most ``flush_interval_s`` of them), which the quality monitor sees as a collector gap.
Several replicas add into the same hashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.collector.logs import log

DEAD_LETTER = "dead_letter"
TTL_S = 8 * 24 * 3600  # the monitor persists windows to the lake well before this


class CollectorLedger:
    def __init__(
        self,
        client: Any,
        topics: Mapping[str, str],
        prefix: str = "aa",
        flush_interval_s: float = 1.0,
        clock: Any = time.time,
    ) -> None:
        """``client``: a ``redis.asyncio`` client; ``topics``: event type → topic name."""
        self.client = client
        self.prefix = prefix
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        self._event_type = {topic: event_type for event_type, topic in topics.items()}
        self._counts: Counter[tuple[int, str]] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._failing = False

    # ------------------------------------------------------------------ counting (request path)

    def batch(self, received_ms: int, accepted: Mapping[str, int], rejected: Mapping[str, int]) -> None:
        minute = received_ms // 60_000
        for event_type, n in accepted.items():
            self._counts[(minute, f"{event_type}|accepted")] += n
        for reason, n in rejected.items():
            self._counts[(minute, f"{DEAD_LETTER}|rejected:{reason}")] += n

    def records(self, stage: str, topics: Iterable[str]) -> None:
        """``spilled`` or ``replayed`` records, by the event type of their topic, in the current minute."""
        minute = int(self.clock() // 60)
        for topic in topics:
            self._counts[(minute, f"{self._event_type.get(topic, topic)}|{stage}")] += 1

    # ------------------------------------------------------------------ flushing (background)

    async def flush(self) -> int:
        counts, self._counts = self._counts, Counter()
        if not counts:
            return 0
        try:
            pipe = self.client.pipeline(transaction=False)
            for (minute, field), n in counts.items():
                pipe.hincrby(f"{self.prefix}:cl:{minute}", field, n)
            for minute in {m for m, _ in counts}:
                pipe.expire(f"{self.prefix}:cl:{minute}", TTL_S)
            await pipe.execute()
        except Exception as exc:  # Redis down: keep the counts for the next flush
            self._counts.update(counts)
            if not self._failing:
                log("ledger_flush_failed", level="warning", error=f"{type(exc).__name__}: {exc}")
            self._failing = True
            return 0
        if self._failing:
            log("ledger_flush_recovered")
        self._failing = False
        return sum(counts.values())

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.flush_interval_s)
            await self.flush()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Let a flush in progress finish (never cancel it: its counts are already taken out of
        memory and may be half-sent), then flush what came after it."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
        with contextlib.suppress(Exception):
            await self.client.aclose()


def build(redis_url: str, topics: Mapping[str, str], prefix: str, flush_interval_s: float) -> CollectorLedger:
    import redis.asyncio

    client = redis.asyncio.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    return CollectorLedger(client, topics, prefix, flush_interval_s)
