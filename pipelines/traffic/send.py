"""Send a plan to a running collector over HTTP and account for every answer.

Sessions run in order within themselves (page view before click before postback) and in
parallel across ``concurrency`` worker threads, each on its own keep-alive connection. The
:class:`Report` holds what was sent (calls by kind, events by type, page views, clicks, bots),
what the collector had to answer (statuses, accepted/rejected counts, records per topic) and every
answer that differed from the expectation.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from pipelines.traffic.plan import Call

MAX_MISMATCHES = 20


@dataclass
class Report:
    sessions: int = 0
    bot_sessions: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # by kind
    statuses: Counter[str] = field(default_factory=Counter)  # "kind status"
    events: Counter[str] = field(default_factory=Counter)  # valid events sent, by type (postbacks as conversion)
    bot_events: Counter[str] = field(default_factory=Counter)  # valid events of crawler sessions
    clicks: Counter[str] = field(default_factory=Counter)  # in_page | redirect
    expected_records: Counter[str] = field(default_factory=Counter)  # by event type, dead_letter included
    expected_accepted: int = 0  # /v1/events answers, summed
    expected_rejected: int = 0
    answered_accepted: int = 0
    answered_rejected: int = 0
    mismatches: list[str] = field(default_factory=list)
    n_mismatches: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.n_mismatches == 0

    @property
    def ctr(self) -> float:
        """Affiliate clicks per page view."""
        return sum(self.clicks.values()) / self.events["page_view"] if self.events["page_view"] else 0.0

    def add(self, call: Call, status: int, answer: dict[str, Any] | None, *, first_of_session: bool) -> None:
        if first_of_session:
            self.sessions += 1
            self.bot_sessions += call.bot
        self.calls[call.kind] += 1
        self.statuses[f"{call.kind} {status}"] += 1
        if call.kind != "repeated_click":  # a duplicate on purpose: not a new event
            self.events.update(call.accepted)
        if call.bot:
            self.bot_events.update(call.accepted)
        if call.kind == "redirect":
            self.clicks["redirect"] += 1
        elif call.kind == "events":
            self.clicks["in_page"] += call.accepted["affiliate_click"]
        self.expected_records.update(call.accepted)
        if call.rejected:
            self.expected_records["dead_letter"] += sum(call.rejected.values())
        problem = None
        if status != call.status:
            problem = f"{call.kind} {call.method} {call.path}: status {status}, expected {call.status}"
        elif call.kind == "events":
            want = (sum(call.accepted.values()), sum(call.rejected.values()))
            self.expected_accepted += want[0]
            self.expected_rejected += want[1]
            got = (int((answer or {}).get("accepted", -1)), int((answer or {}).get("rejected", -1)))
            self.answered_accepted += max(got[0], 0)
            self.answered_rejected += max(got[1], 0)
            if got != want:
                problem = f"events (session {call.session}): answered accepted/rejected {got}, expected {want}"
        if problem is not None:
            self.n_mismatches += 1
            if len(self.mismatches) < MAX_MISMATCHES:
                self.mismatches.append(problem)

    def merge(self, other: Report) -> None:
        for name in ("calls", "statuses", "events", "bot_events", "clicks", "expected_records"):
            getattr(self, name).update(getattr(other, name))
        for name in (
            "sessions",
            "bot_sessions",
            "expected_accepted",
            "expected_rejected",
            "answered_accepted",
            "answered_rejected",
            "n_mismatches",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.mismatches.extend(other.mismatches[: MAX_MISMATCHES - len(self.mismatches)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "bot_sessions": self.bot_sessions,
            "calls": dict(sorted(self.calls.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "events_sent": dict(sorted(self.events.items())),
            "clicks": dict(sorted(self.clicks.items())),
            "ctr": round(self.ctr, 4),
            "expected_records": dict(sorted(self.expected_records.items())),
            "accepted": {"expected": self.expected_accepted, "answered": self.answered_accepted},
            "rejected": {"expected": self.expected_rejected, "answered": self.answered_rejected},
            "mismatches": self.n_mismatches,
            "first_mismatches": self.mismatches,
            "seconds": round(self.seconds, 2),
        }


class Connection:
    """One keep-alive HTTP/1.1 connection to the collector (reopened after an error)."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"collector URL {base_url!r}: expected http(s)://host[:port]")
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port or (443 if self.https else 80)
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def request(self, call: Call) -> tuple[int, bytes]:
        path, body = call.render(int(time.time() * 1000))
        for attempt in (1, 2):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self._conn = cls(self.host, self.port, timeout=self.timeout_s)
            try:
                self._conn.request(call.method, path, body=body, headers=call.headers)
                resp = self._conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a keep-alive connection the server closed while idle: the request was not read
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def answer_of(call: Call, body: bytes) -> dict[str, Any] | None:
    if call.kind != "events":
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def send(
    sessions: Iterable[list[Call]],
    base_url: str,
    *,
    concurrency: int = 4,
    progress: Callable[[int, float], None] | None = None,  # (sessions sent, seconds)
    progress_every: int = 100,
) -> Report:
    """Send every session; returns the merged report (check ``report.ok``)."""
    source: Iterator[list[Call]] = iter(sessions)
    lock = threading.Lock()
    total = Report()
    errors: list[BaseException] = []
    done = [0]  # sessions sent, all workers
    t0 = time.perf_counter()

    def next_session() -> list[Call] | None:
        with lock:
            return next(source, None)

    def worker() -> None:
        conn = Connection(base_url)
        mine = Report()
        try:
            while (calls := next_session()) is not None:
                for n, call in enumerate(calls):
                    status, body = conn.request(call)
                    mine.add(
                        call, status, answer_of(call, body), first_of_session=n == 0 and call.kind != "repeated_click"
                    )
                with lock:
                    done[0] += 1
                    due = progress is not None and done[0] % progress_every == 0
                if due:
                    assert progress is not None
                    progress(done[0], time.perf_counter() - t0)
        except BaseException as exc:  # surfaced after the join, naming the call that failed
            errors.append(exc)
        finally:
            conn.close()
            with lock:
                total.merge(mine)

    threads = [threading.Thread(target=worker, name=f"traffic-{i}", daemon=True) for i in range(max(1, concurrency))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total.seconds = time.perf_counter() - t0
    if errors:
        raise RuntimeError(
            f"sending traffic to {base_url} failed: {type(errors[0]).__name__}: {errors[0]}"
        ) from errors[0]
    return total
