"""Quality monitor configuration: the rules file (YAML, ``AA_QUALITY_CONFIG``, default
``pipelines/quality/quality.yaml``) plus where things are (environment, see :class:`Locations`).

A bad value fails before anything runs, one line per problem naming the file, the key and what is
allowed, e.g.::

    pipelines/quality/quality.yaml: key 'volume.sensitivity': Input should be greater than 0 (got -1)
    quality.yaml: key 'freshness.slo_minutes.lakehouse': unknown key; allowed: kafka, lake, marts, redis, warehouse
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from pipelines.lake_reader import LakeLike

DEFAULT_FILE = Path(__file__).with_name("quality.yaml")
Severity = Literal["critical", "warning"]
SEVERITIES: tuple[str, ...] = ("critical", "warning")
LAYERS: tuple[str, ...] = ("kafka", "redis", "lake", "warehouse", "marts")
SNOWFLAKE_KEYS = ("account", "user", "private_key_path", "role", "warehouse")


class ConfigError(ValueError):
    """Invalid quality configuration; one line per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerRules(_Strict):
    lookback_hours: float = Field(default=26, gt=0, le=24 * 8, description="windows checked per pass")
    stream_lag_allowance_minutes: float = Field(
        default=5, ge=0, description="a receive minute younger than this may still be in flight to the stream/lake"
    )
    warehouse_lag_allowance_minutes: float = Field(
        default=90, ge=0, description="the same for RAW and staging (hourly dbt build)"
    )
    check_warehouse: bool = True
    severity: Severity = "critical"


class VolumeRules(_Strict):
    sensitivity: float = Field(default=3.5, gt=0, description="robust z-score (median/MAD) that alerts")
    min_change: float = Field(default=0.3, gt=0, lt=1, description="and the relative change must be at least this")
    min_history_weeks: int = Field(default=3, ge=1, description="no alert before this many same-hour-of-week points")
    history_weeks: int = Field(default=8, ge=1, le=52)
    min_expected: int = Field(default=20, ge=0, description="no alert when the baseline median is below this")
    severity: Severity = "warning"


class DeadLetterRules(_Strict):
    window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_rate: float = Field(default=0.05, gt=0, le=1, description="dead-lettered / received")
    max_schema_failures: int = Field(default=50, ge=0, description="schema_violation records in the window")
    min_received: int = Field(default=20, ge=0, description="no rate alert below this many received")
    severity: Severity = "critical"


class FreshnessRules(_Strict):
    slo_minutes: dict[Literal["kafka", "redis", "lake", "warehouse", "marts"], float] = Field(
        default_factory=lambda: {"kafka": 15.0, "redis": 5.0, "lake": 10.0, "warehouse": 120.0, "marts": 180.0}
    )
    severity: Severity = "warning"


class DriftRules(_Strict):
    recent_hours: float = Field(default=24, gt=0)
    baseline_days: float = Field(default=7, gt=0)
    max_distance: float = Field(
        default=0.15, gt=0, le=1, description="total variation distance of device / channel mix"
    )
    max_ctr_change: float = Field(default=0.3, gt=0, description="relative change of clicks per impression")
    min_events: int = Field(default=200, ge=1, description="each side needs this many events")
    severity: Severity = "warning"


class DbtRules(_Strict):
    severity: Severity = "critical"
    freshness_warn_severity: Severity = "warning"


class AlertRules(_Strict):
    resolve_after_passes: int = Field(default=1, ge=1, description="clean passes before an incident resolves")
    source: str = Field(default="affiliate-analytics", min_length=1)


class QualityConfig(_Strict):
    redis_prefix: str = Field(default="aa", pattern=r"^[A-Za-z0-9_.-]+$")
    ledger: LedgerRules = LedgerRules()
    volume: VolumeRules = VolumeRules()
    dead_letters: DeadLetterRules = DeadLetterRules()
    freshness: FreshnessRules = FreshnessRules()
    drift: DriftRules = DriftRules()
    dbt: DbtRules = DbtRules()
    alerts: AlertRules = AlertRules()


def load_config(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> QualityConfig:
    """The rules file (``AA_QUALITY_CONFIG`` or the packaged default) with ``overrides`` on top."""
    path = path or Path(os.environ.get("AA_QUALITY_CONFIG") or DEFAULT_FILE)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the quality config: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of quality settings, got {type(doc).__name__}")
    doc = _merge(doc, dict(overrides or {}))
    try:
        return QualityConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(explain(exc, path)) from None


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def _model_at(loc: tuple[Any, ...]) -> Any:
    model: Any = QualityConfig
    for part in loc:
        field = getattr(model, "model_fields", {}).get(str(part))
        if field is None:
            return model
        model = field.annotation
    return model


def explain(exc: ValidationError, path: Path) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            allowed = sorted(getattr(parent, "model_fields", {}))
            msg = f"unknown key; allowed: {', '.join(allowed)}"
        elif err["type"] == "literal_error" and "expected" in (ctx := err.get("ctx") or {}):
            msg = f"{err['input']!r} is not allowed; allowed: {ctx['expected']}"
        elif "input" in err and not isinstance(err["input"], dict):
            msg += f" (got {err['input']!r})"
        lines.append(f"{path}: key '{key}': {msg}")
    return "invalid quality configuration:\n  " + "\n  ".join(lines)


@dataclass(frozen=True)
class Locations:
    """Where the monitor reads and writes; from the environment (what the CronJob sets)."""

    redis_url: str
    kafka_bootstrap: str | None
    lake_dir: LakeLike | None  # a folder or a URI (s3://bucket/prefix in the cloud: what the stream writes)
    warehouse_path: Path | None
    batch_dir: Path | None
    state_dir: Path
    sink_file: Path | None
    webhook_url: str | None
    sns_topics: Mapping[str, str]
    aws_endpoint: str | None
    topic_prefix: str = ""
    incidents_in_redis: bool = False  # keep the incident book in Redis too (the CronJob: no disk between runs)
    # the warehouse hop on Snowflake (cloud): account, user, private_key_path, role, warehouse
    snowflake: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Locations:
        env = os.environ if env is None else env
        repo = Path(__file__).resolve().parents[2]

        def path(name: str, default: Path | None = None) -> Path | None:
            value = env.get(name)
            return Path(value) if value else default

        state = path("AA_QUALITY_STATE_DIR", repo / ".local" / "quality")
        assert state is not None
        sns = {
            s: env[f"AA_QUALITY_SNS_TOPIC_{s.upper()}"]
            for s in SEVERITIES
            if env.get(f"AA_QUALITY_SNS_TOPIC_{s.upper()}")
        }
        return cls(
            redis_url=env.get("AA_QUALITY_REDIS_URL") or env.get("AA_REDIS_URL") or "redis://127.0.0.1:16379/0",
            kafka_bootstrap=env.get("AA_KAFKA_BOOTSTRAP") or None,
            lake_dir=env.get("AA_LAKE_DIR") or repo / ".local" / "lake",  # a URI: Path would fold s3://
            warehouse_path=path("AA_WAREHOUSE_PATH", repo / ".local" / "warehouse.duckdb"),
            batch_dir=path("AA_BATCH_DIR", repo / ".local" / "batch"),
            state_dir=state,
            sink_file=path("AA_QUALITY_SINK_FILE", state / "alerts.jsonl"),
            webhook_url=env.get("AA_QUALITY_WEBHOOK_URL") or None,
            sns_topics=sns,
            aws_endpoint=env.get("AA_AWS_ENDPOINT") or None,
            incidents_in_redis=env.get("AA_QUALITY_INCIDENTS_IN_REDIS", "").lower() in ("1", "true", "yes"),
            snowflake={
                k: env[f"AA_QUALITY_SNOWFLAKE_{k.upper()}"]
                for k in SNOWFLAKE_KEYS
                if env.get(f"AA_QUALITY_SNOWFLAKE_{k.upper()}")
            }
            if env.get("AA_QUALITY_SNOWFLAKE_ACCOUNT")
            else None,
        )
