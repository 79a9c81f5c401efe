"""Run the collector: ``python -m pipelines.collector`` (config from ``AA_COLLECTOR_*`` / ``AA_COLLECTOR_CONFIG``).

uvicorn with uvloop and httptools, one process per core behind the load balancer. SIGTERM stops
accepting, lets in-flight requests finish (they answer only after Kafka acks or the journal
fsync), flushes the producer and closes the journal; whatever is spilled is replayed at next start.
"""

from __future__ import annotations

import sys

import uvicorn

from pipelines.collector.config import ConfigError, load_config
from pipelines.collector.logs import configure, log
from pipelines.collector.service import build


def main() -> int:
    try:
        cfg = load_config()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure(cfg.log_level)
    app = build(cfg)
    log("collector_starting", host=cfg.host, port=cfg.port, topic_prefix=cfg.topic_prefix)
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # access logs would carry the client IP
        log_config=None,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=int(cfg.drain_timeout_s) + 1,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
