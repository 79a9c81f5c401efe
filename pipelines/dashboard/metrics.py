"""Prometheus metrics of one dashboard instance (its own registry, served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dashboard_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.sse_clients = Gauge("dashboard_sse_clients", "Open real-time (SSE) connections", registry=r)
        self.snapshots = Counter(
            "dashboard_snapshots", "Real-time snapshots read from Redis, by outcome", ["outcome"], registry=r
        )
        self.snapshot_seconds = Histogram(
            "dashboard_snapshot_seconds",
            "Time to read and summarise one real-time snapshot",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.data_age = Gauge("dashboard_data_age_seconds", "Age of the newest event minute in Redis", registry=r)
        self.queries = Counter(
            "dashboard_warehouse_queries",
            "Warehouse queries by backend and outcome",
            ["backend", "outcome"],
            registry=r,
        )
        self.rejected = Counter(
            "dashboard_rejected_parameters",
            "Explorer requests refused with 400, by parameter",
            ["parameter"],
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
