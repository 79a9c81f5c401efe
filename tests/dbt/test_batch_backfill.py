"""`python -m pipelines.batch backfill` against the built local warehouse: idempotent, reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from pipelines.batch import __main__ as cli


def test_cli_backfill_is_idempotent_on_the_built_warehouse(warehouse, tmp_path: Path, monkeypatch, capsys):
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse.db, db)
    monkeypatch.setenv("AA_LAKE_DIR", str(warehouse.lake))
    monkeypatch.setenv("AA_WAREHOUSE_PATH", str(db))
    code = cli.main(
        [
            "--target",
            "local",
            "--work-dir",
            str(tmp_path / "work"),
            "backfill",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-20",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["ok"] is True
    report = json.loads(Path(summary["report"]).read_text())
    assert report["steps"][0]["statuses"].get("error", 0) == 0
    assert set(report["steps"][0]["models"].values()) == {"success"}
    assert len(report["steps"][0]["models"]) == 21
    con = duckdb.connect()
    con.execute(f"attach '{warehouse.db}' as before (read_only)")
    con.execute(f"attach '{db}' as after (read_only)")
    for table in ("marketing.attribution", "marketing.campaign_effectiveness", "self_service.explorer_daily"):
        diff = con.sql(
            f"(select * from before.{table} except all select * from after.{table}) "
            f"union all (select * from after.{table} except all select * from before.{table})"
        ).fetchall()
        assert diff == [], table


def test_cli_show_prints_the_top_rows_of_attribution_and_campaigns(warehouse, monkeypatch, capsys):
    monkeypatch.setenv("AA_WAREHOUSE_PATH", str(warehouse.db))
    assert cli.main(["show", "--rows", "3"]) == 0
    out = capsys.readouterr().out
    assert "attribution by channel" in out
    assert "email" in out
    assert "newsletter  email       weekly-deals" in out
