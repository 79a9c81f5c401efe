"""Local engines: idempotent start, status, configuration errors."""

import uuid

import pytest

from pipelines.local import engines


@pytest.mark.engines
def test_up_is_idempotent_and_status_reports_every_engine_ready(local_engines):
    assert engines.up(local_engines) == {"redis": "running", "moto": "running", "kafka": "running"}
    rows = engines.status(local_engines)
    assert {name: row["ready"] for name, row in rows.items()} == {"kafka": True, "redis": True, "moto": True}
    assert rows["kafka"]["port"] == local_engines.kafka_port
    assert (local_engines.logs / "kafka.log").exists()
    assert (local_engines.logs / "redis.log").exists()


@pytest.mark.engines
def test_engines_listen_on_loopback_only(local_engines):
    props = (local_engines.state_dir / "kafka" / "server.properties").read_text()
    assert f"listeners=PLAINTEXT://127.0.0.1:{local_engines.kafka_port}," in props
    assert "auto.create.topics.enable=false" in props


def test_a_bad_port_in_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("AA_REDIS_PORT", "sixty")
    with pytest.raises(
        ValueError, match=r"environment variable AA_REDIS_PORT='sixty': expected a TCP port number 1-65535"
    ):
        engines.EngineConfig()


def test_kafka_cluster_ids_never_start_with_a_dash():
    # base64url of 16 random bytes starts with "-" once in 64 ids; StorageTool would read it as an option
    assert engines._kafka_cluster_id("fbe00000-0000-4000-8000-000000000000").startswith("-") is False
    assert all(not engines._kafka_cluster_id(str(uuid.uuid4())).startswith("-") for _ in range(2000))
