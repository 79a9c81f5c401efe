"""Prometheus metrics of one collector instance (its own registry, served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "collector_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.accepted = Counter("collector_events_accepted", "Valid events accepted", ["event_type"], registry=r)
        self.rejected = Counter(
            "collector_events_rejected", "Events sent to the dead-letter topic, by reason", ["reason"], registry=r
        )
        self.spilled = Counter("collector_records_spilled", "Records appended to the spill journal", registry=r)
        self.replayed = Counter(
            "collector_records_replayed", "Journal records acknowledged by Kafka on replay", registry=r
        )
        self.journal_bytes = Gauge("collector_journal_bytes", "Unacknowledged bytes in the spill journal", registry=r)
        self.produce_latency = Histogram(
            "collector_produce_latency_seconds",
            "Time from produce to the last Kafka acknowledgement of a request's records",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.redirects = Counter("collector_redirects", "Redirect requests by outcome", ["outcome"], registry=r)
        self.postbacks = Counter("collector_postbacks", "Postback requests by outcome", ["outcome"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
