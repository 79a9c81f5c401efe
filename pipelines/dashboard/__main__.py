"""Run the dashboard: ``python -m pipelines.dashboard --redis-url ... --warehouse ... --port 8090``.

Flags win over ``AA_DASHBOARD_<KEY>`` environment variables (the container's way); a bad value
exits 2 with one line per problem naming the flag or variable. uvicorn with uvloop and httptools;
loopback only unless ``--allow-remote`` (the cloud deployment, behind the ALB's OIDC auth).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.dashboard.app import build
from pipelines.dashboard.config import FLAGS, ConfigError, load_config
from pipelines.dashboard.logs import configure, log
from pipelines.serving import serve


def parse_args(argv: Sequence[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.dashboard",
        description="Dashboard: real-time view (Redis, SSE) and self-service explorer (warehouse).",
    )
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", help="listen port (default 8090)")
    p.add_argument("--allow-remote", action="store_const", const=True, help="allow a non-loopback --host")
    p.add_argument("--redis-url", help="Redis with the stream's metrics (default redis://127.0.0.1:16379/0)")
    p.add_argument("--redis-prefix", help="key prefix the stream writes under (default aa)")
    p.add_argument("--push-interval", dest="push_interval_s", help="seconds between real-time pushes (default 3)")
    p.add_argument("--stale-after", dest="stale_after_s", help="seconds after which data counts as stale (default 300)")
    p.add_argument("--window-minutes", help="real-time window (default 60)")
    p.add_argument("--backend", help="explorer warehouse: duckdb (default) or snowflake")
    p.add_argument("--warehouse", help="DuckDB file, opened read-only (default .local/warehouse.duckdb)")
    p.add_argument("--table", help="self-service mart (default self_service.explorer_daily)")
    p.add_argument("--max-days", help="longest date range (default 400)")
    p.add_argument("--max-rows", help="most rows per answer (default 200)")
    p.add_argument("--log-level", help="debug, info, warning, error")
    ns = vars(p.parse_args(argv))
    assert set(ns) == set(FLAGS), "every flag has a config key"
    return ns


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cfg = load_config(parse_args(argv))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure(cfg.log_level)
    app = build(cfg)
    log("dashboard_starting", host=cfg.host, port=cfg.port, backend=cfg.backend, url=f"http://{cfg.host}:{cfg.port}/")
    serve(app, cfg.host, cfg.port, graceful_shutdown_s=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
