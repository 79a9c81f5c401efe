"""The wire codec against the real schema registry (moto's Glue API) and the real broker."""

import json
import time
import uuid
import zlib
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from pipelines.contracts.codec import HEADER_LENGTH, Codec, pack_header, unpack_header
from pipelines.contracts.errors import (
    CorruptHeaderError,
    SchemaViolationError,
    UndecodablePayloadError,
    UnknownEventTypeError,
    UnknownSchemaVersionError,
)
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions
from pipelines.contracts.samples import message_key, one_of_each
from pipelines.contracts.schemas import EventContract, contract, load_contracts
from pipelines.contracts.topics import TopicSpec, admin_client, sync_topics


@pytest.fixture
def registry(glue, namespace) -> GlueSchemaRegistry:
    return GlueSchemaRegistry(glue, f"reg-{namespace}")


@pytest.fixture
def codec(registry) -> Codec:
    return Codec(registry, current_versions(registry.register_all()))


def _consume_all(bootstrap: str, topics: list[str], expected: int, timeout_s: float = 30) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    seen: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(seen) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen.append(msg)
    consumer.close()
    assert len(seen) == expected, f"read {len(seen)} of {expected} records before the deadline"
    return seen


@pytest.mark.engines
def test_every_schema_round_trips_through_the_codec_and_the_broker(local_engines, codec, namespace):
    samples = one_of_each()
    specs = [TopicSpec(f"{namespace}.{t}", t, 1, "session_id", {}) for t in samples]
    sync_topics(admin_client(local_engines.kafka_bootstrap), specs, replication_factor=1)
    producer = Producer(
        {"bootstrap.servers": local_engines.kafka_bootstrap, "acks": "all", "enable.idempotence": True, "log_level": 3}
    )
    for t, record in samples.items():
        producer.produce(f"{namespace}.{t}", codec.encode(t, record), key=message_key(t, record))
    assert producer.flush(20) == 0
    messages = _consume_all(local_engines.kafka_bootstrap, [s.name for s in specs], len(samples))
    for msg in messages:
        decoded = codec.decode(msg.value())
        assert msg.topic() == f"{namespace}.{decoded.event_type}"
        assert decoded.record == samples[decoded.event_type]
        assert decoded.version_id == codec.current_versions[decoded.event_type]
        assert msg.key().decode() == message_key(decoded.event_type, decoded.record)


@pytest.mark.engines
def test_record_written_with_an_older_schema_decodes_with_the_current_reader(registry):
    current = contract("page_view")
    older_doc = json.loads(current.canonical_text)
    older_doc["fields"] = [f for f in older_doc["fields"] if f["name"] not in ("wix_page_id", "navigation_type")]
    older = EventContract("page_view", current.path, older_doc, None)
    registry.ensure_registry()
    v1 = registry.register(older)
    v2 = registry.register(current)
    assert (v1.version_number, v2.version_number) == (1, 2)
    old_producer = Codec(registry, {"page_view": uuid.UUID(v1.version_id)}, contracts={"page_view": older})
    record = {k: v for k, v in one_of_each()["page_view"].items() if k not in ("wix_page_id", "navigation_type")}
    wire = old_producer.encode("page_view", record)
    assert unpack_header(wire)[0] == uuid.UUID(v1.version_id)

    new_consumer = Codec(registry, {"page_view": uuid.UUID(v2.version_id)})
    decoded = new_consumer.decode(wire)
    assert decoded.version_id == uuid.UUID(v1.version_id)
    assert decoded.record == {**record, "navigation_type": "unknown", "wix_page_id": None}


@pytest.mark.engines
def test_zlib_compressed_records_decode(registry):
    versions = current_versions(registry.register_all())
    record = one_of_each()["affiliate_click"]
    wire = Codec(registry, versions, compression="zlib").encode("affiliate_click", record)
    assert wire[:2] == bytes((3, 5))
    assert Codec(registry, versions).decode(wire).record == record


def test_header_layout_is_the_glue_schema_registry_one():
    vid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    header = pack_header(vid)
    assert header == b"\x03\x00" + vid.bytes
    assert len(header) == HEADER_LENGTH == 18


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x03\x00\x01", "record is 3 bytes, shorter than the 18-byte schema registry header"),
        (b"\x00\x00" + uuid.uuid4().bytes + b"x", "header version byte is 0, expected 3"),
        (b"\x03\x07" + uuid.uuid4().bytes + b"x", "compression byte is 7, expected 0 (none) or 5 (zlib)"),
    ],
)
def test_corrupt_header_raises_a_typed_error_naming_the_problem(data, message):
    with pytest.raises(CorruptHeaderError) as err:
        unpack_header(data)
    assert str(err.value) == message
    assert err.value.reason == "undecodable"


@pytest.mark.engines
def test_unknown_schema_version_id_raises_a_typed_error_naming_the_id(codec):
    vid = uuid.UUID("00000000-0000-4000-8000-000000000001")
    with pytest.raises(UnknownSchemaVersionError) as err:
        codec.decode(pack_header(vid) + b"\x00")
    assert str(vid) in str(err.value)
    assert err.value.reason == "unknown_schema_version"


@pytest.mark.engines
def test_truncated_body_is_undecodable_not_a_crash(codec):
    wire = codec.encode("page_view", one_of_each()["page_view"])
    with pytest.raises(UndecodablePayloadError, match=r"page_view body \(\d+ bytes\) does not decode"):
        codec.decode(wire[: HEADER_LENGTH + 20])
    with pytest.raises(UndecodablePayloadError, match="zlib-compressed body does not inflate"):
        codec.decode(wire[:1] + b"\x05" + wire[2:HEADER_LENGTH] + zlib.compress(b"abc")[:-3])


@pytest.mark.engines
def test_unknown_event_type_is_a_typed_error(codec):
    with pytest.raises(UnknownEventTypeError, match="unknown event type 'add_to_cart'") as err:
        codec.encode("add_to_cart", {})
    assert err.value.reason == "unknown_event_type"


@pytest.mark.engines
def test_schema_violation_names_the_field(codec):
    record = dict(one_of_each()["affiliate_click"], position="first")
    with pytest.raises(
        SchemaViolationError, match=r"AffiliateClick\.position is <first> of type <class 'str'> expected int"
    ) as err:
        codec.encode("affiliate_click", record)
    assert err.value.reason == "schema_violation"


def test_all_contracts_are_loaded_once():
    assert load_contracts() is load_contracts()
