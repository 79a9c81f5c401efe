"""Redis real-time metrics: minute buckets with TTL, applied once per micro-batch.

Key layout (``<p>`` = prefix, ``<m>`` = epoch minute of the event time; documented for the
dashboard in docs/STREAMING.md):

    <p>:m:<m>:events            hash  event_type -> events (bots excluded)
    <p>:m:<m>:pv                hash  <site_id><page_path> -> page views
    <p>:m:<m>:imp               hash  page -> product impressions
    <p>:m:<m>:clk:page          hash  page -> affiliate clicks       (CTR = clk:page / imp or / pv)
    <p>:m:<m>:clk:link          hash  link_id -> clicks
    <p>:m:<m>:clk:merchant      hash  merchant -> clicks
    <p>:m:<m>:clk:pos           hash  position -> clicks
    <p>:m:<m>:conv              hash  merchant -> conversions
    <p>:m:<m>:seg               hash  segment -> events
    <p>:m:<m>:segsess:<segment> HLL   session ids in the segment
    <p>:sess:<session_id>       hash  session state: events, page_views, impressions, chart_interactions,
                                      clicks, conversions (for session-scope segmentation rules)
    <p>:m:<m>:bot               hash  event_type -> bot-flagged events
    <p>:m:<m>:active            HLL   session ids (active sessions)
    <p>:m:<m>:sess:<page>       HLL   session ids per page
    <p>:ledger:<pm>             hash  stage counts of batches processed in minute <pm>
    <p>:ledger:total            hash  stage counts since the stream started (no TTL)
    <p>:batch:<stream>:<batch>  string  marker: this batch is applied (written in the same MULTI/EXEC)
    <p>:lw:<rm>                 hash  "<topic>|<stage>" -> records whose collector receive minute is <rm>
                                      (stages: valid, late, invalid:<reason>, written, bot; the quality ledger)
    <p>:lk:<km>                 hash  topic -> records the stream read whose Kafka record minute is <km>
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

MARKER_TTL_S = 7 * 24 * 3600


class Accumulator:
    """Partial metrics of some rows; merged across tasks on the driver."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.hll: dict[str, set[str]] = defaultdict(set)

    def add(self, row: Mapping[str, Any], n: int = 1, counters: bool = True, members: bool = True) -> None:
        """One lake row's contributions; ``n`` rows alike at once (the fast path adds the distinct
        groups of a Spark aggregation: ``counters`` from one, the HyperLogLog ``members`` from another)."""
        m = row["minute"]
        et = row["event_type"]
        add = n if counters else 0
        received, topic = row.get("received_ms"), row.get("kafka_topic")
        if received is not None and topic and counters:  # ledger by collector receive minute (pipelines/quality)
            window = self.counters[f"lw:{received // 60_000}"]
            window[f"{topic}|written"] += add
            if row["is_bot"]:
                window[f"{topic}|bot"] += add
        if row["is_bot"]:
            if counters:
                self.counters[f"m:{m}:bot"][et] += add
            return
        if counters:
            self.counters[f"m:{m}:events"][et] += add
        page = f"{row['site_id']}{row['page_path']}" if row.get("site_id") else None
        if row.get("session_id") and members:
            self.hll[f"m:{m}:active"].add(row["session_id"])
        if et == "page_view" and page:
            if counters:
                self.counters[f"m:{m}:pv"][page] += add
            if members:
                self.hll[f"m:{m}:sess:{page}"].add(row["session_id"])
        elif not counters:
            pass
        elif et == "product_impression" and page:
            self.counters[f"m:{m}:imp"][page] += add
        elif et == "affiliate_click":
            self.counters[f"m:{m}:clk:page"][page or ""] += add
            self.counters[f"m:{m}:clk:link"][row["link_id"]] += add
            self.counters[f"m:{m}:clk:merchant"][row["merchant"]] += add
            self.counters[f"m:{m}:clk:pos"][str(row["position"])] += add
        elif et == "conversion":
            self.counters[f"m:{m}:conv"][row["merchant"] or ""] += add
        for seg in row.get("segments") or ():
            if counters:
                self.counters[f"m:{m}:seg"][seg] += add
            if row.get("session_id") and members:
                self.hll[f"m:{m}:segsess:{seg}"].add(row["session_id"])

    def add_windows(self, counts: Mapping[str, Any]) -> None:
        """Pre-dedup counts of a count row by receive window (``lw``) and Kafka record minute (``lk``)."""
        for key, n in (counts.get("windows") or {}).items():
            topic, minute, stage = key.split("|", 2)
            field = stage if stage in ("valid", "late") else f"invalid:{stage}"
            self.counters[f"lw:{minute}"][f"{topic}|{field}"] += n
        for key, n in (counts.get("kafka") or {}).items():
            topic, minute = key.split("|", 1)
            self.counters[f"lk:{minute}"][topic] += n

    def windows(self) -> dict[str, dict[str, int]]:
        """The ledger-window counters (``lw:*``, ``lk:*``) for the batch's ledger file."""
        return {k: dict(v) for k, v in self.counters.items() if k.startswith(("lw:", "lk:"))}

    def to_json(self) -> str:
        return json.dumps({"counters": self.counters, "hll": {k: sorted(v) for k, v in self.hll.items()}})

    def merge_json(self, text: str) -> None:
        doc = json.loads(text)
        for key, fields in doc["counters"].items():
            for f, n in fields.items():
                self.counters[key][f] += n
        for key, members in doc["hll"].items():
            self.hll[key].update(members)


# HINCRBY of many fields of many hashes and an EXPIRE of each, in one command: a micro-batch has
# ~10^5 of them (per-session state), which cost more to send one by one than to apply.
# KEYS: the hashes; ARGV: ttl, then per key its field count and (field, increment) pairs.
_HINCRBY_ALL = """
local ttl = tonumber(ARGV[1])
local i = 2
for k = 1, #KEYS do
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  redis.call('EXPIRE', KEYS[k], ttl)
end
return #KEYS
"""
_ARGS_PER_CALL = 200_000


def _hincrby_all(pipe: Any, prefix: str, counters: Mapping[str, Mapping[str, int]], ttl_s: int) -> None:
    """Queue the counters' increments (and each hash's TTL) as few script calls on ``pipe``."""
    keys: list[str] = []
    args: list[Any] = [ttl_s]
    for key, fields in counters.items():
        keys.append(f"{prefix}:{key}")
        args.append(len(fields))
        for f, n in fields.items():
            args.extend((f, n))
        if len(args) >= _ARGS_PER_CALL:
            pipe.eval(_HINCRBY_ALL, len(keys), *keys, *args)
            keys, args = [], [ttl_s]
    if keys:
        pipe.eval(_HINCRBY_ALL, len(keys), *keys, *args)


def apply_batch(
    client: Any,
    prefix: str,
    marker: str,
    acc: Accumulator,
    ledger: Mapping[str, int],
    ledger_minute: int,
    ttl_s: int,
) -> bool:
    """Apply a batch's metrics and ledger counts atomically; False when already applied."""
    import redis

    marker_key = f"{prefix}:{marker}"
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(marker_key)
            if pipe.exists(marker_key):
                pipe.unwatch()
                return False
            pipe.multi()
            _hincrby_all(pipe, prefix, acc.counters, ttl_s)
            for key, members in acc.hll.items():
                full = f"{prefix}:{key}"
                pipe.pfadd(full, *sorted(members))
                pipe.expire(full, ttl_s)
            for suffix in (str(ledger_minute), "total"):
                lkey = f"{prefix}:ledger:{suffix}"
                for f, n in ledger.items():
                    if n:
                        pipe.hincrby(lkey, f, n)
                if suffix != "total":
                    pipe.expire(lkey, ttl_s)
            pipe.set(marker_key, json.dumps(dict(ledger)), ex=MARKER_TTL_S)
            pipe.execute()
        except redis.WatchError:  # another writer applied the same batch meanwhile
            return False
    return True
