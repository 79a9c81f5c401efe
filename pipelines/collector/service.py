"""Wire a collector from its configuration: schema registry → codec, journal, producer, app."""

from __future__ import annotations

from typing import Any

from pipelines import kafka_auth
from pipelines.collector.app import Collector
from pipelines.collector.config import CollectorConfig
from pipelines.collector.delivery import Delivery
from pipelines.collector.ingest import Ingest
from pipelines.collector.journal import Journal
from pipelines.collector.metrics import Metrics
from pipelines.contracts.codec import Codec
from pipelines.contracts.topics import load_topics


def producer_config(cfg: CollectorConfig) -> dict[str, Any]:
    return {
        "bootstrap.servers": cfg.kafka_bootstrap,
        "linger.ms": cfg.linger_ms,
        "message.timeout.ms": cfg.delivery_timeout_ms,
        "compression.type": cfg.compression,
        "client.id": "collector",
        **kafka_auth.client_config(),
        **cfg.kafka_client_config,
    }


def topic_map(cfg: CollectorConfig) -> dict[str, str]:
    return {s.event_type: cfg.topic(s.name) for s in load_topics()}


def build(cfg: CollectorConfig, codec: Codec | None = None) -> Collector:
    """The ASGI app; without ``codec`` the contracts are looked up (registered if new) in Glue."""
    if codec is None:
        from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client

        registry = GlueSchemaRegistry(glue_client(cfg.glue_endpoint), cfg.registry_name)
        codec = Codec(registry, current_versions(registry.register_all()))
    metrics = Metrics()
    journal = Journal(cfg.journal_dir, cfg.journal_max_bytes, cfg.journal_segment_bytes)
    delivery = Delivery(producer_config(cfg), journal, metrics, cfg.probe_interval_s, cfg.drain_timeout_s)
    topics = topic_map(cfg)
    if cfg.ledger_redis_url is not None:
        from pipelines.collector import ledger

        delivery.ledger = ledger.build(
            cfg.ledger_redis_url.get_secret_value(), topics, cfg.ledger_redis_prefix, cfg.ledger_flush_interval_s
        )
    return Collector(cfg, Ingest(codec, topics), delivery, metrics, delivery.ledger)
