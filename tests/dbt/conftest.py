"""One dbt build per test session on the small known lake (tests/dbt/scenario.py).

dbt runs as a subprocess (`dbt build --project-dir dbt --profiles-dir dbt`) with its own target
and log paths, so runs never share state; DuckDB files are opened read-only afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.batch.generate import write_lake
from tests.dbt import scenario

REPO = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"


@dataclass(frozen=True)
class Warehouse:
    lake: Path
    db: Path
    work: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AA_LAKE_DIR": str(self.lake),
            "AA_WAREHOUSE_PATH": str(self.db),
            "AA_DBT_TARGET": "local",
        }

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.db), read_only=True)

    def query(self, sql: str) -> list[tuple]:
        with self.connect() as con:
            return con.sql(sql).fetchall()


def run_dbt(args: list[str], env: dict[str, str], work: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(DBT),
        *args,
        "--project-dir",
        str(REPO / "dbt"),
        "--profiles-dir",
        str(REPO / "dbt"),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        failures = [line for line in done.stdout.splitlines() if "ERROR" in line or "FAIL" in line or "rror" in line]
        pytest.fail(f"dbt {' '.join(args)} failed (exit {done.returncode}):\n" + "\n".join(failures[-40:]))
    return done


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    work = tmp_path_factory.mktemp("dbt-local")
    wh = Warehouse(lake=work / "lake", db=work / "warehouse.duckdb", work=work)
    write_lake(scenario.base_rows(), wh.lake, batch_id=1)
    run_dbt(["build"], wh.env(), work)
    return wh


@pytest.fixture(scope="session")
def late_warehouses(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, Warehouse]:
    """(incremental, full refresh): the first build plus late rows run incrementally, and the same
    lake built from scratch."""
    work = tmp_path_factory.mktemp("dbt-late")
    inc = Warehouse(lake=work / "lake", db=work / "incremental.duckdb", work=work / "inc")
    shutil.copytree(warehouse.lake, inc.lake)
    shutil.copy(warehouse.db, inc.db)
    write_lake(scenario.late_rows(), inc.lake, batch_id=2)
    run_dbt(["build"], inc.env(), inc.work)
    full = Warehouse(lake=inc.lake, db=work / "full.duckdb", work=work / "full")
    run_dbt(["build", "--full-refresh"], full.env(), full.work)
    return inc, full


@pytest.fixture(scope="session")
def next_day_warehouses(
    late_warehouses: tuple[Warehouse, Warehouse], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Warehouse, Warehouse]:
    """(incremental, full refresh) one day on: the late rows' incremental warehouse, then the next
    day's rows and the late rows of that day run incrementally one after the other (the second run
    reprocesses from 05:50 on day 2, so sessions, click chains and marts recompute only part of
    the lake), and the same lake built from scratch."""
    late, _ = late_warehouses
    work = tmp_path_factory.mktemp("dbt-next-day")
    inc = Warehouse(lake=work / "lake", db=work / "incremental.duckdb", work=work / "inc")
    shutil.copytree(late.lake, inc.lake)
    shutil.copy(late.db, inc.db)
    next_day = scenario.next_day_rows()
    write_lake(next_day, inc.lake, batch_id=3)
    run_dbt(["build"], inc.env(), inc.work)
    write_lake(scenario.late_next_day_rows(next_day), inc.lake, batch_id=4)
    run_dbt(["build"], inc.env(), inc.work)
    full = Warehouse(lake=inc.lake, db=work / "full.duckdb", work=work / "full")
    run_dbt(["run", "--full-refresh"], full.env(), full.work)
    return inc, full


@pytest.fixture(scope="session")
def new_batch_warehouses(
    next_day_warehouses: tuple[Warehouse, Warehouse], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Warehouse, Warehouse]:
    """(incremental, full refresh) after one more hourly run that reads only new lake files: the
    next stream batch (scenario.new_batch_rows: a new hour, events hours old, duplicates of loaded
    events) and batch 4 delivered again (its files re-written under the same names, as the
    stream's replay of a batch does), and the same lake built from scratch."""
    import pyarrow.parquet as pq

    previous, _ = next_day_warehouses
    work = tmp_path_factory.mktemp("dbt-new-batch")
    inc = Warehouse(lake=work / "lake", db=work / "incremental.duckdb", work=work / "inc")
    shutil.copytree(previous.lake, inc.lake)
    shutil.copy(previous.db, inc.db)
    write_lake(scenario.new_batch_rows(scenario.next_day_rows()), inc.lake, batch_id=5)
    for path in sorted(inc.lake.rglob("*-b000000004.parquet")):
        pq.write_table(pq.ParquetFile(path).read(), path)
    run_dbt(["run"], inc.env(), inc.work)
    full = Warehouse(lake=inc.lake, db=work / "full.duckdb", work=work / "full")
    run_dbt(["run", "--full-refresh"], full.env(), full.work)
    return inc, full
