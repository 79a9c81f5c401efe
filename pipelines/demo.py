"""``make demo``: the whole local pipeline on real engines, with a summary of what happened.

Today: engines up → topics synced → contracts registered in the schema registry → a realistic
sample of every event type produced through the wire codec → read back from Kafka, decoded and
counted per topic. Stays up until Ctrl-C unless ``--finish``; engines this run started are stopped
on exit (``--keep-engines`` leaves them running).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from uuid import UUID

from confluent_kafka import Consumer, Producer, TopicPartition

from pipelines.contracts.codec import Codec
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client
from pipelines.contracts.samples import generate, message_key
from pipelines.contracts.topics import admin_client, load_topics, sync_topics
from pipelines.local import engines


def step(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def high_watermarks(consumer: Consumer, topics: list[str]) -> dict[tuple[str, int], int]:
    marks: dict[tuple[str, int], int] = {}
    md = consumer.list_topics(timeout=10)
    for t in topics:
        for p in md.topics[t].partitions:
            marks[(t, p)] = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
    return marks


def run(cfg: engines.EngineConfig, sessions: int, seed: int) -> int:
    specs = load_topics()
    topic_of = {s.event_type: s.name for s in specs}

    step("syncing topics from schemas/topics.yaml")
    report = sync_topics(admin_client(cfg.kafka_bootstrap), specs, replication_factor=1)
    print(f"    created {len(report.created)}, altered {len(report.altered)}, unchanged {len(report.unchanged)}")

    step("registering contracts in the Glue schema registry (moto)")
    registry = GlueSchemaRegistry(glue_client(cfg.moto_url))
    regs = registry.register_all()
    for t, r in regs.items():
        print(f"    {t:<20} version {r.version_number:<3} id {r.version_id}  {'new' if r.created else 'unchanged'}")
    codec = Codec(registry, current_versions(regs))

    samples = generate(sessions, seed=seed, start_ms=int(time.time() * 1000) - 60_000)
    step(f"producing {len(samples)} events of {sessions} sessions (acks=all, idempotent)")
    probe = Consumer({"bootstrap.servers": cfg.kafka_bootstrap, "group.id": "demo-probe"})
    before = high_watermarks(probe, [s.name for s in specs])
    producer = Producer(
        {
            "bootstrap.servers": cfg.kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "log_level": 3,
            "linger.ms": 20,
            "compression.type": "zstd",
        }
    )
    failures: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    produced: Counter[str] = Counter()
    for i, s in enumerate(samples, start=1):
        producer.produce(
            topic_of[s.event_type],
            codec.encode(s.event_type, s.record),
            key=message_key(s.event_type, s.record),
            on_delivery=delivered,
        )
        produced[topic_of[s.event_type]] += 1
        if i % 500 == 0:
            producer.poll(0)
            print(f"    {i}/{len(samples)} produced", flush=True)
    remaining = producer.flush(30)
    if remaining or failures:
        print(f"delivery failed: {remaining} undelivered, errors: {failures[:3]}", file=sys.stderr)
        return 1
    after = high_watermarks(probe, [s.name for s in specs])
    probe.close()

    step("reading the new records back and decoding them")
    consumer = Consumer(
        {"bootstrap.servers": cfg.kafka_bootstrap, "group.id": f"demo-{time.time_ns()}", "enable.auto.commit": False}
    )
    assignment = [TopicPartition(t, p, off) for (t, p), off in before.items() if after[(t, p)] > off]
    consumer.assign(assignment)
    expected = sum(after[k] - before[k] for k in before)
    consumed: Counter[str] = Counter()
    versions: dict[str, set[UUID]] = defaultdict(set)
    deadline = time.monotonic() + 60
    while sum(consumed.values()) < expected and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        topic, offset, value = msg.topic(), msg.offset(), msg.value()
        if topic is None or offset is None or value is None or offset >= after[(topic, msg.partition() or 0)]:
            continue
        decoded = codec.decode(value)
        consumed[topic] += 1
        versions[topic].add(decoded.version_id)
    consumer.close()

    print(f"\n{'topic':<28}{'produced':>9}{'read back':>10}  schema version id")
    for s in specs:
        vid = ", ".join(str(v) for v in sorted(versions[s.name], key=str)) or "-"
        print(f"{s.name:<28}{produced[s.name]:>9}{consumed[s.name]:>10}  {vid}")
    total_p, total_c = sum(produced.values()), sum(consumed.values())
    print(f"{'total':<28}{total_p:>9}{total_c:>10}")
    if total_c != total_p:
        print(f"read back {total_c} of {total_p} events", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.demo", description=__doc__)
    parser.add_argument("--finish", action="store_true", help="exit 0 when done instead of staying up")
    parser.add_argument("--keep-engines", action="store_true", help="leave the engines running on exit")
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    cfg = engines.EngineConfig()
    step(f"starting local engines (logs in {cfg.logs})")
    states = engines.up(cfg)
    started_here = any(state == "started" for state in states.values())
    try:
        rc = run(cfg, args.sessions, args.seed)
        if rc == 0 and not args.finish:
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print(f"\nengines are up: Kafka {cfg.kafka_bootstrap}, Redis {cfg.redis_url}, moto {cfg.moto_url}")
            print("press Ctrl-C to stop", flush=True)
            stop.wait()
        return rc
    finally:
        if started_here and not args.keep_engines:
            step("stopping the engines this demo started")
            engines.down(cfg)


if __name__ == "__main__":
    raise SystemExit(main())
