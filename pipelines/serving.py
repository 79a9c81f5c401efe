"""How the services run their ASGI app: uvicorn on uvloop + httptools (measured fastest here, see
docs/BENCHMARKS.md), no access log (it would carry client IPs), no proxy-header trust, no server
or date header, graceful shutdown bounded by the service's drain time."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve(app: Any, host: str, port: int, graceful_shutdown_s: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=graceful_shutdown_s,
    )
