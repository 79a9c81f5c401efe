"""The dashboard as a plain ASGI application (the collector's approach: no framework).

Routes:
    GET /                       the single page (built assets from web/dist, no CDN)
    GET /assets/<file>          app.js, app.css (built by ``npm --prefix pipelines/dashboard/web run build``)
    GET /api/stream             Server-Sent Events: one real-time snapshot every ``push_interval_s``
    GET /api/realtime           the current snapshot as JSON
    GET /api/quality            the event ledger per minute (live) and the quality monitor's open incidents
    GET /api/explore/options    allow-listed metrics and dimensions, dates the mart covers
    GET /api/explore            metric, dimension, date range -> rows and daily series (400 on a bad parameter)
    GET /api/explore.csv        the same rows as CSV
    GET /healthz, /metrics      liveness, Prometheus

One background task reads Redis while at least one browser listens and fans the snapshot out to
every open stream, so N viewers cost one Redis read per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson

from pipelines.dashboard import explorer, quality, realtime
from pipelines.dashboard.config import DashboardConfig
from pipelines.dashboard.logs import log
from pipelines.dashboard.metrics import Metrics

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

WEB_DIST = Path(__file__).parent / "web" / "dist"
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_SECURITY = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
}


def load_assets(dist: Path) -> dict[str, tuple[bytes, bytes]]:
    """The built files by URL path; empty when the front end was not built."""
    assets: dict[str, tuple[bytes, bytes]] = {}
    for f in ("index.html", "app.js", "app.css"):
        path = dist / f
        if path.is_file():
            url = "/" if f == "index.html" else f"/assets/{f}"
            assets[url] = (_TYPES[path.suffix], path.read_bytes())
    return assets


async def _respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Dashboard:
    def __init__(
        self,
        cfg: DashboardConfig,
        redis_client: Any,
        backend: explorer.Backend,
        metrics: Metrics | None = None,
        assets: dict[str, tuple[bytes, bytes]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.redis = redis_client
        self.backend = backend
        self.metrics = metrics or Metrics()
        self.assets = load_assets(WEB_DIST) if assets is None else assets
        self.clock = clock
        self._latest = b""
        self._latest_at = 0.0
        self._changed = asyncio.Event()
        self._listeners = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump())
        if not self.assets:
            log(
                "assets_missing",
                level="warning",
                dist=str(WEB_DIST),
                fix="npm --prefix pipelines/dashboard/web run build",
            )
        log("dashboard_started", port=self.cfg.port, backend=self.backend.name, redis_prefix=self.cfg.redis_prefix)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        log("dashboard_stopped")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        route = path
        try:
            if method not in ("GET", "HEAD"):
                route = "other"
                status = await self._json(
                    send, 405, {"error": "method_not_allowed", "detail": "the dashboard is read-only"}
                )
            elif path in self.assets:
                ctype, body = self.assets[path]
                cache = b"no-cache" if path == "/" else b"public, max-age=300"
                status = 200
                await _respond(send, 200, body, [(b"content-type", ctype), (b"cache-control", cache), *_SECURITY])
            elif path == "/":
                status = await self._json(
                    send, 503, {"error": "not_built", "detail": "run: npm --prefix pipelines/dashboard/web run build"}
                )
            elif path == "/api/stream":
                status = await self._stream(receive, send)
            elif path == "/api/realtime":
                status = await self._json(send, 200, await self.snapshot())
            elif path == "/api/quality":
                status = await self._json(send, 200, await self.quality())
            elif path == "/api/explore/options":
                status = await self._options(send)
            elif path in ("/api/explore", "/api/explore.csv"):
                status = await self._explore(scope, send, csv=path.endswith(".csv"))
            elif path == "/healthz":
                status = await self._json(send, 200, {"status": "ok"})
            elif path == "/metrics":
                status = 200
                await _respond(send, 200, self.metrics.exposition(), [(b"content-type", b"text/plain; version=0.0.4")])
            else:
                route = "other"
                status = await self._json(send, 404, {"error": "not_found"})
        except Exception as exc:  # last resort: answer 500 and say what happened, never crash the server
            log("request_failed", level="error", route=route, error=f"{type(exc).__name__}: {exc}")
            status = 500
            with contextlib.suppress(Exception):
                await self._json(send, 500, {"error": "internal"})
        self.metrics.requests.labels(route, str(status)).inc()

    @staticmethod
    async def _json(send: Send, status: int, doc: Any, extra: Headers | None = None) -> int:
        await _respond(send, status, orjson.dumps(doc), [_JSON, _NO_STORE, *(extra or [])])
        return status

    # ------------------------------------------------------------------ real time

    def window(self) -> realtime.Window:
        return realtime.Window(self.cfg.redis_prefix, self.clock(), self.cfg.window_minutes)

    async def snapshot(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            snap = await realtime.read_async(self.redis, self.window(), self.cfg.stale_after_s)
        except Exception as exc:  # Redis down or unreachable: say so in the view, keep serving
            self.metrics.snapshots.labels("error").inc()
            if not self._failing:
                log("redis_unavailable", level="warning", error=f"{type(exc).__name__}: {exc}")
            self._failing = True
            return {"now": round(self.clock(), 3), "error": f"redis unavailable: {type(exc).__name__}"}
        if self._failing:
            log("redis_recovered")
        self._failing = False
        self.metrics.snapshots.labels("ok").inc()
        self.metrics.snapshot_seconds.observe(time.perf_counter() - t0)
        age = snap["freshness"]["age_s"]
        if age is not None:
            self.metrics.data_age.set(age)
        return snap

    async def quality(self) -> dict[str, Any]:
        try:
            return await quality.read_async(self.redis, self.cfg.redis_prefix, self.clock(), self.cfg.window_minutes)
        except Exception as exc:  # Redis down: say so, keep serving
            log("redis_unavailable", level="warning", error=f"{type(exc).__name__}: {exc}", view="quality")
            return {"now": round(self.clock(), 3), "error": f"redis unavailable: {type(exc).__name__}"}

    async def _pump(self) -> None:
        """Read a snapshot every interval while someone listens; wake every stream on a new one."""
        while True:
            if self._listeners == 0:
                self._wake.clear()
                await self._wake.wait()
            self._latest = orjson.dumps(await self.snapshot())
            self._latest_at = time.monotonic()
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()
            await asyncio.sleep(self.cfg.push_interval_s)

    async def _stream(self, receive: Receive, send: Send) -> int:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        self._listeners += 1
        self.metrics.sse_clients.inc()
        self._wake.set()
        retry = int(self.cfg.push_interval_s * 1000)
        try:
            await send({"type": "http.response.body", "body": f"retry: {retry}\n\n".encode(), "more_body": True})
            if self._latest and time.monotonic() - self._latest_at < 2 * self.cfg.push_interval_s:
                await send(
                    {"type": "http.response.body", "body": b"data: " + self._latest + b"\n\n", "more_body": True}
                )
            while not gone.is_set():
                changed = self._changed
                waiter = asyncio.create_task(changed.wait())
                stopper = asyncio.create_task(gone.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                if gone.is_set():
                    break
                await send(
                    {"type": "http.response.body", "body": b"data: " + self._latest + b"\n\n", "more_body": True}
                )
        except OSError:  # the browser went away mid-write
            pass
        finally:
            self._listeners -= 1
            self.metrics.sse_clients.dec()
            watcher.cancel()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return 200

    # ------------------------------------------------------------------ explorer

    async def _fetch(self, fn: Callable[[], Any]) -> Any:
        try:
            result = await asyncio.to_thread(fn)
        except explorer.WarehouseError:
            self.metrics.queries.labels(self.backend.name, "error").inc()
            raise
        self.metrics.queries.labels(self.backend.name, "ok").inc()
        return result

    async def _options(self, send: Send) -> int:
        try:
            doc = await self._fetch(lambda: explorer.options(self.backend, self.cfg.table))
        except explorer.WarehouseError as exc:
            log("warehouse_error", level="warning", error=str(exc))
            return await self._json(send, 503, {"error": "warehouse_unavailable", "detail": str(exc)})
        return await self._json(send, 200, doc)

    async def _explore(self, scope: Scope, send: Send, csv: bool) -> int:
        params = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        try:
            q = explorer.validate(params, self.cfg.max_days, self.cfg.max_rows)
        except explorer.ParamError as exc:
            self.metrics.rejected.labels(exc.parameter if exc.parameter in explorer.PARAMS else "unknown").inc()
            log("explore_rejected", parameter=exc.parameter[:40], reason=exc.reason)
            return await self._json(
                send, 400, {"error": "invalid_parameter", "parameter": exc.parameter, "detail": exc.reason}
            )
        t0 = time.perf_counter()
        try:
            result = await self._fetch(lambda: explorer.explore(self.backend, self.cfg.table, q))
        except explorer.WarehouseError as exc:
            log("warehouse_error", level="warning", error=str(exc))
            return await self._json(send, 503, {"error": "warehouse_unavailable", "detail": str(exc)})
        log(
            "explore",
            metric=q.metric,
            dimension=q.dimension,
            start=q.start.isoformat(),
            end=q.end.isoformat(),
            rows=len(result["rows"]),
            ms=round((time.perf_counter() - t0) * 1000, 1),
        )
        if csv:
            name = f"explorer_{q.metric}_by_{q.dimension}_{q.start}_{q.end}.csv"
            await _respond(
                send,
                200,
                explorer.to_csv(result).encode(),
                [
                    (b"content-type", b"text/csv; charset=utf-8"),
                    (b"content-disposition", f'attachment; filename="{name}"'.encode()),
                    _NO_STORE,
                ],
            )
            return 200
        return await self._json(send, 200, result)


def build(cfg: DashboardConfig) -> Dashboard:
    """The app with its real clients: Redis (read commands only) and the configured warehouse."""
    import redis.asyncio

    client = redis.asyncio.from_url(cfg.redis_url, socket_timeout=2, socket_connect_timeout=2)
    backend: explorer.Backend
    if cfg.backend == "snowflake":
        assert cfg.snowflake is not None
        backend = explorer.SnowflakeBackend(cfg.snowflake)
    else:
        backend = explorer.DuckDBBackend(cfg.warehouse)
    return Dashboard(cfg, client, backend)
