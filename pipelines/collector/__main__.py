"""Run the collector: ``python -m pipelines.collector`` (config from ``AA_COLLECTOR_*`` / ``AA_COLLECTOR_CONFIG``).

uvicorn with uvloop and httptools, one process per core behind the load balancer. SIGTERM stops
accepting, lets in-flight requests finish (they answer only after Kafka acks or the journal
fsync), flushes the producer and closes the journal; whatever is spilled is replayed at next start.
"""

from __future__ import annotations

import sys

from pipelines.collector.config import ConfigError, load_config
from pipelines.collector.logs import configure, log
from pipelines.collector.service import build
from pipelines.serving import serve


def main() -> int:
    try:
        cfg = load_config()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    configure(cfg.log_level)
    app = build(cfg)
    log("collector_starting", host=cfg.host, port=cfg.port, topic_prefix=cfg.topic_prefix)
    serve(app, cfg.host, cfg.port, graceful_shutdown_s=int(cfg.drain_timeout_s) + 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
