"""The stream's Spark checkpoint: verify it, and repair a corrupt one without losing or doubling events.

    python -m pipelines.ops.checkpoint verify --checkpoint-dir .local/checkpoints/stream [--lake-dir .local/lake]
    python -m pipelines.ops.checkpoint repair --checkpoint-dir ... --lake-dir ... --redis-url ... [--prefix aa] [--dry-run]

A checkpoint is ``offsets/<batch>`` (the Kafka end offsets each micro-batch read up to),
``commits/<batch>`` (batch done), ``metadata``, ``sources/``, ``state/`` (the dedup state) and our
``aa-stream-id``. Each log entry is a version line (``v1``) followed by JSON lines; a torn or
overwritten entry fails to parse and Spark refuses to start ("Log file was malformed").

**verify** parses every entry and reports the last batch that is whole (offsets and commit, and
every earlier one), the entries after it, and whether the sinks are ahead of it (a lake commit or
a Redis marker of a later batch).

**repair** makes the checkpoint and the sinks agree again, so the restarted stream re-reads
exactly what no sink kept:

1. the entries after the last whole batch *K* (offsets, commits and their ``.crc`` files) are moved
   to ``<checkpoint>.quarantine-<time>/`` (kept for the post-mortem, never deleted);
2. the sinks are rolled back to *K*: lake files, commit and ledger files of this stream's batches
   after *K* are deleted (their names are deterministic per batch);
3. when Redis had applied a batch after *K*, the prefix's real-time state is rebuilt from the
   lake (``pipelines.ops.redis_state``), which now holds exactly batches up to *K*.

The stream then plans batch *K+1* from *K*'s end offsets: every record after them is read again,
the dedup state of *K* drops nothing it has not seen, and each sink writes it once. Dead letters
of the rolled-back batches are sent again (the dead-letter topic is at least once; its key names
the input record).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from pipelines import lake_reader
from pipelines.lake_reader import LakeLike, as_lake
from pipelines.streaming.lakefs import Lake

ENTRY = re.compile(r"^\d+$")


@dataclass
class CheckpointReport:
    stream_id: str | None
    last_whole: int | None
    offsets: list[int] = field(default_factory=list)
    commits: list[int] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)  # entries after the last whole batch
    lake_ahead: list[int] = field(default_factory=list)  # batches after it with a lake commit
    redis_ahead: list[int] = field(default_factory=list)  # batches after it with a Redis marker

    @property
    def healthy(self) -> bool:
        """No corrupt entry, and every batch a sink is ahead with has its offsets entry: Spark
        re-runs such a batch with the same offsets (a crash between a sink and Spark's commit)."""
        replayable = {int(e.split("/")[1]) for e in self.tail if e.startswith("offsets/")}
        return not self.corrupt and set(self.lake_ahead) | set(self.redis_ahead) <= replayable

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "batches": len(self.commits),
            "last_whole_batch": self.last_whole,
            "corrupt": self.corrupt,
            "tail": self.tail,
            "lake_ahead": self.lake_ahead,
            "redis_ahead": self.redis_ahead,
            "healthy": self.healthy,
        }


def entry_ok(data: bytes | None) -> bool:
    """A metadata-log entry: a version line ``v<n>`` and JSON lines after it."""
    try:
        lines = (data or b"").decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return False
    if not lines or not re.fullmatch(r"v\d+", lines[0]):
        return False
    try:
        for line in lines[1:]:
            json.loads(line)
    except json.JSONDecodeError:
        return False
    return len(lines) >= 2


def _entries(checkpoint: Lake, kind: str) -> list[int]:
    return sorted(int(e.name) for e in checkpoint.entries(kind) if not e.is_dir and ENTRY.match(e.name))


def _stream_id(checkpoint: Lake) -> str | None:
    data = checkpoint.read_bytes("aa-stream-id")
    return data.decode().strip() if data is not None else None


def inspect(
    checkpoint_dir: LakeLike, lake_dir: LakeLike | None = None, redis: Any = None, prefix: str = "aa"
) -> CheckpointReport:
    ckpt = as_lake(checkpoint_dir)
    sid = _stream_id(ckpt)
    offsets, commits = _entries(ckpt, "offsets"), _entries(ckpt, "commits")
    report = CheckpointReport(sid, None, offsets, commits)
    bad = {
        (kind, n)
        for kind, ids in (("offsets", offsets), ("commits", commits))
        for n in ids
        if not entry_ok(ckpt.read_bytes(f"{kind}/{n}"))
    }
    report.corrupt = sorted(f"{k}/{n}" for k, n in bad)
    last = None
    for n in commits:
        if ("commits", n) in bad or n not in offsets or ("offsets", n) in bad:
            break
        if any(("offsets", m) in bad or ("commits", m) in bad for m in range(0, n) if m in offsets or m in commits):
            break
        last = n
    report.last_whole = last
    floor = -1 if last is None else last
    report.tail = [f"offsets/{n}" for n in offsets if n > floor] + [f"commits/{n}" for n in commits if n > floor]
    if sid is not None and lake_dir is not None:
        report.lake_ahead = sorted(
            n
            for e in as_lake(lake_dir).entries(f"_commits/{sid}")
            if e.name.startswith("batch-") and (n := int(e.name.removeprefix("batch-").removesuffix(".json"))) > floor
        )
    if sid is not None and redis is not None:
        found = []
        for key in redis.scan_iter(f"{prefix}:batch:{sid}:*", count=1000):
            n = int((key.decode() if isinstance(key, bytes) else str(key)).rsplit(":", 1)[1])
            if n > floor:
                found.append(n)
        report.redis_ahead = sorted(found)
    return report


def _batch_of(file_name: str, sid: str) -> int | None:
    """The batch of a lake file the stream ``sid`` wrote (``<sid>-b<batch:09d>-…``), else None."""
    if not file_name.startswith(f"{sid}-b"):
        return None
    digits = file_name[len(sid) + 2 : len(sid) + 11]
    return int(digits) if digits.isdigit() else None


def repair(
    checkpoint_dir: LakeLike,
    lake_dir: LakeLike,
    redis: Any,
    prefix: str = "aa",
    dry_run: bool = False,
    ttl_s: int = 48 * 3600,
) -> dict[str, Any]:
    """Quarantine the checkpoint's tail after the last whole batch and roll the sinks back to it.
    Both may be local folders or S3 prefixes (the cloud's ``s3a://<enriched>/_checkpoints/stream``
    and ``s3a://<enriched>/events``); run it while the job is stopped."""
    ckpt, lake = as_lake(checkpoint_dir), as_lake(lake_dir)
    report = inspect(ckpt, lake, redis, prefix)
    if report.healthy:
        return {**report.as_dict(), "quarantined": [], "lake_files_removed": 0, "redis_rebuilt": False}
    floor = -1 if report.last_whole is None else report.last_whole
    sid = report.stream_id
    rolled_files = [
        rel
        for rel in lake_reader.all_event_files(lake)
        if sid is not None and (n := _batch_of(rel.rsplit("/", 1)[-1], sid)) is not None and n > floor
    ]
    marks = [
        f"{sub}/{sid or ''}/batch-{n:09d}.json"
        for sub in ("_commits", "_ledger")
        for n in sorted(set(report.lake_ahead) | set(report.redis_ahead))
    ]
    result: dict[str, Any] = {
        **report.as_dict(),
        "quarantined": report.tail,
        "lake_files_removed": len(rolled_files),
        "redis_rebuilt": bool(report.redis_ahead),
        "dry_run": dry_run,
    }
    if dry_run:
        return result
    if report.tail:
        quarantine = Lake.at(f"{ckpt.uri.rstrip('/')}.quarantine-{time.strftime('%Y%m%dT%H%M%S')}", ckpt.endpoint)
        for entry in report.tail:
            kind, n = entry.split("/")
            for name in (n, f".{n}.crc"):
                data = ckpt.read_bytes(f"{kind}/{name}")
                if data is not None:  # copied, then removed: never deleted without a copy
                    quarantine.write_bytes(f"{kind}/{name}", data)
                    ckpt.delete([f"{kind}/{name}"])
        result["quarantine_dir"] = quarantine.uri
    lake.delete(rolled_files)
    lake.delete([m for m in marks if lake.exists(m)])
    if report.redis_ahead:
        from pipelines.ops.redis_state import rebuild

        result["redis"] = rebuild(redis, lake, prefix, ttl_s, force=True).as_dict()
    return result


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("verify", "repair"):
        p = sub.add_parser(name)
        p.add_argument("--checkpoint-dir", required=True, help="a folder or the stream's s3a:// checkpoint URI")
        p.add_argument("--lake-dir", required=name == "repair", help="a folder or the stream's s3a:// lake URI")
        p.add_argument("--redis-url", default=os.environ.get("AA_REDIS_URL"))
        p.add_argument("--prefix", default="aa")
        if name == "repair":
            p.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if not as_lake(args.checkpoint_dir).entries("offsets"):
        print(f"error: {args.checkpoint_dir} is not a stream checkpoint (no offsets/)", file=sys.stderr)
        return 2
    client = None
    if args.redis_url:
        import redis

        client = redis.Redis.from_url(args.redis_url)
    if args.command == "verify":
        report = inspect(args.checkpoint_dir, args.lake_dir, client, args.prefix)
        print(json.dumps({"event": "checkpoint_verified", **report.as_dict()}))
        return 0 if report.healthy else 1
    if client is None:
        print("error: repair needs --redis-url (or AA_REDIS_URL) to roll Redis back with the lake", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "event": "checkpoint_repaired",
                **repair(args.checkpoint_dir, args.lake_dir, client, args.prefix, args.dry_run),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
