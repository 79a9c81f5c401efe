"""The collector as a plain ASGI application (no framework: see docs/BENCHMARKS.md for why).

Routes: ``POST /v1/events`` (+ ``OPTIONS`` preflight), ``GET /r``, ``GET|POST /v1/postback``,
``GET /healthz``, ``GET /readyz``, ``GET /metrics``. Every answer that says "accepted" is sent
after Kafka acknowledged the records or the journal fsync'd them (see ``delivery.py``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from pipelines.collector import links
from pipelines.collector.config import CollectorConfig
from pipelines.collector.delivery import Delivery, JournalFullError
from pipelines.collector.ingest import Batch, BodyError, Ingest, parse_body
from pipelines.collector.journal import Entry
from pipelines.collector.ledger import CollectorLedger
from pipelines.collector.logs import log
from pipelines.collector.metrics import Metrics
from pipelines.collector.privacy import RequestContext, request_context

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_NO_STORE = (b"cache-control", b"no-store")


class _TooLargeError(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLargeError(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    # a content-length spares the chunked framing (and its second write) of every answer
    if status != 204:  # a 204 carries no content-length (RFC 9110)
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Collector:
    def __init__(
        self,
        cfg: CollectorConfig,
        ingest: Ingest,
        delivery: Delivery,
        metrics: Metrics,
        ledger: CollectorLedger | None = None,
    ) -> None:
        self.ledger = ledger  # the quality ledger's collector hop (counts per minute in Redis), optional
        self.cfg = cfg
        self.ingest = ingest
        self.delivery = delivery
        self.metrics = metrics
        self._salt = cfg.salt()
        self._signing_key = cfg.signing_key()
        self._origins = frozenset(cfg.allowed_origins)
        self._secrets = {n: s.secret.get_secret_value().encode() for n, s in cfg.postback_networks.items()}
        self._retry_after = (b"retry-after", str(cfg.retry_after_s).encode())
        self.started = False

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        await self.delivery.start()
        if self.ledger is not None:
            await self.ledger.start()
        self.started = True
        log("collector_started", port=self.cfg.port, journal_bytes=self.delivery.journal.pending_bytes)

    async def stop(self) -> None:
        await self.delivery.stop()
        if self.ledger is not None:
            await self.ledger.stop()
        self.delivery.journal.close()
        self.started = False
        log("collector_stopped")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        route = path
        try:
            if path == "/v1/events":
                if method == "POST":
                    status = await self._events(scope, receive, send)
                elif method == "OPTIONS":
                    status = await self._preflight(scope, send)
                else:
                    status = await self._plain(send, 405, b"use POST")
            elif path == "/r" and method in ("GET", "HEAD"):
                status = await self._redirect(scope, send)
            elif path == "/v1/postback" and method in ("GET", "POST"):
                status = await self._postback(scope, receive, send)
            elif path == "/healthz":
                status = await self._json(send, 200, {"status": "ok"})
            elif path == "/readyz":
                ok, problems = self.delivery.ready()
                status = await self._json(send, 200 if ok else 503, {"ready": ok, "problems": problems})
            elif path == "/metrics":
                status = 200
                await _respond(send, 200, self.metrics.exposition(), [(b"content-type", b"text/plain; version=0.0.4")])
            else:
                route = "other"
                status = await self._plain(send, 404, b"not found")
        except Exception as exc:  # last resort: answer 500 and say what happened, never crash the server
            log("request_failed", level="error", route=route, error=f"{type(exc).__name__}: {exc}")
            status = await self._json(send, 500, {"error": "internal"})
        self.metrics.requests.labels(route, str(status)).inc()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    async def _plain(send: Send, status: int, body: bytes, extra: Headers | None = None) -> int:
        await _respond(send, status, body, [_TEXT, *(extra or [])])
        return status

    @staticmethod
    async def _json(send: Send, status: int, doc: Any, extra: Headers | None = None) -> int:
        await _respond(send, status, orjson.dumps(doc), [_JSON, *(extra or [])])
        return status

    def _context(self, scope: Scope, headers: dict[str, str]) -> RequestContext:
        client = scope.get("client")
        return request_context(headers, client[0] if client else None, self.cfg.client_ip_header, self._salt)

    @staticmethod
    def _headers(scope: Scope) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

    def _cors(self, headers: Mapping[str, str]) -> Headers | None:
        """CORS headers for an allowed origin, [] without an Origin header, None for a refused origin."""
        origin = headers.get("origin")
        if origin is None:
            return []
        if origin in self._origins:
            return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        return None

    async def _deliver(self, entries: list[Entry]) -> bool:
        """True when every entry is acknowledged or spilled; False when the journal is full."""
        try:
            await self.delivery.deliver(entries)
        except JournalFullError as exc:
            log("journal_full", level="warning", detail=str(exc), records=len(entries))
            return False
        self.metrics.journal_bytes.set(self.delivery.journal.pending_bytes)
        return True

    def _count(self, batch: Batch, received_ms: int) -> None:
        if self.ledger is not None:
            self.ledger.batch(received_ms, batch.accepted, batch.rejected)
        for event_type, n in batch.accepted.items():
            self.metrics.accepted.labels(event_type).inc(n)
        for reason, n in batch.rejected.items():
            self.metrics.rejected.labels(reason).inc(n)

    # ------------------------------------------------------------------ routes

    async def _preflight(self, scope: Scope, send: Send) -> int:
        cors = self._cors(self._headers(scope))
        if not cors:
            return await self._plain(send, 403, b"origin not allowed")
        extra = [
            *cors,
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", b"86400"),
        ]
        await _respond(send, 204, b"", extra)
        return 204

    async def _events(self, scope: Scope, receive: Receive, send: Send) -> int:
        headers = self._headers(scope)
        cors = self._cors(headers)
        if cors is None:
            return await self._plain(send, 403, b"origin not allowed")
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = 0
        try:
            if declared > self.cfg.max_body_bytes:
                raise _TooLargeError(declared)
            body = await _read_body(receive, self.cfg.max_body_bytes)
        except _TooLargeError as exc:
            detail = f"body is at least {exc.args[0]} bytes; the limit is {self.cfg.max_body_bytes}"
            return await self._json(send, 413, {"error": "payload_too_large", "detail": detail}, cors)
        ctx = self._context(scope, headers)
        now = int(time.time() * 1000)
        batch = self.ingest.fast_events(body, ctx, now, self.cfg.max_events) if self.cfg.fast_path else None
        if batch is not None:
            return await self._answer(batch, now, send, cors)
        try:
            events = parse_body(body, self.cfg.max_body_bytes, self.cfg.max_events)
        except BodyError as exc:
            if exc.status == 413:
                return await self._json(send, 413, {"error": exc.reason, "detail": exc.detail}, cors)
            letter = self.ingest.dead_letter(exc.reason, exc.detail, body, ctx, now)
            if not await self._deliver([letter]):
                return await self._json(send, 503, {"error": "busy"}, [*cors, self._retry_after])
            self.metrics.rejected.labels(exc.reason).inc()
            if self.ledger is not None:
                self.ledger.batch(now, {}, {exc.reason: 1})
            return await self._json(send, 400, {"error": exc.reason, "detail": exc.detail}, cors)
        return await self._answer(self.ingest.events(events, ctx, now), now, send, cors)

    async def _answer(self, batch: Batch, now: int, send: Send, cors: Headers) -> int:
        if not await self._deliver(batch.entries):
            return await self._json(
                send,
                503,
                {"error": "busy", "retry_after_s": self.cfg.retry_after_s},
                [
                    *cors,
                    self._retry_after,
                ],
            )
        self._count(batch, now)
        return await self._json(send, 200, {"accepted": batch.n_accepted, "rejected": batch.n_rejected}, cors)

    async def _redirect(self, scope: Scope, send: Send) -> int:
        params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        destination = params.get("u")
        try:
            domain = links.check_destination(destination, self.cfg.redirect_domains, self._signing_key, params.get("s"))
        except links.RefusedError as exc:
            self.metrics.redirects.labels(exc.outcome).inc()
            log("redirect_refused", outcome=exc.outcome, detail=exc.detail)
            return await self._plain(send, exc.status, exc.detail.encode(), [_NO_STORE])
        assert destination is not None
        headers = self._headers(scope)
        ctx = self._context(scope, headers)
        now = int(time.time() * 1000)
        click_id: str | None = None
        try:
            click = links.decode_click(params.get("e"))
        except ValueError as exc:
            raw = (params.get("e") or "").encode()
            batch = Batch(entries=[self.ingest.dead_letter("unparseable", str(exc), raw, ctx, now, "affiliate_click")])
            batch.rejected["unparseable"] += 1
        else:
            if isinstance(click, dict):
                host = (urlsplit(destination).hostname or "").lower()
                click = {
                    **click,
                    "event_type": click.get("event_type", "affiliate_click"),
                    "transport": "redirect",
                    "destination_domain": host.removeprefix("www."),
                }
                cid = click.get("click_id")
                click_id = cid if isinstance(cid, str) and len(cid) <= 64 else None
            batch = self.ingest.events([click], ctx, now)
        outcome = "recorded" if batch.n_accepted else "recorded_invalid"
        if not await self._deliver(batch.entries):
            outcome = "click_lost"  # the visitor still reaches the merchant: never block the sale
        else:
            self._count(batch, now)
        self.metrics.redirects.labels(outcome).inc()
        location = links.with_subid(destination, self.cfg.redirect_domains[domain].subid_param, click_id)
        await _respond(send, 302, b"", [(b"location", location.encode("latin-1", "replace")), _NO_STORE])
        return 302

    async def _postback(self, scope: Scope, receive: Receive, send: Send) -> int:
        params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        if scope["method"] == "POST":
            try:
                body = await _read_body(receive, 65536)
            except _TooLargeError:
                return await self._plain(send, 413, b"postback body too large")
            headers = self._headers(scope)
            if "json" in headers.get("content-type", ""):
                try:
                    doc = orjson.loads(body) if body else {}
                except orjson.JSONDecodeError:
                    doc = None
                if not isinstance(doc, dict):
                    return await self._plain(send, 400, b"postback body must be a JSON object")
                params.update({str(k): "" if v is None else str(v) for k, v in doc.items()})
            else:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            network = links.verify_postback(params, self._secrets)
        except links.RefusedError as exc:
            self.metrics.postbacks.labels(exc.outcome).inc()
            log("postback_refused", outcome=exc.outcome, network=params.get("network", "")[:60])
            return await self._plain(send, exc.status, exc.detail.encode())
        headers = self._headers(scope)
        ctx = self._context(scope, headers)
        now = int(time.time() * 1000)
        batch = Batch()
        record = links.conversion_record(params, now)
        self.ingest.accept("conversion", record, params, ctx, now, batch)
        if not await self._deliver(batch.entries):
            self.metrics.postbacks.labels("busy").inc()
            return await self._json(send, 503, {"error": "busy"}, [self._retry_after])
        self._count(batch, now)
        if batch.n_rejected:
            self.metrics.postbacks.labels("invalid").inc()
            return await self._json(send, 400, {"error": "schema_violation", "network": network})
        self.metrics.postbacks.labels("recorded").inc()
        return await self._json(send, 200, {"accepted": 1, "event_id": record["event_id"]})
