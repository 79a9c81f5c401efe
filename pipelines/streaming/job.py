"""The Spark Structured Streaming job: Kafka → decode/validate/enrich → dedup → lake, Redis, DLQ, ledger.

Plan::

    kafka source (every event topic) ──from_avro per writer version (decode.py, JVM)
      └─ mapInArrow(fast.decode_fast_batches: vectorised validate, enrich on distinct values; the
         per-record rules and the codec for the rest)──► rows: event | dlq | count
      └─ withWatermark(wm_ts = Kafka record time, dedup window) ─ dropDuplicatesWithinWatermark(dedup_key)
           └─ foreachBatch(BatchWriter): lake (exactly once) → dead-letter topic → Redis + ledger (MULTI/EXEC)

That is the default (``fast_path``). ``fast_path: false`` is the per-record reference: the codec
decodes every record in the mapInArrow (``processing.decode_batches``; ``jvm_decode`` puts the JVM
decode before it). The writer's bot flags, segments, metrics and lake files are computed on whole
Arrow columns in its tasks on the fast path (``arrow_sink.write_partition``), per row in Python on
the reference path (``lake.write_partition``), or as Spark jobs with ``spark_sinks`` (``sink.py``).

Only events carry their event_id as ``dedup_key``; dead letters and count rows have unique keys,
so the deduplication drops exactly the repeated events, and duplicates = valid in - events out.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql.streaming import StreamingQuery

from pipelines import kafka_auth
from pipelines.streaming import arrow_sink, lake, metrics
from pipelines.streaming.config import StreamConfig
from pipelines.streaming.lakefs import Lake
from pipelines.streaming.processing import OUTPUT_DDL, DecodeParams, decode_batches, decode_jvm_batches
from pipelines.streaming.validation import Policy

Hook = Callable[[str, int], None]


def log(event: str, **fields: object) -> None:
    print(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str), file=sys.stderr, flush=True)


def build_spark(cfg: StreamConfig, app_name: str = "affiliate-analytics-stream") -> SparkSession:
    """A SparkSession with the Kafka source jars (local paths) and the settings that keep up on 2 cores."""
    from pipelines.local.engines import fetch_spark_kafka

    builder = SparkSession.builder.appName(app_name)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # started as a plain Python process (tests, local runs): a local master with the Kafka jars
        # from the Maven cache. Under spark-submit / the SparkApplication the master and the
        # packages come from the submission instead.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.master(cfg.master)
            .config("spark.jars", ",".join(str(p) for p in fetch_spark_kafka()))
            .config("spark.driver.memory", cfg.driver_memory)
        )
    builder = (
        builder.config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .config("spark.sql.streaming.stateStore.stateSchemaCheck", "true")
        # a micro-batch is cached for the few jobs of its writer, then dropped: compressing it costs
        # CPU per row and saves memory that is not short
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
    )
    if cfg.rocksdb_state_store:
        builder = (
            builder.config(
                "spark.sql.streaming.stateStore.providerClass",
                "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
            )
            # the deduplication's state: a commit writes a changelog of the batch's keys instead of
            # a RocksDB snapshot, and a put is not preceded by a get to keep a row count (only the
            # numTotalStateRows metric is lost). Measured: the decode stage 73 → 40 CPU µs/event.
            .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
            .config("spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows", "false")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def stream_id(checkpoint_dir: str) -> str:
    """A stable id of this checkpoint: it names lake files and Redis markers, so a new checkpoint
    (batch ids restart at 0) never collides with an old one."""
    where = Lake.at(checkpoint_dir.replace("s3a://", "s3://", 1))
    known = where.read_bytes("aa-stream-id")
    if known is not None:
        return known.decode().strip()
    sid = uuid.uuid4().hex[:12]
    where.write_bytes("aa-stream-id", sid.encode())
    return sid


def dead_letter_version(cfg: StreamConfig) -> uuid.UUID:
    from pipelines.contracts.registry import glue_client

    resp = glue_client(cfg.glue_endpoint).get_schema_version(
        SchemaId={"RegistryName": cfg.registry_name, "SchemaName": "dead_letter"},
        SchemaVersionNumber={"LatestVersion": True},
    )
    return uuid.UUID(resp["SchemaVersionId"])


def rule_fact_paths(cfg: StreamConfig) -> tuple[str, ...]:
    """The record paths the segmentation rules read now: the fast path's decode puts their values
    in each row's ``facts`` (``decode.decode_columns``)."""
    if cfg.rules_file is None or not cfg.fast_path:
        return ()
    from pipelines.segmentation.engine import load_rules

    return load_rules(cfg.rules_file).event_paths()


def events_stream(
    spark: SparkSession, cfg: StreamConfig, upto: str = "dedup", fact_paths: tuple[str, ...] | None = None
) -> DataFrame:
    """The stream's rows as the writer gets them; ``upto`` stops earlier for the benchmark's stage
    breakdown: ``jvm`` (after the JVM decode, fast path), ``python`` (after the decode's Python pass)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", cfg.kafka_bootstrap)
        .option("subscribe", ",".join(cfg.topics))
        .option("startingOffsets", cfg.starting_offsets)
        .option("failOnDataLoss", "true")
        # consumer group ids start with "stream": MSK IAM allows the stream only groups "stream*"
        .option("groupIdPrefix", "stream")
    )
    for k, v in cfg.kafka_options.items():
        reader = reader.option(k if k.startswith("kafka.") else f"kafka.{k}", v)
    if cfg.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.max_offsets_per_trigger))
    params = DecodeParams(
        cfg.glue_endpoint,
        cfg.registry_name,
        Policy(int(cfg.max_delay_hours * 3_600_000), int(cfg.future_tolerance_minutes * 60_000)),
    )
    raw = reader.load().select("value", "topic", "partition", "offset", "timestamp")
    if cfg.coalesce_source:
        # one task per core, not per Kafka partition: each decode task costs a Python round trip,
        # a fixed cost of every batch (400-event batches: addBatch 1.2-1.5 s → 0.6-0.7 s)
        raw = raw.coalesce(spark.sparkContext.defaultParallelism)
    if cfg.fast_path:
        from pipelines.streaming.fast import decode_fast_batches

        staged, versions = jvm_decode(raw, cfg, rule_fact_paths(cfg) if fact_paths is None else fact_paths)
        if upto == "jvm":
            return staged
        params = replace(params, jvm_versions=frozenset(str(v.version_id) for v in versions))
        decoded = staged.mapInArrow(partial(decode_fast_batches, params=params), OUTPUT_DDL)
    elif cfg.jvm_decode:
        staged, versions = jvm_decode(raw, cfg)
        params = replace(params, jvm_versions=frozenset(str(v.version_id) for v in versions))
        decoded = staged.mapInArrow(partial(decode_jvm_batches, params=params), OUTPUT_DDL)
    else:
        decoded = raw.mapInArrow(partial(decode_batches, params=params), OUTPUT_DDL)
    if upto == "python":
        return decoded
    return decoded.withWatermark("wm_ts", f"{cfg.dedup_window_minutes} minutes").dropDuplicatesWithinWatermark(
        ["dedup_key"]
    )


def jvm_decode(raw: DataFrame, cfg: StreamConfig, fact_paths: tuple[str, ...] = ()) -> tuple[DataFrame, list[Any]]:
    """Kafka records decoded by Spark's from_avro with every writer schema version registered now
    (``decode.py``); records of versions registered later take the codec's path in Python."""
    from pipelines.contracts.registry import glue_client
    from pipelines.contracts.schemas import load_contracts
    from pipelines.streaming.decode import decode_columns, registered_versions

    contracts = {t: c for t, c in load_contracts().items() if t != "dead_letter"}
    versions = registered_versions(glue_client(cfg.glue_endpoint), cfg.registry_name, contracts)
    log("stream_decoder", jvm_versions={str(v.version_id): v.event_type for v in versions})
    return decode_columns(raw, versions, contracts, fact_paths), versions


_SESSION_KINDS = {
    "page_views": "page_view",
    "impressions": "product_impression",
    "chart_interactions": "chart_interaction",
    "clicks": "affiliate_click",
    "conversions": "conversion",
}


def session_minute_counts(events: DataFrame) -> Any:
    """The batch's events per (session, minute), in all and per event type (the session counters'
    names), as an Arrow table: one Spark aggregation."""
    aggs = [F.count(F.lit(1)).alias("events")] + [
        F.sum(F.when(F.col("event_type") == t, 1).otherwise(0)).alias(name) for name, t in _SESSION_KINDS.items()
    ]
    return events.where(F.col("session_id").isNotNull()).groupBy("session_id", "minute").agg(*aggs).toArrow()


class BatchWriter:
    """foreachBatch sink; every step is idempotent per (stream id, batch id)."""

    def __init__(self, cfg: StreamConfig, sid: str, hook: Hook | None = None, fact_paths: tuple[str, ...] = ()) -> None:
        import redis

        self.cfg = cfg
        self.sid = sid
        self.hook = hook
        self.redis = redis.Redis.from_url(cfg.redis_url)
        self._dlq_version: uuid.UUID | None = None
        self.new_versions: set[str] = set()
        self.fact_paths = fact_paths
        self.stale_facts = False  # the rules read record paths the plan's ``facts`` lack (``run`` restarts)
        self._codec: Any = None
        self._segmenter: Any = None
        self._profiles: Any = None

    def _note_new_versions(self, counts: list[dict[str, Any]], batch_id: int) -> None:
        """Schema versions registered after the plan was built were decoded by the codec: the
        job restarts the query with a plan that has them (``run``)."""
        found = {v for c in counts for v in c.get("new_versions", {})}
        if found - self.new_versions:
            self.new_versions |= found
            log("stream_decoder_stale", batch_id=batch_id, new_versions=sorted(found))

    def _note_rule_paths(self, segmenter: Any, batch_id: int) -> None:
        """Rules changed to read record paths the decode does not extract: the writer parses them
        from the payload meanwhile, and the job restarts the query with a plan that has them."""
        if segmenter is None or not self.cfg.fast_path or self.stale_facts:
            return
        missing = set(segmenter.rules.event_paths()) - set(self.fact_paths)
        if missing:
            self.stale_facts = True
            log("stream_rule_paths_stale", batch_id=batch_id, paths=sorted(missing))

    def _step(self, name: str, batch_id: int) -> None:
        if self.hook is not None:
            self.hook(name, batch_id)

    def segmenter(self) -> Any:
        if self.cfg.rules_file is None:
            return None
        from pipelines.segmentation.engine import RulesWatcher

        if self._segmenter is None:
            self._segmenter = RulesWatcher(self.cfg.rules_file, self.cfg.profiles_file)
        return self._segmenter.current()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        t0 = time.monotonic()
        cfg, lake_fs = self.cfg, self.cfg.lake
        batch = batch.persist()
        try:
            side = batch.where(F.col("kind") != "event").collect()
            counts = [json.loads(r["counts"]) for r in side if r["kind"] == "count"]
            self._note_new_versions(counts, batch_id)
            dead = [r for r in side if r["kind"] == "dlq"]
            events = batch.where(F.col("kind") == "event").drop("kind", "dedup_key", "wm_ts", "counts", "raw")
            if cfg.fast_path and cfg.spark_sinks:
                self._fast(batch, batch_id, events, counts, dead, t0)
                return
            steps = {"side": round(time.monotonic() - t0, 3)}
            t = time.monotonic()
            # one aggregation for both: the rate signal's (session, minute) counts and the session
            # state's per-session counters
            per_minute = session_minute_counts(events)
            over = per_minute.filter(pc.field("events") > cfg.bot_events_per_minute)
            rate_bots = frozenset(
                zip(over.column("session_id").to_pylist(), over.column("minute").to_pylist(), strict=True)
            )
            steps["rate"] = round(time.monotonic() - t, 3)
            commit, committed_doc = self._lake_attempt(batch_id)
            committed = committed_doc is not None
            acc = metrics.Accumulator()
            t = time.monotonic()
            segmenter = self.segmenter()
            if segmenter is not None and any(r.scope == "session" for r in segmenter.rules.rules):
                segmenter = self._session_segments(per_minute, segmenter, acc, batch_id)
            steps["sessions"] = round(time.monotonic() - t, 3)
            t = time.monotonic()
            self._note_rule_paths(segmenter, batch_id)
            params = lake.WriteParams(lake_fs, self.sid, batch_id, not committed, rate_bots, segmenter, self.fact_paths)
            # the default (fast path) writes with whole Arrow columns; the reference per row
            body = arrow_sink.write_partition if cfg.fast_path else lake.write_partition
            results = events.mapInArrow(partial(body, params=params), lake.RESULT_DDL).collect()
            files = {}
            for r in results:
                if r["metrics"] is not None:
                    acc.merge_json(r["metrics"])
                elif r["path"] is not None:
                    files[r["path"]] = r["rows"]
            if committed_doc is not None:
                written = int(committed_doc["rows"])
            else:
                written = sum(files.values())
                self._step("lake_written", batch_id)
                lake_fs.write_json(commit, {"batch_id": batch_id, "rows": written, "files": files})
            steps["write"] = round(time.monotonic() - t, 3)
            self._step("lake_committed", batch_id)
            self._finish(batch_id, counts, dead, written, acc, committed, t0, steps)
        finally:
            batch.unpersist()

    def _lake_attempt(self, batch_id: int) -> tuple[str, dict[str, Any] | None]:
        """The batch's lake commit path and its commit document when an earlier attempt committed
        (then the lake is not written again); otherwise this attempt is begun (its marker written,
        an earlier attempt's partial files removed)."""
        commit = lake.commit_path(self.sid, batch_id)
        committed_doc = self.cfg.lake.read_json(commit)
        if committed_doc is None:
            lake.begin_attempt(self.cfg.lake, self.sid, batch_id)
        return commit, committed_doc

    def _fast(
        self,
        batch: DataFrame,
        batch_id: int,
        events: DataFrame,
        counts: list[dict[str, Any]],
        dead: list[Any],
        t0: float,
    ) -> None:
        """The fast path's sinks (``sink.py``): the same steps and order as the reference in
        ``__call__``, with bot flags, segments, metrics and (local lakes) the Parquet write in Spark."""
        from pipelines.streaming import sink

        cfg, lake_fs = self.cfg, self.cfg.lake
        commit, committed_doc = self._lake_attempt(batch_id)
        committed = committed_doc is not None
        acc = metrics.Accumulator()
        steps: dict[str, float] = {"side": round(time.monotonic() - t0, 3)}

        def lap(name: str, since: float) -> float:
            now = time.monotonic()
            steps[name] = round(now - since, 3)
            return now

        t = time.monotonic()
        segmenter = self.segmenter()
        flagged = sink.with_bot_flags(events, cfg.bot_events_per_minute)
        if segmenter is not None and any(r.scope == "session" for r in segmenter.rules.rules):
            segmenter = self._session_segments(session_minute_counts(events), segmenter, acc, batch_id)
        t = lap("sessions", t)
        rows, cached = sink.with_segments(batch.sparkSession, flagged, segmenter)
        if cached:
            batch.unpersist()  # the segments' cache holds the events now: one copy of the batch in memory
        t = lap("segments", t)
        try:
            acc_rows = sink.accumulate(rows)
            t = lap("metrics", t)
            for key, fields in acc_rows.counters.items():
                for f, n in fields.items():
                    acc.counters[key][f] += n
            for key, members in acc_rows.hll.items():
                acc.hll[key] |= members
            if committed_doc is not None:
                written = int(committed_doc["rows"])
            else:
                if lake_fs.local_root is not None:
                    files = sink.write_lake(rows, lake_fs, self.sid, batch_id)
                else:  # S3: the reference writer (Spark's would need the s3a connector)
                    params = lake.WriteParams(lake_fs, self.sid, batch_id, True, frozenset(), None)
                    files = {
                        r["path"]: r["rows"]
                        for r in rows.select(*lake.LAKE_COLUMNS[:-1], "date", "hour")
                        .withColumn("stream_batch_id", F.lit(batch_id).cast("bigint"))
                        .mapInArrow(partial(lake.write_prepared, params=params), lake.RESULT_DDL)
                        .collect()
                        if r["path"] is not None
                    }
                written = sum(files.values())
                self._step("lake_written", batch_id)
                lake_fs.write_json(commit, {"batch_id": batch_id, "rows": written, "files": files})
                lap("lake", t)
        finally:
            for df in cached:
                df.unpersist()
        self._step("lake_committed", batch_id)
        self._finish(batch_id, counts, dead, written, acc, committed, t0, steps)

    def _finish(
        self,
        batch_id: int,
        counts: list[dict[str, Any]],
        dead: list[Any],
        written: int,
        acc: metrics.Accumulator,
        committed: bool,
        t0: float,
        steps: dict[str, float] | None = None,
    ) -> None:
        """Dead letters, then Redis (metrics + ledger in one MULTI/EXEC), then the ledger file."""
        cfg, lake_fs = self.cfg, self.cfg.lake
        t = time.monotonic()
        self._dead_letters(dead, batch_id)
        self._step("dead_letters_sent", batch_id)
        ledger = self._ledger(counts, written, acc)
        for c in counts:
            acc.add_windows(c)
        minute = int(time.time() // 60)
        applied = metrics.apply_batch(
            self.redis, cfg.redis_prefix, f"batch:{self.sid}:{batch_id}", acc, ledger, minute, cfg.redis_ttl_seconds
        )
        self._step("redis_applied", batch_id)
        lake_fs.write_json(
            lake.ledger_path(self.sid, batch_id),
            {
                "stream_id": self.sid,
                "batch_id": batch_id,
                "processed_at": datetime.now(tz=UTC).isoformat(),
                **ledger,
                "windows": acc.windows(),
            },
        )
        log(
            "stream_batch",
            batch_id=batch_id,
            seconds=round(time.monotonic() - t0, 3),
            replayed_lake=committed,
            replayed_redis=not applied,
            **({"steps": {**steps, "dlq_redis_ledger": round(time.monotonic() - t, 3)}} if steps else {}),
            **ledger,
        )

    def _session_segments(self, per_minute: Any, segmenter: Any, acc: metrics.Accumulator, batch_id: int) -> Any:
        """Merge the batch's per-session counters (``per_minute``: ``session_minute_counts``) into
        the session state in Redis (applied with the batch's metrics, so exactly once) and evaluate
        the session-scope rules on the result."""
        from pipelines.segmentation.engine import SESSION_COUNTERS

        if per_minute.num_rows == 0:
            return segmenter
        table = per_minute.group_by("session_id", use_threads=False).aggregate([(k, "sum") for k in SESSION_COUNTERS])
        table = table.rename_columns([c.removesuffix("_sum") for c in table.column_names])
        sessions = table.column("session_id").to_pylist()
        batch_counts = {k: table.column(k).to_pylist() for k in SESSION_COUNTERS}
        prefix = self.cfg.redis_prefix
        already = bool(self.redis.exists(f"{prefix}:batch:{self.sid}:{batch_id}"))
        pipe = self.redis.pipeline(transaction=False)
        for sid in sessions:
            pipe.hgetall(f"{prefix}:sess:{sid}")
        stored = pipe.execute()
        assigned: dict[str, tuple[str, ...]] = {}
        evaluated: dict[tuple[int, ...], tuple[str, ...]] = {}  # the rules once per distinct counters
        for i, (sid, state) in enumerate(zip(sessions, stored, strict=True)):
            counters = {k: int(state.get(k.encode(), 0)) for k in SESSION_COUNTERS}
            if not already:
                for k in SESSION_COUNTERS:
                    n = int(batch_counts[k][i] or 0)
                    counters[k] += n
                    if n:
                        acc.counters[f"sess:{sid}"][k] += n
            key = tuple(counters[k] for k in SESSION_COUNTERS)
            segs = evaluated.get(key)
            if segs is None:
                segs = evaluated[key] = tuple(segmenter.rules.evaluate({"session": counters}, "session"))
            if segs:
                assigned[sid] = segs
        return replace(segmenter, session_segments=assigned)

    @staticmethod
    def _ledger(counts: list[dict[str, Any]], written: int, acc: metrics.Accumulator) -> dict[str, int]:
        total: Counter[str] = Counter()
        for c in counts:
            for k in ("received", "decoded", "valid", "late"):
                total[k] += c[k]
            for reason, n in c["invalid"].items():
                total[f"invalid:{reason}"] += n
        bots = sum(n for key, fields in acc.counters.items() if key.endswith(":bot") for n in fields.values())
        total["duplicate"] = total["valid"] - written
        total["written"] = written
        total["bot"] = bots
        return dict(total)

    def _dead_letters(self, rows: list[Any], batch_id: int) -> None:
        if not rows:
            return
        marker = f"{self.cfg.redis_prefix}:dlq:{self.sid}:{batch_id}"
        if self.redis.exists(marker):
            return
        from confluent_kafka import Producer

        from pipelines.contracts.codec import Codec
        from pipelines.contracts.registry import GlueSchemaRegistry, glue_client

        if self._codec is None:
            self._dlq_version = dead_letter_version(self.cfg)
            registry = GlueSchemaRegistry(glue_client(self.cfg.glue_endpoint), self.cfg.registry_name)
            self._codec = Codec(registry, {"dead_letter": self._dlq_version})
        producer = Producer(
            {
                "bootstrap.servers": self.cfg.kafka_bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 20,
                **kafka_auth.client_config(),  # librdkafka's side of AA_KAFKA_AUTH (the source's is kafka_options)
            }
        )
        errors: list[str] = []
        now = int(time.time() * 1000)
        for r in rows:
            record = {
                "event_id": r["event_id"],
                "reason": r["dlq_reason"],
                "detail": r["dlq_detail"] or "",
                "stage": "stream",
                "event_type": r["event_type"],
                "raw": bytes(r["raw"] or b""),
                "raw_truncated": r["counts"] == "1",
                "request_context": {
                    "kafka_topic": r["kafka_topic"],
                    "kafka_partition": str(r["kafka_partition"]),
                    "kafka_offset": str(r["kafka_offset"]),
                },
                "rejected_at": now,
            }
            key = f"{r['kafka_topic']}/{r['kafka_partition']}/{r['kafka_offset']}"
            producer.produce(
                self.cfg.dead_letter_topic,
                self._codec.encode("dead_letter", record),
                key=key.encode(),
                on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
            )
        if producer.flush(30) or errors:
            raise RuntimeError(f"dead-letter topic {self.cfg.dead_letter_topic}: delivery failed: {errors[:3]}")
        self.redis.set(marker, len(rows), ex=metrics.MARKER_TTL_S)


def start(spark: SparkSession, cfg: StreamConfig, hook: Hook | None = None) -> StreamingQuery:
    return start_with_writer(spark, cfg, hook)[0]


def run(spark: SparkSession, cfg: StreamConfig, poll_seconds: int = 5) -> None:
    """Run until stopped. When a batch had records of schema versions registered after the query
    started (decoded by the codec in Python), stop between batches and start again: the new plan
    reads the registry and decodes them in the JVM (the checkpoint carries on)."""
    while True:
        query, writer = start_with_writer(spark, cfg)
        while query.isActive and not writer.new_versions and not writer.stale_facts:
            query.awaitTermination(poll_seconds)
        if not (writer.new_versions or writer.stale_facts) or cfg.available_now:
            query.awaitTermination()
            return
        reason = "new schema versions" if writer.new_versions else "rules read new record paths"
        log("stream_restart", reason=reason, new_versions=sorted(writer.new_versions))
        query.stop()


def start_with_writer(
    spark: SparkSession, cfg: StreamConfig, hook: Hook | None = None
) -> tuple[StreamingQuery, BatchWriter]:
    sid = stream_id(cfg.checkpoint_dir)
    fact_paths = rule_fact_paths(cfg)
    writer = BatchWriter(cfg, sid, hook, fact_paths)
    ws = (
        events_stream(spark, cfg, fact_paths=fact_paths)
        .writeStream.queryName(cfg.query_name)
        .option("checkpointLocation", cfg.checkpoint_dir)
        .foreachBatch(writer)
    )
    ws = (
        ws.trigger(availableNow=True)
        if cfg.available_now
        else ws.trigger(processingTime=f"{cfg.trigger_seconds} seconds")
    )
    log("stream_start", stream_id=sid, topics=cfg.topics, checkpoint=cfg.checkpoint_dir, lake=cfg.lake_dir)
    return ws.start(), writer
