"""One SparkSession for the whole test session; a generated workload with known outcomes."""

from __future__ import annotations

import copy
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer

from pipelines.contracts.codec import Codec, pack_header
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions
from pipelines.contracts.samples import generate, message_key
from pipelines.contracts.schemas import load_contracts
from pipelines.contracts.topics import TopicSpec, admin_client, sync_topics
from pipelines.streaming.config import StreamConfig, load_config

BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="session")
def spark(tmp_path_factory) -> Iterator[Any]:
    from pipelines.streaming.job import build_spark

    tmp = tmp_path_factory.mktemp("spark")
    cfg = StreamConfig(lake_dir=tmp / "lake", checkpoint_dir=tmp / "ckpt", topics=["x"], dead_letter_topic="dlq")
    session = build_spark(cfg, app_name="tests")
    yield session
    session.stop()


@dataclass
class Workload:
    """What was produced, and what the stream must make of it."""

    namespace: str
    topics: dict[str, str]
    dead_letter_topic: str
    registry_name: str
    produced: int = 0
    expected_lake: Counter[str] = field(default_factory=Counter)  # event_type -> rows
    expected_invalid: Counter[str] = field(default_factory=Counter)
    late: int = 0
    duplicates: int = 0
    bot: int = 0
    page_views_human: int = 0
    clicks_by_merchant: Counter[str] = field(default_factory=Counter)
    human_sessions: set[str] = field(default_factory=set)
    old_schema_ids: set[str] = field(default_factory=set)

    def config(self, tmp: Path, redis_url: str, glue_url: str, bootstrap: str, **extra: Any) -> StreamConfig:
        values: dict[str, Any] = {
            "lake_dir": tmp / "lake",
            "checkpoint_dir": tmp / "ckpt",
            "kafka_bootstrap": bootstrap,
            "topics": sorted(self.topics.values()),
            "dead_letter_topic": self.dead_letter_topic,
            "glue_endpoint": glue_url,
            "registry_name": self.registry_name,
            "redis_url": redis_url,
            "redis_prefix": self.namespace,
            "available_now": True,
        }
        return load_config(**(values | extra))


def old_page_view_schema() -> dict[str, Any]:
    """page_view as an older producer knew it: without wix_page_id (added later with a default)."""
    doc = copy.deepcopy(dict(load_contracts()["page_view"].definition))
    doc["fields"] = [f for f in doc["fields"] if f["name"] != "wix_page_id"]
    return doc


def build_workload(engines: Any, glue: Any, namespace: str, sessions: int = 16, seed: int = 11) -> Workload:
    types = ["page_view", "product_impression", "chart_interaction", "affiliate_click", "conversion"]
    topics = {t: f"{namespace}.events.{t}" for t in types}
    dlq = f"{namespace}.events.dead_letter"
    specs = [TopicSpec(n, t, 2, "session_id", {}) for t, n in topics.items()]
    specs.append(TopicSpec(dlq, "dead_letter", 1, "event_id", {}))
    sync_topics(admin_client(engines.kafka_bootstrap), specs, replication_factor=1)
    registry = GlueSchemaRegistry(glue, f"reg-{namespace}")
    codec = Codec(registry, current_versions(registry.register_all()))
    schema_id = {"RegistryName": registry.registry_name, "SchemaName": "page_view"}
    try:
        old = glue.get_schema_by_definition(SchemaId=schema_id, SchemaDefinition=json.dumps(old_page_view_schema()))
    except glue.exceptions.EntityNotFoundException:
        old = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=json.dumps(old_page_view_schema()))
    old_version = uuid.UUID(old["SchemaVersionId"])
    old_parsed = fastavro.parse_schema(json.loads(json.dumps(old_page_view_schema()).replace('"logicalType"', '"_lt"')))

    w = Workload(namespace, topics, dlq, registry.registry_name)
    now = int(time.time() * 1000)
    samples = generate(sessions, seed=seed, start_ms=now - 3 * 3_600_000)
    bot_session = samples[0].record["context"]["session_id"]
    records: list[tuple[str, str, bytes]] = []  # topic, key, value
    seen_clicks = 0
    events_values: set[bytes] = set()
    for i, s in enumerate(samples):
        rec = copy.deepcopy(s.record)
        ctx = rec.get("context")
        is_bot = ctx is not None and ctx["session_id"] == bot_session
        if is_bot and ctx is not None:
            ctx["user_agent"] = BOT_UA
        if s.event_type == "affiliate_click":
            seen_clicks += 1
            if seen_clicks <= 2:  # business rule: positions are 1-based
                rec["position"] = 0
                w.expected_invalid["business_rule"] += 1
                records.append((topics[s.event_type], message_key(s.event_type, rec), codec.encode(s.event_type, rec)))
                continue
        if s.event_type == "page_view" and not is_bot and i % 5 == 1:  # late: sent 4 days after creation
            rec["context"]["device_created_at"] -= 4 * 86_400_000
            w.late += 1
            records.append((topics[s.event_type], message_key(s.event_type, rec), codec.encode(s.event_type, rec)))
            continue
        if s.event_type == "page_view" and not is_bot and len(w.old_schema_ids) < 3:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, old_parsed, {k: v for k, v in rec.items() if k != "wix_page_id"})
            value = pack_header(old_version) + buf.getvalue()
            w.old_schema_ids.add(rec["event_id"])
        else:
            value = codec.encode(s.event_type, rec)
        records.append((topics[s.event_type], message_key(s.event_type, rec), value))
        events_values.add(value)
        w.expected_lake[s.event_type] += 1
        if is_bot:
            w.bot += 1
        else:
            if s.event_type == "page_view":
                w.page_views_human += 1
            if s.event_type == "affiliate_click":
                w.clicks_by_merchant[rec["merchant"]] += 1
            if ctx is not None:
                w.human_sessions.add(ctx["session_id"])
    # retries of the tracer: the same bytes of valid events again
    dups = [r for r in records if r[2] in events_values][:12]
    records.extend(dups)
    w.duplicates = len(dups)
    # undecodable records
    pv = topics["page_view"]
    records.append((pv, "k1", b"not avro at all"))
    records.append((pv, "k2", bytes([9, 0]) + uuid.uuid4().bytes + b"\x00"))
    records.append((pv, "k3", pack_header(uuid.uuid4()) + b"\x02"))  # unknown schema version
    w.expected_invalid["undecodable"] += 2
    w.expected_invalid["unknown_schema_version"] += 1

    producer = Producer({"bootstrap.servers": engines.kafka_bootstrap, "acks": "all", "enable.idempotence": True})
    for topic, key, value in records:
        producer.produce(topic, value, key=key.encode())
    assert producer.flush(30) == 0
    w.produced = len(records)
    return w
