"""Shared fixtures: one set of real local engines per test session, each test in its own namespace."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.local import engines

REPO = Path(__file__).resolve().parents[1]

# Every fixed port the tests use is shifted by 10 x AA_TEST_PORT_OFFSET, so two test runs on one
# machine (e.g. a fresh-clone check beside a working tree) do not meet; their engine state dirs
# differ too. The fixed ports span 25000-29293, so offsets 100, 200, 300 keep runs apart; stay at or
# below 340, or the ports enter Linux's ephemeral range (32768+), where client sockets may hold them.
PORT_OFFSET = int(os.environ.get("AA_TEST_PORT_OFFSET", "0"))


def fixed_port(base: int) -> int:
    """A fixed test port, shifted by 10 x AA_TEST_PORT_OFFSET."""
    return base + 10 * PORT_OFFSET


@pytest.fixture(scope="session")
def engine_config() -> engines.EngineConfig:
    # Ports of their own, so a `make demo` left running does not meet the tests.
    return engines.EngineConfig(
        state_dir=REPO / ".local" / (f"test-engines-{PORT_OFFSET}" if PORT_OFFSET else "test-engines"),
        kafka_port=int(os.environ.get("AA_TEST_KAFKA_PORT", fixed_port(29092))),
        kafka_controller_port=int(os.environ.get("AA_TEST_KAFKA_CONTROLLER_PORT", fixed_port(29093))),
        redis_port=int(os.environ.get("AA_TEST_REDIS_PORT", fixed_port(26379))),
        moto_port=int(os.environ.get("AA_TEST_MOTO_PORT", fixed_port(25000))),
    )


@pytest.fixture(scope="session")
def local_engines(engine_config: engines.EngineConfig) -> Iterator[engines.EngineConfig]:
    states = engines.up(engine_config)
    yield engine_config
    if any(s == "started" for s in states.values()):
        engines.down(engine_config)


@pytest.fixture
def namespace() -> str:
    """A short unique prefix for topics, registries and keys of one test."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def glue(local_engines: engines.EngineConfig, namespace: str) -> Iterator[Any]:
    """A Glue client on moto; registries named after the test's namespace are deleted afterwards
    (Glue, and moto, allow only 10 registries per account)."""
    from pipelines.contracts.registry import glue_client

    client = glue_client(local_engines.moto_url)
    yield client
    for reg in client.list_registries()["Registries"]:
        if namespace in reg["RegistryName"]:
            client.delete_registry(RegistryId={"RegistryName": reg["RegistryName"]})


def reset_pipeline_state(cfg: engines.EngineConfig) -> None:
    """Empty the event topics and the stream's Redis keys (prefix "aa"): end-to-end tests that run
    the real collector and stream count everything on them."""
    import redis
    from confluent_kafka.admin import AdminClient

    from pipelines.contracts.topics import load_topics

    client = redis.Redis.from_url(cfg.redis_url)
    for key in client.scan_iter("aa:*"):
        client.delete(key)
    admin = AdminClient({"bootstrap.servers": cfg.kafka_bootstrap})
    existing = [t.name for t in load_topics() if t.name in admin.list_topics(timeout=10).topics]
    for fut in admin.delete_topics(existing, operation_timeout=30).values() if existing else []:
        fut.result()
