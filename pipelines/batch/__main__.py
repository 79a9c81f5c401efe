"""Batch ETL entry point (local runs and the cloud CronJob).

    python -m pipelines.batch run --schedule hourly|daily [--target local|dev|prod]
    python -m pipelines.batch backfill --from 2026-11-01 --to 2026-11-07 [--chunk-days 1]
    python -m pipelines.batch show [--rows 5]      # top rows of attribution and campaign effectiveness (local)

Every run writes a JSON report (steps, dbt node statuses, rows per model, failures) under
``--reports-dir`` and prints a one-line summary; the exit code is 0 only when every step passed.
The target defaults to ``AA_DBT_TARGET`` (else ``local``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.batch import runner


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.batch", description="Warehouse batch ETL (dbt).")
    parser.add_argument("--target", default=os.environ.get("AA_DBT_TARGET", "local"))
    parser.add_argument("--work-dir", type=Path, default=runner.REPO / ".local" / "batch")
    parser.add_argument("--reports-dir", type=Path, default=None, help="default: <work-dir>/reports")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="scheduled run")
    run.add_argument("--schedule", choices=runner.SCHEDULES, required=True)
    backfill = sub.add_parser("backfill", help="rebuild a date range from the lake/RAW (idempotent)")
    backfill.add_argument("--from", dest="start", type=_date, required=True)
    backfill.add_argument("--to", dest="end", type=_date, required=True, help="inclusive")
    backfill.add_argument("--chunk-days", type=int, default=1)
    show = sub.add_parser("show", help="print the top rows of the marketing marts (local DuckDB)")
    show.add_argument("--rows", type=int, default=5)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "show":
        from pipelines.batch.show import render

        print(render(Path(os.environ.get("AA_WAREHOUSE_PATH", runner.REPO / ".local" / "warehouse.duckdb")), args.rows))
        return 0
    try:
        if args.command == "run":
            kind, commands = f"run {args.schedule}", runner.plan(args.schedule)
        else:
            windows = runner.backfill_windows(args.start, args.end, args.chunk_days)
            kind, commands = f"backfill {args.start}..{args.end}", [runner.backfill_command(w) for w in windows]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = runner.execute(kind, commands, args.target, args.work_dir)
    path = runner.write_report(report, args.reports_dir or args.work_dir / "reports")
    summary = {"kind": report.kind, "target": report.target, "ok": report.ok, "seconds": report.seconds}
    print(json.dumps({**summary, "steps": len(report.steps), "report": str(path)}))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
