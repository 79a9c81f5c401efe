"""``python -m pipelines.quality``: the monitor pass and the daily report.

    python -m pipelines.quality monitor [--config FILE] [--now EPOCH_S]   # = python -m pipelines.quality.monitor
    python -m pipelines.quality report [--day YYYY-MM-DD] [--config FILE]  # default: yesterday (UTC)

Locations come from the environment (docs/QUALITY.md); the report is written to
``<AA_QUALITY_STATE_DIR>/reports/<day>.md`` and ``.html`` and its paths printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from pipelines.quality import monitor, report
from pipelines.quality.config import ConfigError, load_config


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--day {text!r} is not a date (YYYY-MM-DD)") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.quality", description="Data quality: monitor and report."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    mon = sub.add_parser("monitor", help="one monitor pass (what the CronJob runs)")
    mon.add_argument("--config", type=Path, default=None)
    mon.add_argument("--now", type=float, default=None)
    rep = sub.add_parser("report", help="the daily data-quality report (markdown + HTML)")
    rep.add_argument("--day", type=_day, default=None, help="UTC day, default yesterday")
    rep.add_argument("--config", type=Path, default=None)
    for p in (mon, rep):
        monitor.add_location_flags(p)
    args = parser.parse_args(argv)
    if args.command == "monitor":
        return monitor.main(
            [
                *(["--config", str(args.config)] if args.config else []),
                *(["--now", str(args.now)] if args.now is not None else []),
                *(
                    arg
                    for flag in ("state_dir", "lake_dir", "warehouse", "batch_dir")
                    if getattr(args, flag) is not None
                    for arg in (f"--{flag.replace('_', '-')}", str(getattr(args, flag)))
                ),
            ]
        )
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loc = monitor.locations_from(args)
    day = args.day or report.yesterday()
    built = report.build_report(day, cfg, loc, monitor.ledger_root(loc))
    md, page = report.write_report(built, loc.state_dir)
    print(json.dumps({"day": day.isoformat(), "markdown": str(md), "html": str(page), **built.totals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
