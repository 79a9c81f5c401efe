"""``python -m pipelines.streaming run --lake-dir DIR --checkpoint-dir DIR [options]``

Runs the streaming job until stopped (or, with ``--available-now``, until the backlog is
processed). Every option has an environment default (AA_KAFKA_BOOTSTRAP, AA_REDIS_URL,
AA_GLUE_ENDPOINT, AA_REGISTRY_NAME); see docs/STREAMING.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.streaming.config import StreamConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.streaming", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the streaming job")
    # strings, not Path: the cloud passes s3a:// URIs (AA_LAKE_DIR, AA_CHECKPOINT_DIR), which Path folds to s3a:/
    run.add_argument("--lake-dir", required=True, help="a folder or an s3:// / s3a:// URI")
    run.add_argument("--checkpoint-dir", required=True, help="a folder or an s3a:// URI")
    run.add_argument("--kafka-bootstrap")
    run.add_argument("--redis-url")
    run.add_argument("--redis-prefix")
    run.add_argument("--glue-endpoint")
    run.add_argument("--registry-name")
    run.add_argument("--trigger-seconds", type=float)
    run.add_argument("--available-now", "--once", action="store_true", default=None)
    run.add_argument("--max-offsets-per-trigger", type=int)
    run.add_argument("--rules-file", type=Path)
    run.add_argument("--profiles-file", type=Path)
    run.add_argument("--master")
    run.add_argument(
        "--jvm-decode",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode with Spark's from_avro in the JVM (opt-in) instead of the codec in Python (default)",
    )
    run.add_argument(
        "--fast-path",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="JVM decode and vectorised rules (default); --no-fast-path: the per-record reference",
    )
    run.add_argument(
        "--spark-sinks",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with the fast path: bot flags, segments, metrics and the lake as Spark jobs (default: Arrow columns in the Python tasks)",
    )
    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        cfg = load_config(**values)
    except StreamConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from pipelines.streaming.job import build_spark, run

    spark = build_spark(cfg)
    try:
        run(spark, cfg)
    except KeyboardInterrupt:
        pass
    finally:
        for query in spark.streams.active:
            query.stop()
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
