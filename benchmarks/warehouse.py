"""Warehouse benchmark: full dbt build on DuckDB over a generated lake, then one new hour incrementally.

    uv run python -m benchmarks.warehouse [--events 1000000 [10000000 ...]] [--work-dir .local/bench-warehouse]
        [--cache-dir .local/bench-warehouse-cache | --no-cache]

Per size (side by side in one run):

1. generate the lake (``pipelines.batch.generate.generate_lake``: chunked, bounded memory, progress),
   or reuse the cached one: the cache holds one generated lake per (size, seed, workers, generator
   source hash), and each run hard-links it into its work dir (the new hour is written as new
   files, so the cached files are never modified);
2. full build: ``dbt run --full-refresh`` of every model in a fresh ``dbt`` process (wall: process
   start + parse + execution; dbt: dbt's own ``elapsed_time`` of the execution);
3. one new hour of events written as the next stream batch; the warehouse file is copied first,
   so each incremental variant starts from the same state:
   - ``cli``: ``dbt run`` in a fresh process with partial parsing (the manifest of step 2 is
     reused; what a CronJob pod pays every hour),
   - ``in-process``: ``dbtRunner`` with the manifest parsed once (a long-running scheduler pays
     only execution), and the dbt execution time alone;
4. the incremental / full fractions for each way of counting, and the per-model times of the
   incremental run (where the time goes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.batch import generate, runner

EVENTS_PER_SESSION = 8.6  # measured mean of pipelines.contracts.samples sessions (with duplicates)
SEED = 11
# The lake depends on these sources; a change to any of them invalidates the cache.
GENERATOR_SOURCES = [
    runner.REPO / "pipelines" / "batch" / "generate.py",
    runner.REPO / "pipelines" / "contracts" / "samples.py",
]


def _dbt_flags(target: Path) -> list[str]:
    return [
        "--project-dir",
        str(runner.DBT_DIR),
        "--profiles-dir",
        str(runner.DBT_DIR),
        "--target-path",
        str(target / "target"),
        "--log-path",
        str(target / "logs"),
    ]


def _cli(args: list[str], env: dict[str, str], work: Path) -> tuple[float, dict[str, Any]]:
    """A fresh dbt process; wall seconds and its run_results.json."""
    cmd = [runner.dbt_executable(), *args, *_dbt_flags(work)]
    started = time.monotonic()
    subprocess.run(cmd, env=env, cwd=runner.REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    return wall, json.loads((work / "target" / "run_results.json").read_text())


def _model_times(results: dict[str, Any]) -> dict[str, float]:
    return {
        str(r["unique_id"]).split(".")[-1]: round(float(r.get("execution_time") or 0.0), 2)
        for r in results.get("results", [])
    }


class InProcess:
    """dbt in this process: parse once, then every run reuses the manifest (no parse, no start)."""

    def __init__(self, env: dict[str, str], work: Path) -> None:
        from dbt.cli.main import dbtRunner

        os.environ.update(env)
        self.work = work
        started = time.monotonic()
        parsed = dbtRunner().invoke(["parse", *_dbt_flags(work)])
        if not parsed.success:
            raise RuntimeError(f"dbt parse failed: {parsed.exception}")
        self.parse_s = time.monotonic() - started
        self.runner = dbtRunner(manifest=parsed.result)  # type: ignore[arg-type]
        self.last_results: dict[str, Any] = {}

    def run(self, args: list[str]) -> tuple[float, float]:
        started = time.monotonic()
        res = self.runner.invoke([*args, *_dbt_flags(self.work)])
        wall = time.monotonic() - started
        if not res.success:
            raise RuntimeError(f"dbt {' '.join(args)} failed: {res.exception}")
        self.last_results = json.loads((self.work / "target" / "run_results.json").read_text())
        return wall, float(getattr(res.result, "elapsed_time", 0.0))


def _count(db: Path, table: str) -> int:
    import duckdb

    # read-write: the in-process dbt keeps the file open read-write, and DuckDB allows one configuration
    with duckdb.connect(str(db)) as con:
        return int(con.sql(f"select count(*) from {table}").fetchall()[0][0])


def _load() -> float:
    """The 1-minute load average (the machine is shared: every figure is read next to it)."""
    return round(os.getloadavg()[0], 2)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _generate(events: int, lake: Path) -> dict[str, Any]:
    """Generate the lake of ``events`` events into ``lake``; its rows, newest event time and seconds."""
    sessions = max(1, round(events / EVENTS_PER_SESSION))
    started = time.monotonic()
    # above 2M events, two processes generate (one shard each: own seed and time range)
    gen = generate.generate_lake(
        generate.GenerateOptions(sessions=sessions, seed=SEED),
        lake,
        batch_id=1,
        progress=_progress,
        workers=_workers(events),
    )
    return {
        "rows": gen.rows,
        "newest_event_ms": gen.newest_event_ms,
        "generate_s": round(time.monotonic() - started, 1),
    }


def _workers(events: int) -> int:
    return 2 if events > 2_000_000 else 1


def cache_key(events: int) -> str:
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in GENERATOR_SOURCES)).hexdigest()[:12]
    return f"{events}-seed{SEED}-w{_workers(events)}-{digest}"


def lake_for(events: int, lake: Path, cache: Path | None) -> dict[str, Any]:
    """The generated lake in ``lake``: generated there (no cache), or generated once into the cache
    and hard-linked into ``lake`` (``cached``: whether this run reused it)."""
    if cache is None:
        return {**_generate(events, lake), "cached": False}
    entry = cache / cache_key(events)
    meta = entry / "meta.json"
    cached = meta.exists()
    if not cached:
        partial = entry.with_name(entry.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        info = _generate(events, partial / "lake")
        (partial / "meta.json").write_text(json.dumps(info))
        shutil.rmtree(entry, ignore_errors=True)
        partial.rename(entry)
    else:
        _progress(f"reusing the generated lake {entry}")
    shutil.copytree(entry / "lake", lake, copy_function=os.link)
    return {**json.loads(meta.read_text()), "cached": cached}


def run(events: int, work: Path, cache: Path | None = None) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    lake, db = work / "lake", work / "warehouse.duckdb"
    env = {**os.environ, "AA_LAKE_DIR": str(lake), "AA_WAREHOUSE_PATH": str(db), "AA_DBT_TARGET": "local"}
    gen = lake_for(events, lake, cache)
    load = {"before_full": _load()}
    _progress(f"full build of {gen['rows']:,} lake rows ...")
    full_wall, full_results = _cli(["run", "--full-refresh"], env, work / "dbt")
    full_dbt = float(full_results.get("elapsed_time", 0.0))
    _progress(f"full build: {full_wall:.1f}s wall, {full_dbt:.1f}s dbt")
    load["after_full"] = _load()

    # One new hour: sessions starting right after the newest event, written as the next stream batch.
    hour = generate.generate_lake(
        generate.GenerateOptions(
            sessions=1200, seed=12, start_ms=gen["newest_event_ms"] + 60_000, session_gap_ms=(2_500, 3_500)
        ),
        lake,
        batch_id=2,
        prefix="hour",
    )
    before = work / "before-increment.duckdb"
    shutil.copyfile(db, before)

    _progress("incremental, fresh dbt process (partial parse) ...")
    cli_wall, cli_results = _cli(["run"], env, work / "dbt")
    cli_dbt = float(cli_results.get("elapsed_time", 0.0))
    page_views = _count(db, "staging.stg_events__page_views")
    attribution = _count(db, "marketing.attribution")

    shutil.copyfile(before, db)
    _progress("incremental, in-process dbtRunner (manifest parsed once) ...")
    inproc = InProcess(env, work / "dbt-inproc")
    ip_wall, ip_dbt = inproc.run(["run"])
    assert _count(db, "staging.stg_events__page_views") == page_views  # the same work as the CLI run
    load["after_incremental"] = _load()
    before.unlink()
    return {
        "lake_rows": gen["rows"],
        "new_hour_rows": hour.rows,
        "generate_s": gen["generate_s"],
        "lake_cached": gen["cached"],
        "full_wall_s": round(full_wall, 1),
        "full_dbt_s": round(full_dbt, 1),
        "inc_cli_wall_s": round(cli_wall, 2),
        "inc_cli_dbt_s": round(cli_dbt, 2),
        "inc_inprocess_wall_s": round(ip_wall, 2),
        "inc_inprocess_dbt_s": round(ip_dbt, 2),
        "parse_once_s": round(inproc.parse_s, 2),
        "fraction_cli_wall": round(cli_wall / full_wall, 4),
        "fraction_inprocess_wall": round(ip_wall / full_dbt, 4),
        "fraction_dbt": round(ip_dbt / full_dbt, 4),
        "page_views": page_views,
        "attribution_rows": attribution,
        "incremental_model_s": _model_times(cli_results),
        "inprocess_model_s": _model_times(inproc.last_results),
        "load_average_1m": load,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warehouse", description=__doc__)
    sizes = [int(s) for s in os.environ.get("AA_BENCH_WAREHOUSE_EVENTS", "1000000").split(",")]
    parser.add_argument("--events", type=int, nargs="+", default=sizes)
    parser.add_argument("--work-dir", type=Path, default=runner.REPO / ".local" / "bench-warehouse")
    parser.add_argument("--cache-dir", type=Path, default=runner.REPO / ".local" / "bench-warehouse-cache")
    parser.add_argument("--no-cache", action="store_true", help="generate every lake afresh")
    args = parser.parse_args(argv)
    cache = None if args.no_cache else args.cache_dir.resolve()
    header = (
        "| lake rows | generate s | full build s (wall / dbt) | +1 hour rows "
        "| incremental s: fresh process / in-process / dbt | incremental / full: fresh process / in-process / dbt "
        "| load average (1 min): full / incremental |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|"]
    for n in args.events:
        r = run(n, args.work_dir.resolve() / str(n), cache)
        print(json.dumps(r), flush=True)
        lines.append(
            f"| {r['lake_rows']:,} | {r['generate_s']}{' (cached)' if r['lake_cached'] else ''} | {r['full_wall_s']} / {r['full_dbt_s']} | {r['new_hour_rows']:,} "
            f"| {r['inc_cli_wall_s']} / {r['inc_inprocess_wall_s']} / {r['inc_inprocess_dbt_s']} "
            f"| {r['fraction_cli_wall']:.1%} / {r['fraction_inprocess_wall']:.1%} / {r['fraction_dbt']:.1%} "
            f"| {r['load_average_1m']['after_full']} / {r['load_average_1m']['after_incremental']} |"
        )
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
