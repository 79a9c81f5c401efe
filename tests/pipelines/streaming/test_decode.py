"""The JVM decode (Spark's from_avro per writer version) gives exactly what the codec's Python path gives."""

from __future__ import annotations

import copy
import io
import json
import time
import uuid
import zlib
from collections.abc import Iterator
from functools import partial
from typing import Any

import fastavro
import pytest

from pipelines.contracts.codec import COMPRESSION_ZLIB, HEADER_LENGTH, Codec, pack_header
from pipelines.contracts.registry import GlueSchemaRegistry, current_versions
from pipelines.contracts.samples import generate
from pipelines.contracts.schemas import load_contracts
from pipelines.streaming import enrichment, validation
from pipelines.streaming.decode import RULE_FIELDS, decode_columns, registered_versions
from pipelines.streaming.fast import decode_fast_batches, valid_mask
from pipelines.streaming.processing import OUTPUT_DDL, DecodeParams, decode_batches, decode_jvm_batches

from .conftest import old_page_view_schema


class _Recorder(dict):
    """A record that notes every path read from it."""

    def __init__(self, data: dict[str, Any], seen: set[tuple[str, ...]], prefix: tuple[str, ...] = ()) -> None:
        super().__init__(data)
        self._seen = seen
        self._prefix = prefix

    def _wrap(self, key: str, value: Any) -> Any:
        path = (*self._prefix, key)
        if isinstance(value, dict):
            return _Recorder(value, self._seen, path)
        self._seen.add(path)
        return value

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self._seen.add((*self._prefix, key))
            return default
        return self._wrap(key, super().__getitem__(key))


def _variants(samples: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Valid samples plus records breaking each rule, so every branch of the rules is read."""
    for s in samples:
        yield s.event_type, s.record
    breakers = {
        "event_id": "nope",
        "position": 0,
        "destination_domain": "",
        "action": "dance",
        "currency": "dollars",
        "sale_amount": -1.0,
        "status": "lost",
    }
    for s in samples:
        for key, bad in breakers.items():
            if key in s.record:
                yield s.event_type, {**s.record, key: bad}
        ctx = s.record.get("context")
        if ctx is not None:
            for key, bad in (("session_index", 0), ("page_path", "x"), ("device_class", "fridge")):
                yield s.event_type, {**s.record, "context": {**ctx, key: bad}}
            yield s.event_type, {**s.record, "context": {**ctx, "device_created_at": ctx["device_sent_at"] + 10**9}}
            yield s.event_type, {**s.record, "context": {**ctx, "device_created_at": ctx["device_created_at"] - 10**10}}


def test_rule_fields_cover_every_path_the_rules_and_columns_read() -> None:
    from pipelines.streaming.processing import process_decoded

    seen: set[tuple[str, ...]] = set()
    now = int(time.time() * 1000)
    for event_type, record in _variants(generate(40, seed=3, start_ms=now - 3_600_000)):
        rec = _Recorder(copy.deepcopy(record), seen)
        process_decoded(event_type, "v", rec, now, validation.Policy(), payload="{}")
        enrichment.bot_reasons(event_type, rec)
    # a path is covered when it is a rule field or leads to one (record.get("context") of a conversion)
    missing = {p for p in seen if not any(f[: len(p)] == p for f in RULE_FIELDS)}
    assert missing == set(), f"record paths the rules read but decode.RULE_FIELDS lacks: {sorted(missing)}"
    assert ("context", "utm", "medium") in seen  # the recorder does see nested reads
    assert ("currency",) in seen


@pytest.mark.engines
def test_jvm_decode_equals_the_codec_path_and_leaves_the_rest_to_it(spark, glue, namespace) -> None:
    registry = GlueSchemaRegistry(glue, f"reg-{namespace}")
    codec = Codec(registry, current_versions(registry.register_all()))
    schema_id = {"RegistryName": registry.registry_name, "SchemaName": "page_view"}
    old = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=json.dumps(old_page_view_schema()))
    old_version = uuid.UUID(old["SchemaVersionId"])
    old_parsed = fastavro.parse_schema(json.loads(json.dumps(old_page_view_schema()).replace('"logicalType"', '"_lt"')))

    now = int(time.time() * 1000)
    samples = generate(12, seed=7, start_ms=now - 3_600_000)
    values: list[bytes] = []
    expect_jvm: list[bool] = []
    for s in samples:
        values.append(codec.encode(s.event_type, s.record))
        expect_jvm.append(True)
    pv = [s.record for s in samples if s.event_type == "page_view"]
    for rec in pv[:3]:  # an older producer: page_view without wix_page_id
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, old_parsed, {k: v for k, v in rec.items() if k != "wix_page_id"})
        values.append(pack_header(old_version) + buf.getvalue())
        expect_jvm.append(True)
    bad_click = copy.deepcopy(next(s.record for s in samples if s.event_type == "affiliate_click"))
    bad_click["position"] = 0  # decodes, then fails a business rule
    values.append(codec.encode("affiliate_click", bad_click))
    expect_jvm.append(True)
    first = codec.encode(samples[0].event_type, samples[0].record)
    values += [
        first[:2].replace(b"\x00", bytes([COMPRESSION_ZLIB]))
        + first[2:HEADER_LENGTH]
        + zlib.compress(first[HEADER_LENGTH:]),  # compressed: the codec inflates it
        pack_header(uuid.uuid4()) + b"\x02",  # unknown schema version
        b"not avro at all",  # corrupt header
        first[:40],  # truncated body
    ]
    expect_jvm += [False, False, False, False]

    versions = registered_versions(glue, registry.registry_name, load_contracts())
    assert old_version in {v.version_id for v in versions}
    contracts = {t: c for t, c in load_contracts().items() if t != "dead_letter"}
    from pyspark.sql import functions as F  # noqa: N812

    raw = spark.createDataFrame(
        [(v, "topic-a", 0, i, None) for i, v in enumerate(values)],
        "value binary, topic string, partition int, offset bigint, timestamp timestamp",
    ).withColumn("timestamp", F.current_timestamp())
    params = DecodeParams(glue.meta.endpoint_url, registry.registry_name, validation.Policy())
    staged = decode_columns(raw, versions, contracts)
    assert [r["jvm_type"] is not None for r in staged.orderBy("offset").collect()] == expect_jvm

    jvm = staged.mapInArrow(partial(decode_jvm_batches, params=params), OUTPUT_DDL)
    python = raw.mapInArrow(partial(decode_batches, params=params), OUTPUT_DDL)

    def rows(df: Any) -> dict[Any, dict[str, Any]]:
        out = {}
        for r in df.where(F.col("kind") != "count").collect():
            d = r.asDict()
            d.pop("wm_ts")
            d["payload"] = json.loads(d["payload"]) if d["payload"] else None
            out[d["kafka_offset"]] = d
        return out

    got, want = rows(jvm), rows(python)
    assert got.keys() == want.keys() == set(range(len(values)))
    for offset in sorted(want):
        assert got[offset] == want[offset], f"record {offset} differs between the JVM and the codec path"
    # the fast path's vectorised pass (fast.py) gives the same rows and the same stage counts
    fast = staged.mapInArrow(partial(decode_fast_batches, params=params), OUTPUT_DDL)
    got_fast = rows(fast)
    assert got_fast.keys() == want.keys()
    for offset in sorted(want):
        assert got_fast[offset] == want[offset], f"record {offset} differs between the fast and the codec path"

    def counts(df: Any) -> dict[str, Any]:
        total: dict[str, Any] = {}
        for r in df.where(F.col("kind") == "count").collect():
            doc = json.loads(r["counts"])
            for k, v in doc.items():
                if isinstance(v, dict):
                    bucket = total.setdefault(k, {})
                    for kk, n in v.items():
                        bucket[kk] = bucket.get(kk, 0) + n
                else:
                    total[k] = total.get(k, 0) + v
        return total

    fast_counts = counts(fast)
    fast_counts.pop("new_versions")  # the zlib record: decoded by the codec (the test's params list no JVM versions)
    assert fast_counts == counts(python)
    vouched = staged.mapInArrow(partial(_vouched, params=params), "n bigint").agg(F.sum("n")).first()
    assert vouched is not None
    assert vouched[0] == len(samples) + 3  # the valid JVM-decoded rows skip the per-record reference
    old_rows = [got[len(samples) + i] for i in range(3)]
    assert all(r["kind"] == "event" and r["payload"]["wix_page_id"] is None for r in old_rows)
    assert {r["schema_version_id"] for r in old_rows} == {str(old_version)}
    reasons = [got[o]["dlq_reason"] for o in range(len(values) - 5, len(values))]
    assert reasons == ["business_rule", None, "unknown_schema_version", "undecodable", "undecodable"]
    assert got[len(values) - 4]["kind"] == "event"  # the zlib record decoded through the codec


def _vouched(batches: Iterator[Any], params: DecodeParams) -> Iterator[Any]:
    import pyarrow as pa

    for batch in batches:
        yield pa.RecordBatch.from_pydict(
            {"n": [sum(valid_mask(batch, int(time.time() * 1000), params.policy).to_pylist())]}
        )


def _wait_for(what: str, check: Any, timeout_s: float = 180) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} not reached within {timeout_s}s; last seen: {last}")


@pytest.mark.engines
def test_a_version_registered_while_running_decodes_and_the_query_restarts_with_it(
    spark, local_engines, glue, namespace, tmp_path
) -> None:
    import threading

    import pyarrow.dataset as ds
    import redis
    from confluent_kafka import Producer

    from pipelines.streaming import job

    from .conftest import build_workload

    w = build_workload(local_engines, glue, namespace, sessions=3, seed=9)
    cfg = w.config(tmp_path, local_engines.redis_url, local_engines.moto_url, local_engines.kafka_bootstrap)
    cfg = cfg.model_copy(update={"available_now": False, "trigger_seconds": 1.0, "jvm_decode": True})
    r = redis.Redis.from_url(local_engines.redis_url)

    def received(n: int) -> Any:
        return lambda: (
            int(r.hget(f"{namespace}:ledger:total", "received") or 0) >= n,
            r.hgetall(f"{namespace}:ledger:total"),
        )

    runner = threading.Thread(target=job.run, args=(spark, cfg, 1))
    runner.start()
    try:
        _wait_for("first workload processed", received(w.produced))
        first_run = spark.streams.active[0].runId
        # a newer page_view version (an added optional field) registered while the query runs
        newer = copy.deepcopy(dict(load_contracts()["page_view"].definition))
        newer["fields"].append({"name": "test_added", "type": "string", "default": ""})
        schema_id = {"RegistryName": w.registry_name, "SchemaName": "page_view"}
        version = uuid.UUID(
            glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=json.dumps(newer))["SchemaVersionId"]
        )
        parsed = fastavro.parse_schema(json.loads(json.dumps(newer).replace('"logicalType"', '"_lt"')))
        records = [
            s.record
            for s in generate(16, seed=4, start_ms=int(time.time() * 1000) - 600_000)
            if s.event_type == "page_view"
        ]
        producer = Producer({"bootstrap.servers": local_engines.kafka_bootstrap})

        def send(batch: list[dict[str, Any]]) -> None:
            for rec in batch:
                buf = io.BytesIO()
                fastavro.schemaless_writer(buf, parsed, {**rec, "test_added": "x"})
                producer.produce(w.topics["page_view"], pack_header(version) + buf.getvalue())
            assert producer.flush(30) == 0

        send(records[:3])
        _wait_for("records of the new version processed", received(w.produced + 3))
        restarted = _wait_for(
            "the query restarted with the new version",
            lambda: (bool(spark.streams.active) and spark.streams.active[0].runId != first_run, None),
        )
        assert restarted is None
        second_run = spark.streams.active[0].runId
        send(records[3:6])
        _wait_for("more records of the new version processed", received(w.produced + 6))
        assert spark.streams.active[0].runId == second_run  # the new plan decodes them: no further restart
    finally:
        for query in spark.streams.active:
            query.stop()
        runner.join(60)
    assert not runner.is_alive()
    rows = ds.dataset(str(cfg.lake_dir), format="parquet", partitioning="hive").to_table().to_pylist()
    newer_rows = [row for row in rows if row["schema_version_id"] == str(version)]
    assert sorted(row["event_id"] for row in newer_rows) == sorted(rec["event_id"] for rec in records[:6])
    assert all("test_added" not in json.loads(row["payload"]) for row in newer_rows)  # read with the current schema
