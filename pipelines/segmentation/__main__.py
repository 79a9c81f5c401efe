"""``python -m pipelines.segmentation validate FILE`` | ``serve`` | ``backfill``

- ``validate FILE``: exit 0 when the rules file is valid, else 1 with every problem (rule and field).
- ``serve``: the HTTP API (see ``api.py``).
- ``backfill --lake-dir DIR --out FILE``: re-evaluate the event-scope rules over lake Parquet files
  with the same engine the stream uses, writing event_id → segments as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.segmentation.engine import RulesError, Segmenter, default_rules_file, load_profiles, load_rules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.segmentation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="validate a rules file")
    val.add_argument("file", type=Path)
    srv = sub.add_parser("serve", help="run the HTTP API")
    srv.add_argument("--rules-file", type=Path, default=default_rules_file())
    srv.add_argument("--profiles-file", type=Path)
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8077)
    bf = sub.add_parser("backfill", help="re-segment lake events with the current rules")
    bf.add_argument("--lake-dir", type=Path, required=True)
    bf.add_argument("--out", type=Path, required=True)
    bf.add_argument("--rules-file", type=Path, default=default_rules_file())
    bf.add_argument("--profiles-file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "validate":
        try:
            rules = load_rules(args.file)
        except RulesError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(json.dumps({"valid": True, "version": rules.version, "rules": [r.name for r in rules.rules]}))
        return 0
    if args.command == "serve":
        from pipelines.segmentation.api import serve

        serve(args.rules_file, args.profiles_file, args.host, args.port)
        return 0
    import pyarrow.dataset as ds

    seg = Segmenter(load_rules(args.rules_file), load_profiles(args.profiles_file))
    table = ds.dataset(str(args.lake_dir), format="parquet", partitioning="hive").to_table()
    n = 0
    with args.out.open("w", encoding="utf-8") as out:
        for row in table.to_pylist():
            out.write(json.dumps({"event_id": row["event_id"], "segments": seg.segments_for_row(row)}) + "\n")
            n += 1
    print(json.dumps({"event": "segmentation_backfill", "rows": n, "version": seg.rules.version, "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
