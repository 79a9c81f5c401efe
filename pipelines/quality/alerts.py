"""Incidents and their delivery: one alert when a finding first appears, one resolution when it
has been gone for ``resolve_after_passes`` passes, nothing in between (deduplicated).

State (``<state>/incidents.json``) survives between runs: open incidents with first/last seen and
how many clean passes they have had, plus a history of the last 500 opened/resolved ones (the
daily report reads it). A delivery that fails is retried on the next pass (``pending``).

Sinks:
- :class:`LocalSink`: one JSON line per notification to a file, and optionally a POST of the same
  JSON to a webhook (Slack-compatible ``text`` included).
- :class:`SnsSink`: ``sns.publish`` to the topic of the incident's severity (``critical``/``warning``:
  the observability stack's topics), subject ≤ 100 chars, attributes ``severity``, ``kind``, ``key``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pipelines.quality.monitors import Finding

HISTORY = 500


@dataclass
class Incident:
    key: str
    monitor: str
    severity: str
    title: str
    message: str
    details: dict[str, Any]
    opened_at: str
    last_seen_at: str
    status: str = "open"  # open | resolved
    resolved_at: str | None = None
    clean_passes: int = 0
    pending: list[str] = field(default_factory=list)  # notifications not yet delivered: "alert" / "resolved"


@dataclass(frozen=True)
class Notification:
    kind: str  # alert | resolved
    incident: Incident

    def subject(self, source: str) -> str:
        tag = "RESOLVED" if self.kind == "resolved" else self.incident.severity.upper()
        return f"[{tag}] {source}: {self.incident.title}"[:100]

    def body(self, source: str) -> dict[str, Any]:
        i = self.incident
        text = (
            f"resolved: {i.title} (open {i.opened_at} → {i.resolved_at})"
            if self.kind == "resolved"
            else f"{i.severity}: {i.message}"
        )
        return {
            "source": source,
            "kind": self.kind,
            "key": i.key,
            "monitor": i.monitor,
            "severity": i.severity,
            "title": i.title,
            "message": i.message,
            "text": text,
            "opened_at": i.opened_at,
            "resolved_at": i.resolved_at,
            "details": i.details,
        }


class Sink(Protocol):
    name: str

    def send(self, note: Notification, source: str) -> None: ...


class LocalSink:
    name = "local"

    def __init__(self, path: Path, webhook_url: str | None = None, timeout_s: float = 5.0) -> None:
        self.path = path
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s

    def send(self, note: Notification, source: str) -> None:
        doc = {"sent_at": _iso(), "subject": note.subject(source), **note.body(source)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(doc, sort_keys=True) + "\n")
        if self.webhook_url:
            req = urllib.request.Request(
                self.webhook_url,
                data=json.dumps(doc).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()


class SnsSink:
    name = "sns"

    def __init__(self, topics: Mapping[str, str], client: Any) -> None:
        self.topics = dict(topics)
        self.client = client

    def send(self, note: Notification, source: str) -> None:
        topic = self.topics.get(note.incident.severity) or self.topics.get("critical")
        if topic is None:
            return
        self.client.publish(
            TopicArn=topic,
            Subject=note.subject(source),
            Message=json.dumps(note.body(source), sort_keys=True),
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": note.incident.severity},
                "kind": {"DataType": "String", "StringValue": note.kind},
                "key": {"DataType": "String", "StringValue": note.incident.key[:256]},
            },
        )


def sns_client(endpoint: str | None, region: str | None = None) -> Any:
    from pipelines.aws import aws_client

    return aws_client("sns", endpoint, region)


def _iso(ts: float | None = None) -> str:
    dt = datetime.now(tz=UTC) if ts is None else datetime.fromtimestamp(ts, tz=UTC)
    return dt.isoformat(timespec="seconds")


class IncidentBook:
    """Open incidents and history, persisted as JSON in a file and, when given, a Redis key (the
    CronJob's pod is gone after each run: Redis is what carries the state there; Redis wins)."""

    def __init__(self, path: Path, redis_client: Any = None, redis_key: str | None = None) -> None:
        self.path = path
        self.redis, self.redis_key = redis_client, redis_key
        self.open: dict[str, Incident] = {}
        self.history: list[dict[str, Any]] = []
        text = redis_client.get(redis_key) if redis_client is not None and redis_key else None
        if text is None and path.exists():
            text = path.read_text()
        if text:
            doc = json.loads(text)
            self.open = {k: Incident(**v) for k, v in doc.get("open", {}).items()}
            self.history = list(doc.get("history", []))

    def save(self) -> None:
        doc = {"open": {k: asdict(v) for k, v in sorted(self.open.items())}, "history": self.history[-HISTORY:]}
        text = json.dumps(doc, indent=1, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
        if self.redis is not None and self.redis_key:
            self.redis.set(self.redis_key, text)

    def update(self, findings: Iterable[Finding], now_s: float, resolve_after: int = 1) -> list[Notification]:
        """Fold one pass's findings in; returns the notifications to send (new alerts, resolutions)."""
        now = _iso(now_s)
        notes: list[Notification] = []
        seen = set()
        for f in findings:
            seen.add(f.key)
            inc = self.open.get(f.key)
            if inc is None:
                inc = Incident(f.key, f.monitor, f.severity, f.title, f.message, f.details, now, now)
                self.open[f.key] = inc
                inc.pending.append("alert")
                self.history.append(
                    {
                        "event": "opened",
                        "at": now,
                        "key": f.key,
                        "severity": f.severity,
                        "title": f.title,
                        "message": f.message,
                    }
                )
            else:
                inc.last_seen_at, inc.message, inc.details, inc.clean_passes = now, f.message, f.details, 0
        for key, inc in list(self.open.items()):
            if key in seen:
                continue
            inc.clean_passes += 1
            if inc.clean_passes >= resolve_after:
                inc.status, inc.resolved_at = "resolved", now
                if "alert" in inc.pending:  # never told anyone it opened: nothing to resolve
                    inc.pending.remove("alert")
                else:
                    inc.pending.append("resolved")
                self.history.append(
                    {"event": "resolved", "at": now, "key": key, "severity": inc.severity, "title": inc.title}
                )
        for inc in self.open.values():
            notes.extend(Notification(kind, inc) for kind in inc.pending)
        return notes

    def delivered(self, note: Notification) -> None:
        inc = note.incident
        if note.kind in inc.pending:
            inc.pending.remove(note.kind)
        if inc.status == "resolved" and not inc.pending:
            self.open.pop(inc.key, None)

    def prune(self) -> None:
        for key, inc in list(self.open.items()):
            if inc.status == "resolved" and not inc.pending:
                self.open.pop(key)

    def active(self) -> list[Incident]:
        return [i for i in self.open.values() if i.status == "open"]


def deliver(notes: Sequence[Notification], sinks: Sequence[Sink], book: IncidentBook, source: str) -> list[str]:
    """Send every notification to every sink; a notification counts as delivered when all sinks took
    it (else it stays pending for the next pass). Returns the errors."""
    errors = []
    for note in notes:
        ok = True
        for sink in sinks:
            try:
                sink.send(note, source)
            except Exception as exc:  # a sink down must not stop the others or the monitor
                ok = False
                errors.append(f"{sink.name}: {note.kind} {note.incident.key}: {type(exc).__name__}: {exc}")
        if ok:
            book.delivered(note)
    book.prune()
    return errors
