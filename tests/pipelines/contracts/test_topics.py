"""Topic sync against the real broker: create, idempotence, drift repair, partition growth."""

import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from pipelines.contracts.topics import TopicConfigError, TopicSpec, admin_client, load_topics, sync_topics


def _specs(ns: str) -> list[TopicSpec]:
    return [TopicSpec(f"{ns}.{s.name}", s.event_type, s.partitions, s.key, s.config) for s in load_topics()]


def _config(admin, topic: str) -> dict[str, str]:
    res = ConfigResource(ResourceType.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result(10).items()}


def _eventually(read, expected, timeout_s: float = 20.0):
    """Poll until read() == expected: KRaft applies config changes asynchronously, and a broker
    may not know a just-created topic yet (UNKNOWN_TOPIC_OR_PART) when the machine is busy."""
    deadline = time.monotonic() + timeout_s

    def attempt():
        try:
            return read()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART or time.monotonic() >= deadline:
                raise
            return exc

    seen = attempt()
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = attempt()
    assert seen == expected


def test_declared_topics_cover_every_event_type_and_the_dead_letter():
    specs = {s.name: s for s in load_topics()}
    assert sorted(specs) == sorted(
        [
            "events.page_view",
            "events.chart_interaction",
            "events.product_impression",
            "events.affiliate_click",
            "events.conversion",
            "events.dead_letter",
        ]
    )
    assert specs["events.page_view"].key == "session_id"
    assert specs["events.affiliate_click"].config["retention.ms"] == "1209600000"
    assert specs["events.page_view"].config["cleanup.policy"] == "delete"


@pytest.mark.engines
def test_sync_creates_missing_topics_then_changes_nothing(local_engines, namespace):
    admin = admin_client(local_engines.kafka_bootstrap)
    specs = _specs(namespace)
    first = sync_topics(admin, specs, replication_factor=1)
    assert sorted(first.created) == sorted(s.name for s in specs)
    second = sync_topics(admin, specs, replication_factor=1)
    assert (second.created, second.altered, second.partitions_added) == ([], {}, {})
    assert sorted(second.unchanged) == sorted(s.name for s in specs)
    md = admin.list_topics(timeout=10).topics
    assert len(md[f"{namespace}.events.page_view"].partitions) == 3
    assert _config(admin, f"{namespace}.events.affiliate_click")["retention.ms"] == "1209600000"


@pytest.mark.engines
def test_sync_repairs_a_drifted_config_and_grows_partitions(local_engines, namespace):
    admin = admin_client(local_engines.kafka_bootstrap)
    specs = _specs(namespace)
    sync_topics(admin, specs, replication_factor=1)
    topic = f"{namespace}.events.page_view"
    drift = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)],
    )
    admin.incremental_alter_configs([drift])[drift].result(10)
    _eventually(lambda: _config(admin, topic)["retention.ms"], "60000")

    grown = [TopicSpec(s.name, s.event_type, 4 if s.name == topic else s.partitions, s.key, s.config) for s in specs]
    report = sync_topics(admin, grown, replication_factor=1)
    assert report.altered == {topic: {"retention.ms": ("60000", "604800000")}}
    assert report.partitions_added == {topic: (3, 4)}
    _eventually(lambda: _config(admin, topic)["retention.ms"], "604800000")
    _eventually(lambda: len(admin.list_topics(timeout=10).topics[topic].partitions), 4)
    shrunk = [TopicSpec(s.name, s.event_type, 1 if s.name == topic else s.partitions, s.key, s.config) for s in specs]
    assert sync_topics(admin, shrunk, replication_factor=1).warnings == [
        f"{topic} has 4 partitions, 1 declared; Kafka cannot shrink a topic"
    ]


def test_bad_topic_declaration_names_the_file_the_key_and_the_allowed_values(tmp_path: Path):
    schemas = Path(__file__).resolve().parents[3] / "schemas"
    for avsc in schemas.glob("*.avsc"):
        (tmp_path / avsc.name).write_text(avsc.read_text())
    f = tmp_path / "topics.yaml"
    f.write_text("topics:\n  events.x:\n    event_type: add_to_cart\n")
    with pytest.raises(TopicConfigError) as err:
        load_topics(f)
    assert str(err.value) == (
        f"{f}: topics.events.x.event_type is 'add_to_cart'; allowed: affiliate_click, chart_interaction, "
        "conversion, dead_letter, page_view, product_impression"
    )
    f.write_text("topics:\n  events.x:\n    event_type: page_view\n    retention: 3\n")
    with pytest.raises(
        TopicConfigError,
        match=r"topics.events.x: unknown key\(s\) retention; allowed: config, event_type, key, partitions",
    ):
        load_topics(f)
