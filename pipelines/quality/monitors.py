"""Monitors: each a pure rule over measured numbers → findings (key, severity, message).

A finding's ``key`` is its incident: the same key on the next pass is the same incident (no new
alert); a key that is gone resolves it. Keys group what belongs together: one ledger incident per
(hop, event type, hour), one volume incident per (event type, hour), one freshness incident per
layer, one dbt incident per failing test.

| monitor | rule |
|---|---|
| ledger | a receive-minute window past its lag allowance whose counts differ between two hops |
| volume | \\|x - median\\| / (1.4826 · MAD) > sensitivity and \\|x / median - 1\\| ≥ min_change, against the same hour of week of the last weeks; silent until min_history_weeks exist |
| dead_letters | (rejected + invalid + late) / received over the last window > max_rate; schema_violation count > max |
| freshness | Kafka's newest record older than its SLO; any other layer further behind Kafka than its SLO |
| drift | total variation distance of device / channel mix (recent vs baseline) > max_distance; CTR change > max |
| dbt | a failed/erroring dbt node in the latest batch run; a source freshness warn/error |
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.lake_reader import LakeLike
from pipelines.quality import store
from pipelines.quality.config import QualityConfig
from pipelines.quality.ledger import DEAD_LETTER, Ledger, WindowBalance


@dataclass(frozen=True)
class Finding:
    key: str
    monitor: str
    severity: str
    title: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hhmm(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%H:%M")


def _hour_label(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, tz=UTC).strftime("%Y-%m-%dT%H:00Z")


# ---------------------------------------------------------------------- ledger


def ledger_findings(balances: Iterable[WindowBalance], cfg: QualityConfig) -> list[Finding]:
    groups: dict[tuple[str, str, int], list[WindowBalance]] = defaultdict(list)
    for b in balances:
        if b.status == "unbalanced" and b.hop:
            groups[(b.hop, b.event_type, b.minute // 60)].append(b)
    out = []
    for (hop, event_type, hour), windows in sorted(groups.items()):
        gaps = [g for w in windows for g in w.gaps if g.hop == hop]
        missing = sum(g.missing for g in gaps)
        edges = sorted({g.edge for g in gaps})
        minutes = [_hhmm(w.minute) for w in windows]
        what = f"{missing} missing" if missing > 0 else f"{-missing} unaccounted extra"
        out.append(
            Finding(
                key=f"ledger/{hop}/{event_type}/{_hour_label(hour)}",
                monitor="ledger",
                severity=cfg.ledger.severity,
                title=f"ledger does not balance at hop '{hop}' for {event_type}",
                message=(
                    f"{event_type} events received {_hour_label(hour)}: {what} at hop '{hop}' "
                    f"({', '.join(edges)}) in {len(windows)} minute window(s): {', '.join(minutes[:10])}"
                    f"{' …' if len(minutes) > 10 else ''}"
                ),
                details={
                    "hop": hop,
                    "event_type": event_type,
                    "hour": _hour_label(hour),
                    "missing": missing,
                    "windows": [
                        {"minute": w.minute, "gaps": [asdict(g) for g in w.gaps if g.hop == hop]} for w in windows
                    ],
                },
            )
        )
    return out


# ---------------------------------------------------------------------- volume


def robust_score(value: float, history: list[float]) -> tuple[float, float, float]:
    """(median, scale, z) with scale = 1.4826·MAD, floored at 5 % of the median (and at 1) so a
    perfectly regular history does not turn every small wobble into an infinite score."""
    med = statistics.median(history)
    mad = statistics.median(abs(h - med) for h in history)
    scale = max(1.4826 * mad, 0.05 * med, 1.0)
    return med, scale, (value - med) / scale


def volume_findings(root: store.Root, hour: int, cfg: QualityConfig) -> list[Finding]:
    """The hour ``hour`` (complete) against the same hour of week in the previous weeks."""
    current = store.hourly_volume(root, hour)
    if current is None:
        return []
    history: dict[str, list[float]] = defaultdict(list)
    weeks = 0
    for k in range(1, cfg.volume.history_weeks + 1):
        past = store.hourly_volume(root, hour - k * 168)
        if past is None:
            continue
        weeks += 1
        for et in set(past) | set(current):
            history[et].append(float(past.get(et, 0)))
    if weeks < cfg.volume.min_history_weeks:
        return []  # the first days and weeks: no baseline, no alert storm
    out = []
    for et, values in sorted(history.items()):
        if et == DEAD_LETTER or len(values) < cfg.volume.min_history_weeks:
            continue
        x = float(current.get(et, 0))
        med, _, z = robust_score(x, values)
        if med < cfg.volume.min_expected:
            continue
        change = x / med - 1 if med else 0.0
        if abs(z) > cfg.volume.sensitivity and abs(change) >= cfg.volume.min_change:
            kind = "drop" if change < 0 else "spike"
            out.append(
                Finding(
                    key=f"volume/{et}",
                    monitor="volume",
                    severity=cfg.volume.severity,
                    title=f"volume {kind} for {et}",
                    message=(
                        f"{et}: {int(x)} events in {_hour_label(hour)}, {change:+.0%} against the same hour of week "
                        f"(median {med:.0f} over {len(values)} weeks, robust z {z:.1f}, sensitivity "
                        f"{cfg.volume.sensitivity})"
                    ),
                    details={"event_type": et, "hour": _hour_label(hour), "value": x, "median": med, "z": round(z, 2)},
                )
            )
    return out


# ---------------------------------------------------------------------- dead letters


def dead_letter_findings(led: Ledger, now_s: float, cfg: QualityConfig) -> list[Finding]:
    rules = cfg.dead_letters
    end = int(now_s // 60) + 1
    start = end - rules.window_minutes - 1
    received = 0
    reasons: Counter[str] = Counter()
    for (m, _), c in led.counts.items():
        if not start <= m < end:
            continue
        rejected = {k.split(":", 1)[1]: n for k, n in c.items() if k.startswith("collector.rejected:")}
        invalid = {k.split(":", 1)[1]: n for k, n in c.items() if k.startswith("stream.invalid:")}
        reasons.update(rejected)
        reasons.update(invalid)
        reasons["late_event"] += c["stream.late"]
        stream_received = c["stream.valid"] + c["stream.late"] + sum(invalid.values())
        received += sum(rejected.values())
        received += c["collector.accepted"] if "collector" in led.measured else stream_received
    dead = sum(reasons.values())
    schema = reasons["schema_violation"]
    out = []
    rate = dead / received if received else 0.0
    top = ", ".join(f"{r} {n}" for r, n in reasons.most_common(4) if n)
    if received >= rules.min_received and rate > rules.max_rate:
        out.append(
            Finding(
                key="dead_letters/rate",
                monitor="dead_letters",
                severity=rules.severity,
                title="dead-letter rate above threshold",
                message=(
                    f"{dead} of {received} events ({rate:.1%}) dead-lettered in the last {rules.window_minutes} min "
                    f"(threshold {rules.max_rate:.1%}): {top}"
                ),
                details={"dead": dead, "received": received, "rate": round(rate, 4), "reasons": dict(reasons)},
            )
        )
    if schema > rules.max_schema_failures:
        out.append(
            Finding(
                key="dead_letters/schema_violation",
                monitor="dead_letters",
                severity=rules.severity,
                title="schema validation failures above threshold",
                message=(
                    f"{schema} schema_violation records in the last {rules.window_minutes} min "
                    f"(threshold {rules.max_schema_failures})"
                ),
                details={"schema_violation": schema},
            )
        )
    return out


# ---------------------------------------------------------------------- freshness


def freshness_findings(newest: Mapping[str, float | None], now_s: float, cfg: QualityConfig) -> list[Finding]:
    """``newest``: layer → epoch seconds of its newest event (receive time), None when empty."""
    slo = cfg.freshness.slo_minutes
    out = []
    kafka = newest.get("kafka")
    for layer, limit in slo.items():
        if layer not in newest:
            continue
        t = newest[layer]
        if layer == "kafka":
            if t is None:
                continue
            behind, against = (now_s - t) / 60, "now"
        else:
            if kafka is None:
                continue
            behind, against = (kafka - (t or 0)) / 60 if t is not None else float("inf"), "Kafka's newest record"
        if behind > limit:
            shown = "no data" if t is None else f"{behind:.0f} min behind {against}"
            out.append(
                Finding(
                    key=f"freshness/{layer}",
                    monitor="freshness",
                    severity=cfg.freshness.severity,
                    title=f"{layer} is stale",
                    message=f"{layer}: {shown} (SLO {limit:g} min)",
                    details={
                        "layer": layer,
                        "newest": None if t is None else datetime.fromtimestamp(t, tz=UTC).isoformat(),
                        "minutes_behind": None if t is None else round(behind, 1),
                        "slo_minutes": limit,
                    },
                )
            )
    return out


# ---------------------------------------------------------------------- drift


def total_variation(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    sa, sb = sum(a.values()), sum(b.values())
    if not sa or not sb:
        return 0.0
    return 0.5 * sum(abs(a.get(k, 0) / sa - b.get(k, 0) / sb) for k in set(a) | set(b))


def drift_findings(recent: Mapping[str, Any], baseline: Mapping[str, Any], cfg: QualityConfig) -> list[Finding]:
    """``recent``/``baseline``: {"events": n, "device": {...}, "channel": {...}, "impressions": n, "clicks": n}."""
    rules = cfg.drift
    if recent.get("events", 0) < rules.min_events or baseline.get("events", 0) < rules.min_events:
        return []
    out = []
    for dim in ("device", "channel"):
        d = total_variation(recent.get(dim, {}), baseline.get(dim, {}))
        if d > rules.max_distance:
            out.append(
                Finding(
                    key=f"drift/{dim}",
                    monitor="drift",
                    severity=rules.severity,
                    title=f"{dim} mix drifted",
                    message=(
                        f"{dim} mix of the last {rules.recent_hours:g} h differs from the {rules.baseline_days:g}-day "
                        f"baseline by {d:.2f} (total variation; tolerance {rules.max_distance})"
                    ),
                    details={
                        "distance": round(d, 4),
                        "recent": dict(recent.get(dim, {})),
                        "baseline": dict(baseline.get(dim, {})),
                    },
                )
            )
    ctr_r = recent.get("clicks", 0) / recent["impressions"] if recent.get("impressions") else None
    ctr_b = baseline.get("clicks", 0) / baseline["impressions"] if baseline.get("impressions") else None
    if ctr_r is not None and ctr_b:
        change = ctr_r / ctr_b - 1
        if abs(change) > rules.max_ctr_change:
            out.append(
                Finding(
                    key="drift/ctr",
                    monitor="drift",
                    severity=rules.severity,
                    title="CTR drifted",
                    message=(
                        f"clicks per impression {ctr_r:.3f} in the last {rules.recent_hours:g} h vs {ctr_b:.3f} "
                        f"baseline ({change:+.0%}; tolerance ±{rules.max_ctr_change:.0%})"
                    ),
                    details={"recent": round(ctr_r, 5), "baseline": round(ctr_b, 5)},
                )
            )
    return out


def lake_profile(lake_dir: LakeLike, start_ms: int, end_ms: int) -> dict[str, Any]:
    """Device mix, channel mix, impressions and clicks of non-bot lake rows received in [start, end)."""
    import duckdb

    from pipelines import lake_reader

    empty: dict[str, Any] = {"events": 0, "device": {}, "channel": {}, "impressions": 0, "clicks": 0}
    lake = lake_reader.as_lake(lake_dir)
    files = lake_reader.event_files(lake, start_ms, end_ms)
    if not files:
        return empty
    rows_table = lake_reader.table(lake, files, ["event_type", "device_type", "channel", "received_ms", "is_bot"])
    con = duckdb.connect()
    con.register("rows_table", rows_table)
    rows = con.execute(
        """
        select event_type, coalesce(device_type, 'unknown'), coalesce(channel, 'unknown'), count(*)
        from rows_table
        where received_ms >= ? and received_ms < ? and not coalesce(is_bot, false)
        group by all
        """,
        [start_ms, end_ms],
    ).fetchall()
    out = dict(empty, device=Counter(), channel=Counter())
    for et, device, channel, n in rows:
        out["events"] += n
        if et == "page_view":
            out["device"][device] += n
            out["channel"][channel] += n
        elif et == "product_impression":
            out["impressions"] += n
        elif et == "affiliate_click":
            out["clicks"] += n
    return out


# ---------------------------------------------------------------------- dbt


def latest_batch_report(batch_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    reports = sorted((batch_dir / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    return reports[-1], json.loads(reports[-1].read_text())


def dbt_findings(batch_dir: Path | None, cfg: QualityConfig) -> list[Finding]:
    """Failed dbt tests/models of the latest batch run report and source freshness (``sources.json``)."""
    if batch_dir is None:
        return []
    out = []
    latest = latest_batch_report(batch_dir)
    if latest is not None:
        path, report = latest
        for step in report.get("steps", []):
            for failure in step.get("failures", []):
                node, _, msg = str(failure).partition(": ")
                parts = node.split(".")  # <resource type>.<project>.<name>[.<hash>]
                out.append(
                    Finding(
                        key=f"dbt/{node}",
                        monitor="dbt",
                        severity=cfg.dbt.severity,
                        title=f"dbt {parts[0]} failed: {parts[2] if len(parts) > 2 else node}",
                        message=f"{node}: {msg.strip() or 'failed'} (batch run {report.get('started_at')}, {path.name})",
                        details={"node": node, "report": str(path)},
                    )
                )
    sources = batch_dir / "target" / "sources.json"
    if sources.exists():
        for r in json.loads(sources.read_text()).get("results", []):
            status = str(r.get("status"))
            if status in ("warn", "error", "runtime error"):
                uid = str(r.get("unique_id"))
                age = r.get("max_loaded_at_time_ago_in_s")
                out.append(
                    Finding(
                        key=f"dbt_freshness/{uid}",
                        monitor="dbt",
                        severity=cfg.dbt.severity if status != "warn" else cfg.dbt.freshness_warn_severity,
                        title=f"source freshness {status}: {uid.split('.')[-1]}",
                        message=f"{uid}: freshness {status}"
                        + (f", newest row loaded {float(age) / 3600:.1f} h ago" if age is not None else ""),
                        details={"source": uid, "status": status, "age_s": age},
                    )
                )
    return out
