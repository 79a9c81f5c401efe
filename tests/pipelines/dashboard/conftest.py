"""Dashboard fixtures: pluggable data sources, the app as a process, Chromium through a bridge.

Data sources are pluggable so the integrator can swap the seeded ones for the real pipeline:
- ``realtime_source``: writes minute buckets through the stream's own code path
  (``pipelines.streaming.metrics.Accumulator`` + ``apply_batch``), so the key layout cannot drift.
  An end-to-end test replaces it with a source that runs the stream on generated traffic and
  exposes the same ``redis_url`` / ``prefix``.
- ``warehouse``: a DuckDB file with ``self_service.explorer_daily`` in the mart's shape, or the
  file named by ``AA_DASHBOARD_TEST_WAREHOUSE`` (e.g. the one ``dbt build`` wrote).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from pipelines.streaming import metrics as stream_metrics

REPO = Path(__file__).resolve().parents[3]
WEB = REPO / "pipelines" / "dashboard" / "web"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("AA_DASHBOARD_ARTIFACTS", REPO / ".local" / "test-artifacts" / "dashboard"))

# --------------------------------------------------------------------------- warehouse

DIMENSION_VALUES = {
    "page": ["/best-vpn", "/best-laptops", "/compare/robot-vacuums", "/deals"],
    "campaign": ["spring_sale", "newsletter", "=1+1", "(none)"],
    "channel": ["organic", "paid_search", "social", "email", "direct"],
    "device": ["desktop", "mobile", "tablet"],
    "country": ["US", "GB", "DE", "FR", "(none)"],
    "merchant": ["amazon", "bestbuy", "walmart", "(n/a)"],
    "position": ["1", "2", "3", "4", "(n/a)"],
    "segment": ["deal_seeker", "researcher", "bouncer", "(none)"],
}
FIRST_DAY = dt.date(2025, 3, 1)
DAYS = 21

EXPLORER_DDL = """
create schema if not exists self_service;
create or replace table self_service.explorer_daily (
    activity_date date not null,
    dimension varchar not null,
    dimension_value varchar not null,
    page_views bigint not null,
    clicks bigint not null,
    click_through_rate double,
    conversions bigint not null,
    revenue decimal(18, 2) not null,
    commission decimal(18, 2) not null,
    earnings_per_click double
)
"""


def build_warehouse(path: Path, seed: int = 7) -> Path:
    """A DuckDB file shaped like dbt's ``self_service.explorer_daily`` with seeded random numbers."""
    import duckdb

    rnd = random.Random(seed)
    rows = []
    for d in range(DAYS):
        day = FIRST_DAY + dt.timedelta(days=d)
        for dim, values in DIMENSION_VALUES.items():
            for v in values:
                if rnd.random() < 0.1:
                    continue  # gaps: not every value has activity every day
                pv = 0 if v == "(n/a)" else rnd.randint(20, 900)
                clicks = rnd.randint(0, 120)
                conv = rnd.randint(0, max(0, clicks // 8))
                revenue = round(conv * rnd.uniform(15, 220), 2)
                commission = round(revenue * rnd.uniform(0.02, 0.09), 2)
                rows.append(
                    (
                        day,
                        dim,
                        v,
                        pv,
                        clicks,
                        clicks / pv if pv else None,
                        conv,
                        revenue,
                        commission,
                        commission / clicks if clicks else None,
                    )
                )
    with duckdb.connect(str(path)) as con:
        con.execute(EXPLORER_DDL)
        con.executemany("insert into self_service.explorer_daily values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return path


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Path:
    given = os.environ.get("AA_DASHBOARD_TEST_WAREHOUSE")
    if given:
        return Path(given)
    return build_warehouse(tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb")


# --------------------------------------------------------------------------- real time


@dataclass
class StreamMetricsSource:
    """Writes rows the way the stream does: an Accumulator applied as one idempotent batch."""

    redis_url: str
    prefix: str
    ttl_s: int = 3600
    batches: int = 0
    client: Any = field(init=False)

    def __post_init__(self) -> None:
        self.client = redis.Redis.from_url(self.redis_url)

    def emit(
        self, rows: list[Mapping[str, Any]], ledger: Mapping[str, int] | None = None, ledger_minute: int | None = None
    ) -> None:
        acc = stream_metrics.Accumulator()
        for r in rows:
            acc.add(r)
        self.batches += 1
        applied = stream_metrics.apply_batch(
            self.client,
            self.prefix,
            f"batch:test:{self.batches}",
            acc,
            ledger or {},
            ledger_minute if ledger_minute is not None else int(time.time() // 60),
            self.ttl_s,
        )
        assert applied

    def cleanup(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)
        self.client.close()


@pytest.fixture
def realtime_source(local_engines, namespace) -> Iterator[StreamMetricsSource]:
    source = StreamMetricsSource(local_engines.redis_url, namespace)
    yield source
    source.cleanup()


def row(minute: int, event_type: str, session: str, **kw: Any) -> dict[str, Any]:
    """One enriched event as the stream's Accumulator sees it."""
    return {
        "minute": minute,
        "event_type": event_type,
        "is_bot": kw.pop("is_bot", False),
        "site_id": kw.pop("site_id", "site1"),
        "page_path": kw.pop("page_path", "/best-vpn"),
        "session_id": session,
        "link_id": kw.pop("link_id", None),
        "merchant": kw.pop("merchant", None),
        "position": kw.pop("position", None),
        "segments": kw.pop("segments", ()),
        **kw,
    }


# --------------------------------------------------------------------------- the app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(self.url + path)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers.items())

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of /metrics (0 when absent)."""
        text = self.get("/metrics")[1].decode()
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(name + ("{" + want + "}" if want else " ")):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_server(tmp: Path, *args: str) -> Generator[Server, None, None]:
    port = free_port()
    log = tmp / f"dashboard-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.dashboard", "--port", str(port), *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + 20
    while True:
        try:
            if server.get("/healthz")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"dashboard did not start (exit {proc.poll()}): {log.read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built front end, (re)built when a source is newer than the bundle; npm ci when never installed."""
    dist = WEB / "dist"
    if not (WEB / "node_modules" / ".package-lock.json").exists():
        subprocess.run(["npm", "--prefix", str(WEB), "ci", "--no-audit", "--no-fund"], check=True, capture_output=True)
    built = (dist / "app.js").stat().st_mtime if (dist / "app.js").exists() else 0.0
    sources = [*(WEB / "src").iterdir(), WEB / "package-lock.json", WEB / "scripts" / "build.mjs"]
    if any(p.stat().st_mtime > built for p in sources):
        proc = subprocess.run(["npm", "--prefix", str(WEB), "run", "build"], capture_output=True, text=True)
        assert proc.returncode == 0, f"front-end build failed:\n{proc.stdout}\n{proc.stderr}"
    return dist


@pytest.fixture
def dashboard(web_dist, realtime_source, warehouse, tmp_path) -> Iterator[Server]:
    yield from start_server(
        tmp_path,
        "--redis-url",
        realtime_source.redis_url,
        "--redis-prefix",
        realtime_source.prefix,
        "--warehouse",
        str(warehouse),
        "--push-interval",
        "0.5",
    )


# --------------------------------------------------------------------------- the browser


class Browser:
    """Headless Debian Chromium driven by playwright-core through web/test/bridge.mjs (JSON lines)."""

    def __init__(self) -> None:
        if not Path(CHROMIUM).exists() or shutil.which("node") is None:
            pytest.fail(f"needs node and Chromium at {CHROMIUM} (make bootstrap installs both)")
        self.proc = subprocess.Popen(
            ["node", str(WEB / "test" / "bridge.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CHROMIUM_PATH": CHROMIUM},
        )
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.n = 0
        self.call("ping", timeout=30)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)

    def call(self, op: str, timeout: float = 15, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.n += 1
        self.proc.stdin.write(json.dumps({"id": self.n, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            reply = json.loads(self.replies.get(timeout=timeout))
        except queue.Empty:
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise AssertionError(f"browser bridge: no answer to {op} in {timeout} s {err}") from None
        assert reply["id"] == self.n
        if not reply["ok"]:
            raise AssertionError(f"browser {op} {args}: {reply['error']}")
        return reply.get("value")

    def eval(self, expression: str) -> Any:
        return self.call("eval", expression=expression)

    def wait(self, expression: str, what: str, timeout_s: float = 10) -> Any:
        """Poll a page expression until truthy; fail with what the page showed."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                seen = self.eval("document.querySelector('main')?.innerText.slice(0, 1500)")
                raise AssertionError(f"timed out waiting for {what}; the page showed:\n{seen}")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.call("close", timeout=10)
        finally:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def page(browser, dashboard) -> Iterator[Browser]:
    """The browser for one test against ``dashboard``; leaves the page before the server stops
    (an open event stream would hold the server's graceful shutdown)."""
    yield browser
    browser.call("goto", url="about:blank")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
