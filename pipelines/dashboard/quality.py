"""The data-quality view: the event ledger per minute (live) and the monitor's open incidents.

Live part, read on every request: the collector's (``<p>:cl:<m>``) and the stream's (``<p>:lw:<m>``)
counts per receive minute of the window, balanced by the quality ledger's own rule
(``pipelines.quality.ledger.balance``: collector → stream edge, lag allowance). The monitor's part:
``<p>:quality:status``, written by every ``python -m pipelines.quality.monitor`` pass: the windows it
checked with every hop (Kafka, lake, warehouse), the hop named where one does not balance, and the
open incidents. Both are shown side by side; the monitor's verdict wins for a window it checked.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipelines.quality.ledger import balance, ledger_from_hashes, topic_event_types

ALLOWANCE_MINUTES = 5.0
RANK = {"unbalanced": 3, "in_flight": 2, "balanced": 1, "unmeasured": 0}
_TOPICS = topic_event_types()


def plan(prefix: str, span: Sequence[int]) -> list[tuple[str, tuple[str, ...]]]:
    cmds: list[tuple[str, tuple[str, ...]]] = []
    for m in span:
        cmds += [("hgetall", (f"{prefix}:cl:{m}",)), ("hgetall", (f"{prefix}:lw:{m}",))]
    cmds.append(("get", (f"{prefix}:quality:status",)))
    return cmds


def summarize(span: Sequence[int], replies: Sequence[Any], now_s: float) -> dict[str, Any]:
    led = ledger_from_hashes(list(span), list(replies[:-1]), _TOPICS)
    raw = replies[-1]
    status = json.loads(raw) if raw else None
    checked: dict[int, dict[str, Any]] = {}
    for w in (status or {}).get("windows", []):
        c = checked.setdefault(int(w["minute"]), {"status": "balanced", "hops": set()})
        if RANK[w["status"]] > RANK[c["status"]]:
            c["status"] = w["status"]
        if w.get("hop"):
            c["hops"].add(w["hop"])
    per: dict[int, Counter[str]] = {}
    state: dict[int, str] = {}
    for b in balance(led, now_s, ALLOWANCE_MINUTES, ALLOWANCE_MINUTES, check_warehouse=False):
        c = per.setdefault(b.minute, Counter())
        for k in ("received", "written", "invalid", "duplicate", "late", "in_flight"):
            c[k] += getattr(b, k)
        if RANK[b.status] > RANK.get(state.get(b.minute, "unmeasured"), 0):
            state[b.minute] = b.status
    rows = []
    for m in sorted(set(per) | set(checked), reverse=True):
        c = per.get(m, Counter())
        mon = checked.get(m)
        rows.append(
            {
                "minute": m,
                **{k: c[k] for k in ("received", "written", "invalid", "duplicate", "late", "in_flight")},
                "live": state.get(m, "unmeasured"),
                "monitor": None if mon is None else mon["status"],
                "hop": None if mon is None else ", ".join(sorted(mon["hops"])) or None,
            }
        )
    totals: Counter[str] = Counter()
    for r in rows:
        for k in ("received", "written", "invalid", "duplicate", "late", "in_flight"):
            totals[k] += r[k]
    return {
        "now": round(now_s, 3),
        "minutes": len(span),
        "windows": rows,
        "totals": dict(totals),
        "unbalanced": sum(1 for r in rows if "unbalanced" in (r["live"], r["monitor"])),
        "checked_at": None if status is None else status.get("checked_at"),
        "incidents": [] if status is None else status.get("incidents", []),
    }


async def read_async(client: Any, prefix: str, now_s: float, minutes: int) -> dict[str, Any]:
    span = list(range(int(now_s // 60) - minutes + 1, int(now_s // 60) + 1))
    pipe = client.pipeline(transaction=False)
    for name, args in plan(prefix, span):
        getattr(pipe, name)(*args)
    return summarize(span, await pipe.execute(), now_s)


def read(client: Any, prefix: str, now_s: float, minutes: int) -> dict[str, Any]:
    span = list(range(int(now_s // 60) - minutes + 1, int(now_s // 60) + 1))
    pipe = client.pipeline(transaction=False)
    for name, args in plan(prefix, span):
        getattr(pipe, name)(*args)
    return summarize(span, pipe.execute(), now_s)
