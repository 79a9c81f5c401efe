"""Collector fixtures: one registry for the module's codec, namespaced topics, an in-process app."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer

from pipelines.collector.app import Collector
from pipelines.collector.config import CollectorConfig
from pipelines.collector.service import build
from pipelines.contracts.codec import Codec
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client
from pipelines.contracts.topics import TopicSpec, admin_client, load_topics, sync_topics

REPO_ROOT = Path(__file__).resolve().parents[3]
SALT = "test-salt-0123456789abcdef"
SIGNING_KEY = "signing-key-0123456789"
NETWORK_SECRET = "awin-secret-0123456789"


@pytest.fixture(scope="session")
def collector_codec(local_engines) -> Iterator[Codec]:
    client = glue_client(local_engines.moto_url)
    name = f"reg-coll-{uuid.uuid4().hex[:8]}"
    registry = GlueSchemaRegistry(client, name)
    codec = Codec(registry, current_versions(registry.register_all()))
    yield codec
    client.delete_registry(RegistryId={"RegistryName": name})


def sync_namespaced_topics(bootstrap: str, namespace: str) -> None:
    specs = [TopicSpec(f"{namespace}.{s.name}", s.event_type, s.partitions, s.key, s.config) for s in load_topics()]
    sync_topics(admin_client(bootstrap), specs, replication_factor=1)


@pytest.fixture
def topics(local_engines, namespace) -> str:
    sync_namespaced_topics(local_engines.kafka_bootstrap, namespace)
    return namespace


def make_config(tmp_path: Path, bootstrap: str, namespace: str, **overrides: Any) -> CollectorConfig:
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": f"{namespace}.",
        "ip_salt": SALT,
        "journal_dir": tmp_path / "journal",
        "allowed_origins": ["https://site-bestlaptops.example"],
        "redirect_domains": {"amazon.com": {"subid_param": "ascsubtag"}, "bestbuy.com": {}},
        "redirect_signing_key": SIGNING_KEY,
        "postback_networks": {"awin": {"secret": NETWORK_SECRET}},
        "client_ip_header": "x-forwarded-for",
        "probe_interval_s": 0.2,
        "delivery_timeout_ms": 3000,
        **overrides,
    }
    return CollectorConfig.model_validate(values)


class Running:
    """A started collector and an HTTP client on it (in-process ASGI)."""

    def __init__(self, app: Collector) -> None:
        self.app = app
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 50000)), base_url="http://collector"
        )

    async def post_events(self, events: list[Any], **headers: str) -> httpx.Response:
        import orjson

        return await self.client.post(
            "/v1/events",
            content=orjson.dumps({"events": events}),
            headers={"content-type": "text/plain;charset=UTF-8", **headers},
        )


def run_collector(cfg: CollectorConfig, codec: Codec, body: Callable[[Running], Any]) -> Any:
    """Start the app, run ``await body(running)``, stop the app (drain), return body's result."""

    async def main() -> Any:
        app = build(cfg, codec)
        await app.start()
        running = Running(app)
        try:
            return await body(running)
        finally:
            await running.client.aclose()
            await app.stop()

    return run_async(main())


def run_async(coro: Any) -> Any:
    """Like asyncio.run, but leaves the thread's current event loop alone (asyncio.run sets it to
    None on exit, which breaks later tests that call asyncio.get_event_loop())."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def consume(bootstrap: str, topics: list[str], codec: Codec, *, expected: int | None = None, timeout_s: float = 20):
    """Every record of ``topics`` from the beginning: (topic, key, decoded record, raw value).
    With ``expected``, poll until that many arrived (or fail naming what was seen); without it,
    read until the high watermarks."""
    from confluent_kafka import TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    md = consumer.list_topics(timeout=10)
    marks: dict[tuple[str, int], int] = {}
    for t in topics:
        for p in md.topics[t].partitions:
            marks[(t, p)] = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
    consumer.assign([TopicPartition(t, p, 0) for (t, p) in marks])
    want = expected if expected is not None else sum(marks.values())
    seen: list[tuple[str, bytes | None, dict[str, Any], bytes]] = []
    deadline = time.monotonic() + timeout_s
    while len(seen) < want and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        value = msg.value() or b""
        seen.append((msg.topic() or "", msg.key(), codec.decode(value).record, value))
    consumer.close()
    assert len(seen) >= want, f"read {len(seen)} of {want} records from {topics} before the deadline"
    return seen


def wire(sample_record: dict[str, Any], event_type: str) -> dict[str, Any]:
    """A sample record as the tracer sends it: no server context, nullable Nones omitted."""
    ctx = {
        k: v
        for k, v in sample_record["context"].items()
        if k not in ("collector_received_at", "geo_country", "geo_region", "geo_city", "ip_hash", "user_agent")
        and v is not None
    }
    return {"event_type": event_type, **{k: v for k, v in sample_record.items() if v is not None}, "context": ctx}


@contextlib.contextmanager
def collector_process(engines_cfg: Any, namespace: str, tmp_path: Path, port: int, **settings: str) -> Iterator[str]:
    """``python -m pipelines.collector`` on ``port`` for the namespace's topics (registry
    ``reg-<namespace>``, deleted by the ``glue`` fixture); yields its base URL, SIGTERMs it after."""
    import os
    import signal
    import subprocess
    import sys

    env = {
        **os.environ,
        "AA_COLLECTOR_PORT": str(port),
        "AA_COLLECTOR_KAFKA_BOOTSTRAP": engines_cfg.kafka_bootstrap,
        "AA_COLLECTOR_TOPIC_PREFIX": f"{namespace}.",
        "AA_COLLECTOR_GLUE_ENDPOINT": engines_cfg.moto_url,
        "AA_COLLECTOR_REGISTRY_NAME": f"reg-{namespace}",
        "AA_COLLECTOR_IP_SALT": SALT,
        "AA_COLLECTOR_JOURNAL_DIR": str(tmp_path / "journal"),
        "AA_COLLECTOR_LOG_LEVEL": "warning",
        **{f"AA_COLLECTOR_{k.upper()}": v for k, v in settings.items()},
    }
    log_file = tmp_path / "collector.log"
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.collector"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the collector exited: {log_file.read_text()[-2000:]}"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the collector did not get ready in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
