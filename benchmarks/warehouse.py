"""Warehouse benchmark: full dbt build on DuckDB over a generated lake, then one new hour incrementally.

    uv run python -m benchmarks.warehouse [--events 1000000] [--work-dir .local/bench-warehouse]

Steps (wall clock, each dbt step a fresh `dbt run` process, so parse/startup is included and also
reported on its own via dbt's `elapsed_time`): generate the lake (pipelines.batch.generate), full
build of every model, then one more hour of events written as a new stream batch and an
incremental run. The ratio incremental / full is the figure the warehouse issue asks for.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.batch import generate, runner

EVENTS_PER_SESSION = 8.6  # measured mean of pipelines.contracts.samples sessions (with duplicates)


def _dbt(args: list[str], env: dict[str, str], work: Path) -> tuple[float, float]:
    cmd = [runner.dbt_executable(), *args, "--project-dir", str(runner.DBT_DIR), "--profiles-dir", str(runner.DBT_DIR)]
    cmd += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    started = time.monotonic()
    subprocess.run(cmd, env=env, cwd=runner.REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    results = json.loads((work / "target" / "run_results.json").read_text())
    return wall, float(results.get("elapsed_time", 0.0))


def _count(con_path: Path, table: str) -> int:
    import duckdb

    with duckdb.connect(str(con_path), read_only=True) as con:
        return int(con.sql(f"select count(*) from {table}").fetchall()[0][0])


def run(events: int, work: Path) -> dict[str, float | int]:
    shutil.rmtree(work, ignore_errors=True)
    lake, db = work / "lake", work / "warehouse.duckdb"
    env = {**os.environ, "AA_LAKE_DIR": str(lake), "AA_WAREHOUSE_PATH": str(db), "AA_DBT_TARGET": "local"}
    sessions = max(1, round(events / EVENTS_PER_SESSION))

    started = time.monotonic()
    rows = generate.generate_rows(generate.GenerateOptions(sessions=sessions, seed=11))
    files = generate.write_lake(rows, lake, batch_id=1)
    gen_s = time.monotonic() - started
    newest = max(r["event_time_ms"] for r in rows)
    lake_rows = sum(pq.read_metadata(f).num_rows for f in files)
    del rows

    full_wall, full_dbt = _dbt(["run", "--full-refresh"], env, work / "full")
    # One new hour: sessions starting right after the newest event, written as the next stream batch.
    hour_rows = generate.generate_rows(
        generate.GenerateOptions(sessions=1200, seed=12, start_ms=newest + 60_000, session_gap_ms=(2_500, 3_500))
    )
    generate.write_lake(hour_rows, lake, batch_id=2, prefix="hour")
    inc_wall, inc_dbt = _dbt(["run"], env, work / "inc")
    return {
        "lake_rows": lake_rows,
        "new_hour_rows": len(hour_rows),
        "generate_s": round(gen_s, 1),
        "full_wall_s": round(full_wall, 1),
        "full_dbt_s": round(full_dbt, 1),
        "incremental_wall_s": round(inc_wall, 1),
        "incremental_dbt_s": round(inc_dbt, 1),
        "incremental_fraction_wall": round(inc_wall / full_wall, 3),
        "incremental_fraction_dbt": round(inc_dbt / full_dbt, 3),
        "page_views": _count(db, "staging.stg_events__page_views"),
        "attribution_rows": _count(db, "marketing.attribution"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warehouse")
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--work-dir", type=Path, default=runner.REPO / ".local" / "bench-warehouse")
    args = parser.parse_args(argv)
    print(
        "| lake rows | generate s | full build s (wall / dbt) | +1 hour rows | incremental s (wall / dbt) | incremental / full (wall / dbt) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.events:
        r = run(n, args.work_dir / str(n))
        print(
            f"| {r['lake_rows']:,} | {r['generate_s']} | {r['full_wall_s']} / {r['full_dbt_s']} | {r['new_hour_rows']:,} "
            f"| {r['incremental_wall_s']} / {r['incremental_dbt_s']} "
            f"| {r['incremental_fraction_wall']:.1%} / {r['incremental_fraction_dbt']:.1%} |",
            flush=True,
        )
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
