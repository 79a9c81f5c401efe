"""The real-time snapshot: what the dashboard shows, read from the stream's Redis metrics.

The key layout is the stream's (``pipelines/streaming/metrics.py``): minute buckets
``<p>:m:<minute>:<kind>`` and ledger hashes ``<p>:ledger:<minute>``. Reading is split in two so
the rules are tested without Redis: ``plan`` lists the read-only commands (HGETALL, PFCOUNT,
EXISTS) for a window, a reader runs them in one pipeline, ``summarize`` turns the replies into
the snapshot.

Definitions (documented in docs/DASHBOARD.md):
- per-minute series: page views (sum of ``pv``) and affiliate clicks (sum of ``clk:page``) per
  event-time minute over the window, oldest first;
- CTR = clicks / page views over the window; active sessions = distinct sessions with an event
  in the last ``ACTIVE_MINUTES`` minutes (HyperLogLog union, ~0.8 % error);
- bot rate = bot-flagged / (bot-flagged + other) events; dead-letter rate = (invalid + late) /
  received from the ledger of the batches processed in the window (docs/STREAMING.md);
- freshness: age of the newest event-time minute holding events, measured from the start of that
  minute (minute resolution, an upper bound); stale past ``stale_after_s`` or with no data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ACTIVE_MINUTES = 5
TOP = 10
HORIZON_MINUTES = 48 * 60  # the stream's default TTL: nothing older can be there
KINDS = ("events", "pv", "imp", "clk:page", "clk:merchant", "clk:pos", "conv", "seg", "bot")


@dataclass(frozen=True)
class Window:
    prefix: str
    now_s: float
    minutes: int

    @property
    def last(self) -> int:
        return int(self.now_s // 60)

    @property
    def span(self) -> list[int]:
        return list(range(self.last - self.minutes + 1, self.last + 1))


Command = tuple[str, tuple[str, ...]]


def plan(w: Window) -> list[Command]:
    """Read-only commands for one snapshot, in the order ``summarize`` expects them."""
    p = w.prefix
    cmds: list[Command] = [("hgetall", (f"{p}:m:{m}:{kind}",)) for m in w.span for kind in KINDS]
    cmds += [("hgetall", (f"{p}:ledger:{m}",)) for m in w.span]
    cmds.append(("pfcount", tuple(f"{p}:m:{m}:active" for m in w.span[-ACTIVE_MINUTES:])))
    return cmds


def lookback_plan(w: Window) -> list[Command]:
    """EXISTS on the minutes before the window (only asked when the window holds no event)."""
    first = w.span[0]
    return [
        ("exists", (f"{w.prefix}:m:{m}:events", f"{w.prefix}:m:{m}:bot"))
        for m in range(first - 1, first - HORIZON_MINUTES, -1)
    ]


def _ints(h: Any) -> dict[str, int]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in (h or {}).items()}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def summarize(
    w: Window, replies: Sequence[Any], stale_after_s: int, lookback: Sequence[Any] | None = None
) -> dict[str, Any]:
    """The snapshot from the replies to ``plan(w)`` (and ``lookback_plan(w)`` when it was asked)."""
    n_kinds = len(KINDS)
    span = w.span
    buckets = [{kind: _ints(replies[i * n_kinds + j]) for j, kind in enumerate(KINDS)} for i in range(len(span))]
    ledgers = [_ints(r) for r in replies[len(span) * n_kinds : len(span) * (n_kinds + 1)]]
    active = int(replies[len(span) * (n_kinds + 1)] or 0)

    totals: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for b in buckets:
        for kind in KINDS:
            totals[kind].update(b[kind])
    pv_series = [sum(b["pv"].values()) for b in buckets]
    clk_series = [sum(b["clk:page"].values()) for b in buckets]
    page_views, clicks = sum(pv_series), sum(clk_series)
    events, bots = sum(totals["events"].values()), sum(totals["bot"].values())

    pages = set(totals["pv"]) | set(totals["clk:page"])
    top_pages = sorted(
        (
            {
                "page": page,
                "page_views": totals["pv"][page],
                "clicks": totals["clk:page"][page],
                "ctr": _ratio(totals["clk:page"][page], totals["pv"][page]),
            }
            for page in pages
        ),
        key=lambda r: (-r["page_views"], -r["clicks"], r["page"]),
    )[:TOP]
    merchants = [
        {"merchant": k, "clicks": n} for k, n in sorted(totals["clk:merchant"].items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    positions = [
        {"position": k, "clicks": n}
        for k, n in sorted(
            totals["clk:pos"].items(), key=lambda kv: (int(kv[0]) if kv[0].lstrip("-").isdigit() else 1 << 30, kv[0])
        )
    ]
    seg_total = sum(totals["seg"].values())
    segments = [
        {"segment": k, "events": n, "share": _ratio(n, seg_total)}
        for k, n in sorted(totals["seg"].items(), key=lambda kv: (-kv[1], kv[0]))
    ]

    ledger: Counter[str] = Counter()
    for lg in ledgers:
        ledger.update(lg)
    by_reason = {k.removeprefix("invalid:"): n for k, n in sorted(ledger.items()) if k.startswith("invalid:")}
    if ledger["late"]:
        by_reason["late"] = ledger["late"]  # late-dropped events are dead-lettered too (docs/STREAMING.md)
    invalid = sum(by_reason.values())

    with_events = [m for m, b in zip(span, buckets, strict=True) if b["events"] or b["bot"]]
    newest = max(with_events) if with_events else None
    if newest is None and lookback:
        for i, found in enumerate(lookback):
            if found:
                newest = span[0] - 1 - i
                break
    batches = [m for m, lg in zip(span, ledgers, strict=True) if lg]
    age = max(0.0, w.now_s - newest * 60) if newest is not None else None
    return {
        "now": round(w.now_s, 3),
        "window_minutes": w.minutes,
        "minutes": span,
        "page_views": pv_series,
        "clicks": clk_series,
        "totals": {
            "page_views": page_views,
            "clicks": clicks,
            "impressions": sum(totals["imp"].values()),
            "conversions": sum(totals["conv"].values()),
            "events": events,
            "bot_events": bots,
            "active_sessions": active,
        },
        "ctr": _ratio(clicks, page_views),
        "bot_rate": _ratio(bots, events + bots),
        "top_pages": top_pages,
        "merchants": merchants,
        "positions": positions,
        "segments": segments,
        "dead_letters": {
            "received": ledger["received"],
            "invalid": invalid,
            "rate": _ratio(invalid, ledger["received"]),
            "by_reason": by_reason,
        },
        "freshness": {
            "newest_minute": newest,
            "age_s": round(age, 1) if age is not None else None,
            "last_batch_minute": max(batches) if batches else None,
            "stale_after_s": stale_after_s,
            "stale": age is None or age > stale_after_s,
        },
    }


def needs_lookback(w: Window, replies: Sequence[Any]) -> bool:
    n = len(w.span) * len(KINDS)
    idx_events, idx_bot = KINDS.index("events"), KINDS.index("bot")
    return not any(replies[i] for i in range(n) if i % len(KINDS) in (idx_events, idx_bot))


def _run(pipe: Any, cmds: Sequence[Command]) -> None:
    for name, args in cmds:
        getattr(pipe, name)(*args)


def read(client: Any, w: Window, stale_after_s: int) -> dict[str, Any]:
    """Snapshot with a synchronous redis client (tests, scripts)."""
    pipe = client.pipeline(transaction=False)
    _run(pipe, plan(w))
    replies = pipe.execute()
    lookback = None
    if needs_lookback(w, replies):
        pipe = client.pipeline(transaction=False)
        _run(pipe, lookback_plan(w))
        lookback = pipe.execute()
    return summarize(w, replies, stale_after_s, lookback)


async def read_async(client: Any, w: Window, stale_after_s: int) -> dict[str, Any]:
    """Snapshot with a ``redis.asyncio`` client (the server)."""
    pipe = client.pipeline(transaction=False)
    _run(pipe, plan(w))
    replies = await pipe.execute()
    lookback = None
    if needs_lookback(w, replies):
        pipe = client.pipeline(transaction=False)
        _run(pipe, lookback_plan(w))
        lookback = await pipe.execute()
    return summarize(w, replies, stale_after_s, lookback)
