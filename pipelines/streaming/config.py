"""Configuration of the streaming job: one validated object; errors name the key and what is allowed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines import kafka_auth
from pipelines.contracts.schemas import DEAD_LETTER
from pipelines.streaming.lakefs import Lake


class StreamConfigError(ValueError):
    pass


def _default_topics() -> list[str]:
    from pipelines.contracts.topics import load_topics

    return [s.name for s in load_topics() if s.event_type != DEAD_LETTER]


def _default_dead_letter_topic() -> str:
    from pipelines.contracts.topics import topic_for

    return topic_for(DEAD_LETTER)


class StreamConfig(BaseModel):
    """Every setting of the job. Defaults suit the local demo; the cloud passes its own values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lake_dir: str = Field(description="root of the lake: a local folder or an s3:// URI")
    checkpoint_dir: str = Field(description="Spark checkpoint location, one per query: a local folder or an s3a:// URI")
    kafka_bootstrap: str = Field(default_factory=lambda: os.environ.get("AA_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    kafka_options: dict[str, str] = Field(
        default_factory=kafka_auth.spark_options,
        description="extra kafka.* options of the Kafka source (AA_KAFKA_AUTH)",
    )
    topics: list[str] = Field(default_factory=_default_topics, min_length=1)
    dead_letter_topic: str = Field(default_factory=_default_dead_letter_topic)
    glue_endpoint: str | None = Field(default_factory=lambda: os.environ.get("AA_GLUE_ENDPOINT"))
    registry_name: str = Field(default_factory=lambda: os.environ.get("AA_REGISTRY_NAME", "affiliate-analytics"))
    redis_url: str = Field(default_factory=lambda: os.environ.get("AA_REDIS_URL", "redis://127.0.0.1:16379/0"))
    redis_prefix: str = Field(default="aa", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    redis_ttl_seconds: int = Field(default=48 * 3600, gt=0)
    trigger_seconds: float = Field(default=10.0, gt=0)
    available_now: bool = False
    max_offsets_per_trigger: int | None = Field(default=None, gt=0)
    starting_offsets: str = Field(default="earliest", pattern=r"^(earliest|latest)$")
    dedup_window_minutes: int = Field(default=10, gt=0, description="watermark delay of the deduplication")
    # Off by default: measured no faster end to end (docs/BENCHMARKS.md), and Java's reader accepts
    # trailing bytes and replaces invalid UTF-8 where the codec dead-letters the record.
    jvm_decode: bool = Field(
        default=False,
        description="decode with Spark's from_avro (JVM); false: every record through the codec in Python",
    )
    # The default is the fast decode with the Arrow writer (arrow_sink.py): 1.6x the per-record
    # reference per 300,000-event micro-batch, less CPU per event, freshness within target
    # (docs/BENCHMARKS.md, "Stream processing"); every path gives the same rows, dead letters and
    # counts (tests). Known difference of the JVM decode: bytes after a complete Avro record are not
    # detected (the codec dead-letters them); invalid UTF-8 is sent to the codec.
    fast_path: bool = Field(
        default=True,
        description=(
            "JVM decode, vectorised validation and enrichment on distinct values; false: the per-record reference "
            "(codec decode and rules in Python)"
        ),
    )
    coalesce_source: bool = Field(
        default=True,
        description=(
            "read the Kafka partitions in as many tasks as the job has cores (coalesce), not one task per "
            "partition: halves the fixed cost of a micro-batch; false: one task per Kafka partition"
        ),
    )
    spark_sinks: bool = Field(
        default=False,
        description=(
            "with fast_path: bot flags, segments, Redis metrics and the local lake as Spark jobs (measured slower "
            "in wall time on 2 cores); false: the Python tasks on whole Arrow columns (arrow_sink.write_partition)"
        ),
    )
    max_delay_hours: float = Field(default=72.0, gt=0, description="late-event policy")
    future_tolerance_minutes: float = Field(default=5.0, ge=0)
    bot_events_per_minute: int = Field(default=120, gt=0, description="rate signal: events per session per minute")
    rules_file: Path | None = Field(default=None, description="segmentation rules YAML (reloaded on change)")
    profiles_file: Path | None = Field(default=None, description="visitor profile table (JSON lines or Parquet)")
    master: str = "local[2]"
    driver_memory: str = Field(
        default="4g",
        pattern=r"^[0-9]+[kmgt]$",
        description="heap of the local driver JVM (local runs only; it caches whole micro-batches of ~300k events)",
    )
    shuffle_partitions: int = Field(default=2, gt=0)
    rocksdb_state_store: bool = True
    query_name: str = Field(default="events", pattern=r"^[A-Za-z0-9_-]+$")

    @field_validator("lake_dir", "checkpoint_dir", mode="before")
    @classmethod
    def _location(cls, v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, str):
            Lake.at(v)  # raises LakeUriError (a ValueError) naming what is allowed
        return v

    @property
    def lake(self) -> Lake:
        return Lake.at(self.lake_dir)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, v: str) -> str:
        for hp in v.split(","):
            host, _, port = hp.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {v!r}")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {v!r}")
        return v

    @field_validator("rules_file", "profiles_file")
    @classmethod
    def _exists(cls, v: Path | None) -> Path | None:
        if v is not None and not v.exists():
            raise ValueError(f"file {v} does not exist")
        return v


def load_config(**values: Any) -> StreamConfig:
    """Build a config; a bad value raises StreamConfigError naming each offending key."""
    try:
        return StreamConfig(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(config)"
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            problems.append(f"key '{key}': {err['msg']}{got}")
        raise StreamConfigError("streaming config is invalid: " + "; ".join(problems)) from None
