"""The daily data-quality report (markdown and HTML from one structure), stored with the runs.

    python -m pipelines.quality report --day 2026-11-25     → <state>/reports/2026-11-25.md / .html

Sections: the ledger balance of the day per hour and event type (from the durable ledger), the
incidents opened and resolved that day (incident book), the monitors' findings over the day's
passes (``<state>/runs/<day>.jsonl``), the dbt runs of the day (batch reports: node statuses and
failures) and freshness per layer at the last pass.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.quality import store
from pipelines.quality.config import Locations, QualityConfig


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)


@dataclass
class Report:
    day: date
    title: str
    sections: list[Section]
    totals: dict[str, int]


def _day_hours(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 3600
    return start, start + 23


def ledger_section(root: store.Root, day: date) -> tuple[Section, dict[str, int]]:
    first, last = _day_hours(day)
    rows = store.read_hours(root, first, last)
    cols = ["received", "accepted", "rejected", "written", "invalid", "duplicate", "late", "bot", "in_flight"]
    per: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    status: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    hops: dict[tuple[str, str], set[str]] = defaultdict(set)
    totals: Counter[str] = Counter()
    for r in rows:
        hour = r["window_start"].strftime("%H:00")
        key = (hour, r["event_type"])
        for c in cols:
            per[key][c] += int(r[c] or 0)
            totals[c] += int(r[c] or 0)
        status[key][r["status"]] += 1
        totals[f"windows_{r['status']}"] += 1
        if r["hop"]:
            hops[key].add(r["hop"])
    table = Table(
        ["hour (UTC)", "event type", *cols, "windows", "balance"],
        [
            [
                hour,
                et,
                *(per[(hour, et)][c] for c in cols),
                sum(status[(hour, et)].values()),
                "balanced"
                if set(status[(hour, et)]) == {"balanced"}
                else ", ".join(f"{s} {n}" for s, n in sorted(status[(hour, et)].items()))
                + (f" (hop: {', '.join(sorted(hops[(hour, et)]))})" if hops[(hour, et)] else ""),
            ]
            for hour, et in sorted(per)
        ],
    )
    unbalanced = totals["windows_unbalanced"]
    windows = sum(v for k, v in totals.items() if k.startswith("windows_"))
    text = (
        f"{windows} receive-minute windows; {totals['received']} events received, {totals['written']} written to the "
        f"lake, {totals['invalid']} dead-lettered, {totals['duplicate']} duplicates dropped, {totals['late']} late, "
        f"{totals['in_flight']} in flight. "
        + ("Every window balances." if not unbalanced else f"**{unbalanced} window(s) do not balance.**")
        if windows
        else "No ledger windows recorded for this day."
    )
    return Section("Ledger balance", text, [table] if table.rows else []), dict(totals)


def _runs(state_dir: Path, day: date) -> list[dict[str, Any]]:
    path = state_dir / "runs" / f"{day.isoformat()}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def monitors_section(state_dir: Path, day: date, runs: list[dict[str, Any]]) -> Section:
    seen: dict[str, dict[str, Any]] = {}
    for run in runs:
        for f in run.get("findings", []):
            entry = seen.setdefault(f["key"], {**f, "first": run["at"], "last": run["at"], "passes": 0})
            entry["last"], entry["passes"] = run["at"], entry["passes"] + 1
    findings = Table(
        ["monitor", "severity", "finding", "first seen", "last seen", "passes"],
        [[f["monitor"], f["severity"], f["message"], f["first"], f["last"], f["passes"]] for f in seen.values()],
    )
    book = state_dir / "incidents.json"
    history = json.loads(book.read_text()).get("history", []) if book.exists() else []
    events = [h for h in history if str(h.get("at", "")).startswith(day.isoformat())]
    incidents = Table(
        ["at", "event", "severity", "incident"],
        [[h["at"], h["event"], h.get("severity", ""), h.get("title", h["key"])] for h in events],
    )
    text = f"{len(runs)} monitor pass(es); {len(seen)} distinct finding(s); " + (
        f"{sum(1 for h in events if h['event'] == 'opened')} incident(s) opened, "
        f"{sum(1 for h in events if h['event'] == 'resolved')} resolved."
    )
    return Section("Monitors and incidents", text, [t for t in (findings, incidents) if t.rows])


def dbt_section(batch_dir: Path | None, day: date) -> Section:
    if batch_dir is None or not (batch_dir / "reports").exists():
        return Section("dbt", "No batch runs recorded.")
    rows, failures = [], []
    for path in sorted((batch_dir / "reports").glob("*.json")):
        doc = json.loads(path.read_text())
        if not str(doc.get("started_at", "")).startswith(day.isoformat()):
            continue
        for step in doc.get("steps", []):
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(step.get("statuses", {}).items()))
            rows.append([doc["started_at"], doc["kind"], step["label"], step["exit_code"], statuses])
            failures += [[doc["started_at"], f] for f in step.get("failures", [])]
    tables = [Table(["started", "run", "step", "exit", "node statuses"], rows)]
    if failures:
        tables.append(Table(["run", "failure"], failures))
    text = f"{len(rows)} dbt step(s), {len(failures)} failing node(s)." if rows else "No dbt runs on this day."
    return Section("dbt tests and builds", text, [t for t in tables if t.rows])


def freshness_section(runs: list[dict[str, Any]], cfg: QualityConfig) -> Section:
    if not runs:
        return Section("Freshness", "No monitor pass on this day.")
    last = runs[-1]
    stale = {f["details"].get("layer") for f in last.get("findings", []) if f["monitor"] == "freshness"}
    table = Table(
        ["layer", "newest event / build", "SLO (min)", "status"],
        [
            [layer, newest or "no data", cfg.freshness.slo_minutes.get(layer, ""), "stale" if layer in stale else "ok"]
            for layer, newest in last.get("freshness", {}).items()
        ],
    )
    return Section("Freshness", f"At the last pass ({last['at']}).", [table])


def build_report(day: date, cfg: QualityConfig, loc: Locations, ledger_root: store.Root) -> Report:
    ledger, totals = ledger_section(ledger_root, day)
    runs = _runs(loc.state_dir, day)
    sections = [
        ledger,
        monitors_section(loc.state_dir, day, runs),
        dbt_section(loc.batch_dir, day),
        freshness_section(runs, cfg),
    ]
    return Report(day, f"Data-quality report {day.isoformat()}", sections, totals)


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for s in report.sections:
        lines += [f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        for t in s.tables:
            lines.append("| " + " | ".join(t.columns) + " |")
            lines.append("|" + "---|" * len(t.columns))
            lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in t.rows]
            lines.append("")
    return "\n".join(lines)


_CSS = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
)


def to_html(report: Report) -> str:
    esc = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(report.title)}</title>"]
    out.append(f"<style>{_CSS}</style></head><body><h1>{esc(report.title)}</h1>")
    for s in report.sections:
        out.append(f"<h2>{esc(s.title)}</h2>")
        if s.text:
            text = esc(s.text)
            while "**" in text:
                text = text.replace("**", "<strong>", 1).replace("**", "</strong>", 1)
            out.append(f"<p>{text}</p>")
        for t in s.tables:
            out.append("<table><thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in t.columns) + "</tr></thead><tbody>")
            for row in t.rows:
                cells = "".join(
                    f"<td class='num'>{v}</td>" if isinstance(v, int) else f"<td>{esc(str(v))}</td>" for v in row
                )
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(report: Report, state_dir: Path) -> tuple[Path, Path]:
    out = state_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / f"{report.day.isoformat()}.md", out / f"{report.day.isoformat()}.html"
    md.write_text(to_markdown(report))
    page.write_text(to_html(report))
    return md, page


def yesterday() -> date:
    return (datetime.now(tz=UTC) - timedelta(days=1)).date()
