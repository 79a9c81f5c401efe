"""Reading Kafka to a fixed end: what the demo, the drills, replay, load tests and the end-to-end
tests use to count or read "every record there is now" without waiting for a quiet spell."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from pipelines import kafka_auth


def _consumer(bootstrap: str, prefix: str, client_config: dict[str, Any] | None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{prefix}-{uuid.uuid4()}",
            "enable.auto.commit": False,
            **kafka_auth.client_config(),
            **(client_config or {}),
        }
    )


def record_counts(bootstrap: str, topics: Iterable[str], client_config: dict[str, Any] | None = None) -> dict[str, int]:
    """Records each topic holds now (high - low watermark summed over its partitions)."""
    consumer = _consumer(bootstrap, "count", client_config)
    try:
        md = consumer.list_topics(timeout=10)
        out: dict[str, int] = {}
        for t in topics:
            total = 0
            for p in md.topics[t].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                total += high - low
            out[t] = total
        return out
    finally:
        consumer.close()


def read_to_end(
    bootstrap: str,
    topics: Iterable[str],
    *,
    since_ms: int | None = None,
    timeout_s: float = 120,
    client_config: dict[str, Any] | None = None,
) -> Iterator[Message]:
    """Every record of ``topics`` from the start (or from ``since_ms``, by record timestamp) up to the
    high watermarks taken when called; TimeoutError naming the partitions not read by ``timeout_s``."""
    consumer = _consumer(bootstrap, "read", client_config)
    try:
        md = consumer.list_topics(timeout=10)
        parts = [TopicPartition(t, p) for t in topics if t in md.topics for p in md.topics[t].partitions]
        ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10) for tp in parts}
        if since_ms is None:
            starts = [TopicPartition(tp.topic, tp.partition, ends[(tp.topic, tp.partition)][0]) for tp in parts]
        else:
            starts = consumer.offsets_for_times(
                [TopicPartition(tp.topic, tp.partition, since_ms) for tp in parts], timeout=10
            )
        todo = [tp for tp in starts if 0 <= tp.offset < ends[(tp.topic, tp.partition)][1]]
        remaining = {(tp.topic, tp.partition) for tp in todo}
        if not todo:
            return
        consumer.assign(todo)
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            key = (str(msg.topic()), int(msg.partition() or 0))
            if key not in remaining:
                continue
            yield msg
            if int(msg.offset() or 0) + 1 >= ends[key][1]:
                remaining.discard(key)
        if remaining:
            raise TimeoutError(f"could not read {sorted(remaining)} to the end within {timeout_s:.0f} s")
    finally:
        consumer.close()
