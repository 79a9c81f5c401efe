"""Delivery: Kafka acknowledgements awaited from asyncio, the spill journal, and its replayer.

A request's records are produced with ``acks=all`` on an idempotent producer and the request
awaits their delivery reports (librdkafka's ``message.timeout.ms`` is the only timeout, so a record
is never both spilled and later delivered by the producer). Records whose delivery fails are
appended to the journal and fsync'd; the request succeeds either way. While the journal holds
anything, or while the broker is known to be down, new records go straight to the journal so
their order behind the spilled ones is kept, and requests do not wait for a timeout. A background
task replays the journal in order once the probe sees the broker, and commits only what Kafka
acknowledged. Past the journal cap :class:`~pipelines.collector.journal.JournalFullError` propagates
and the caller answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from pipelines.collector.journal import Entry, Journal, JournalFullError
from pipelines.collector.ledger import CollectorLedger
from pipelines.collector.logs import log
from pipelines.collector.metrics import Metrics

__all__ = ["Delivery", "JournalFullError", "Outcome"]


@dataclass
class Outcome:
    delivered: int = 0
    spilled: int = 0


@dataclass
class _Pending:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[int]]
    remaining: int
    failed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _settle(pending: _Pending) -> None:
    if not pending.future.done():
        pending.future.set_result(pending.failed)


class Delivery:
    def __init__(
        self,
        producer_config: dict[str, Any],
        journal: Journal,
        metrics: Metrics,
        probe_interval_s: float = 1.0,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self._config = {
            "acks": "all",
            "enable.idempotence": True,
            "max.in.flight.requests.per.connection": 5,
            "reconnect.backoff.max.ms": 1000,
            "log_level": 2,  # errors reach error_cb and our JSON logs; librdkafka lines would be noise
            **producer_config,
            "error_cb": self._on_error,
        }
        self.journal = journal
        self.metrics = metrics
        self.probe_interval_s = probe_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.producer = Producer(self._config)
        self.broker_up = True
        self.draining = False
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.metrics.journal_bytes.set(journal.pending_bytes)
        self.ledger: CollectorLedger | None = None  # set by service.build when the quality ledger is on

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
        self._poller.start()
        self._tasks = [asyncio.create_task(self._probe_loop()), asyncio.create_task(self._replay_loop())]
        if not self.journal.is_empty():
            log("journal_found", pending_bytes=self.journal.pending_bytes)

    async def stop(self) -> None:
        """Drain: wait for delivery reports of everything produced, then stop the background work.
        Undelivered records were already spilled by their requests; the journal stays on disk."""
        self.draining = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        remaining = await asyncio.to_thread(self.producer.flush, self.drain_timeout_s)
        self._stop.set()
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join, 5)
        log("delivery_stopped", undelivered=remaining, journal_bytes=self.journal.pending_bytes)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN and self.broker_up:
            self.broker_up = False
            log("broker_down", error=err.str())
        elif err.fatal():
            log("producer_fatal", error=err.str())

    def ready(self) -> tuple[bool, list[str]]:
        problems = []
        if self.draining:
            problems.append("shutting down")
        if not self.broker_up:
            problems.append("kafka unreachable")
        pending = self.journal.pending_bytes
        if pending >= self.journal.max_bytes * 0.9:
            problems.append(f"journal at {pending} of {self.journal.max_bytes} bytes")
        return not problems, problems

    # ------------------------------------------------------------------ produce

    async def _produce(self, entries: list[Entry]) -> tuple[list[int], list[str]]:
        """Produce and await every delivery report; return the indexes that failed and why."""
        loop = asyncio.get_running_loop()
        pending = _Pending(loop, loop.create_future(), len(entries))

        def report(i: int) -> Any:
            def on_delivery(err: KafkaError | None, _msg: Any) -> None:
                if err is not None:
                    pending.failed.append(i)
                    if len(pending.errors) < 3:
                        pending.errors.append(err.str())
                pending.remaining -= 1
                if pending.remaining == 0:
                    pending.loop.call_soon_threadsafe(_settle, pending)

            return on_delivery

        produce = self.producer.produce
        for i, e in enumerate(entries):
            try:
                produce(e.topic, e.value, e.key, on_delivery=report(i))
            except (BufferError, KafkaException) as exc:
                pending.failed.append(i)
                pending.errors.append(str(exc))
                pending.remaining -= 1
        if pending.remaining == 0:
            _settle(pending)
        failed = await pending.future
        return failed, pending.errors

    async def deliver(self, entries: list[Entry]) -> Outcome:
        """Kafka-acknowledged or fsync'd in the journal when this returns; JournalFullError otherwise."""
        if not entries:
            return Outcome()
        if not self.broker_up or not self.journal.is_empty():
            await self._spill(entries)
            return Outcome(spilled=len(entries))
        t0 = time.perf_counter()
        failed, errors = await self._produce(entries)
        self.metrics.produce_latency.observe(time.perf_counter() - t0)
        if not failed:
            return Outcome(delivered=len(entries))
        if self.broker_up:
            self.broker_up = False
            log("broker_down", error="; ".join(errors), failed=len(failed))
        failed_set = set(failed)
        await self._spill([e for i, e in enumerate(entries) if i in failed_set])
        return Outcome(delivered=len(entries) - len(failed), spilled=len(failed))

    async def _spill(self, entries: list[Entry]) -> None:
        await asyncio.to_thread(self.journal.append, entries)
        self.metrics.spilled.inc(len(entries))
        if self.ledger is not None:
            self.ledger.records("spilled", (e.topic for e in entries))
        self.metrics.journal_bytes.set(self.journal.pending_bytes)
        self._wake.set()

    # ------------------------------------------------------------------ background

    async def _probe_loop(self) -> None:
        while not self.draining:
            if not self.broker_up:
                try:
                    await asyncio.to_thread(self.producer.list_topics, None, min(2.0, self.probe_interval_s * 2))
                except KafkaException:
                    pass
                else:
                    self.broker_up = True
                    log("broker_up")
                    self._wake.set()
            await asyncio.sleep(self.probe_interval_s)

    async def _sleep_or_wake(self, seconds: float) -> None:
        # asyncio.wait, not wait_for: wait_for can swallow a cancellation on Python 3.11
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            waiter.cancel()

    async def _replay_loop(self) -> None:
        backoff = self.probe_interval_s
        while not self.draining:
            if self.journal.is_empty() or not self.broker_up:
                self._wake.clear()
                await self._sleep_or_wake(self.probe_interval_s)
                continue
            batch = await asyncio.to_thread(self.journal.read, 2000)
            if not batch:
                continue
            failed, errors = await self._produce([e for e, _ in batch])
            first_failed = min(failed) if failed else len(batch)
            if first_failed:
                await asyncio.to_thread(self.journal.commit, batch[first_failed - 1][1])
                self.metrics.replayed.inc(first_failed)
                if self.ledger is not None:
                    self.ledger.records("replayed", (e.topic for e, _ in batch[:first_failed]))
                self.metrics.journal_bytes.set(self.journal.pending_bytes)
            if failed:
                # later frames that did arrive are sent again next time: the stream dedups by event_id
                self.broker_up = False
                log("replay_failed", error="; ".join(errors), committed=first_failed, failed=len(failed))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = self.probe_interval_s
                if self.journal.is_empty():
                    log("journal_drained")
