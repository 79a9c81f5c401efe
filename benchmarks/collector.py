"""Collector throughput, bounded to ~2 minutes, side by side in one run.

1. Stack choice: the same trivial handler (parse a 10-event JSON body, answer a JSON count) as a
   raw ASGI callable and as a Starlette route, each under uvicorn (uvloop + httptools, one
   process), driven by the same closed-loop HTTP/1.1 keep-alive load generator.
2. The collector with 10-event batches and real Kafka acks (acks=all, idempotent): the per-event
   path (``fast_path: false``), the msgspec fast path with one uvicorn process and with two
   (SO_REUSEPORT-style shared socket, a journal each), against the raw confluent-kafka producer
   writing the same encoded records to the same broker; the ratio is the figure that matters.
3. Latency at the 10x profile's rate (20 events/s = 2 requests/s of 10 events), open loop.

    uv run python -m benchmarks.collector          # engines from AA_* ports (make up), started if needed

The load generator is ``hey`` (Go, installed by scripts/bootstrap.sh) so that it does not take the
collector's CPU the way a Python client does; without it, a Python asyncio client is used and
said so. Generator, broker and collector share the same 2 cores, so absolute numbers are a floor.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from pipelines.contracts.samples import generate
from pipelines.local import engines

REPO = Path(__file__).resolve().parents[1]
BATCH = 10
BASE_PORT = int(os.environ.get("AA_BENCH_PORT", "28180"))


def _wire_batches(n: int) -> list[bytes]:
    events = []
    for s in generate(max(40, n // 6), seed=21):
        if s.event_type == "conversion":
            continue
        ctx = {k: v for k, v in s.record["context"].items() if v is not None and k != "ip_hash"}
        events.append(
            {"event_type": s.event_type, **{k: v for k, v in s.record.items() if v is not None}, "context": ctx}
        )
    bodies = []
    for i in range(n):
        batch = [{**events[(i * BATCH + j) % len(events)], "event_id": str(uuid.uuid4())} for j in range(BATCH)]
        bodies.append(orjson.dumps({"events": batch}))
    return bodies


async def _load(port: int, path: str, bodies: list[bytes], seconds: float, connections: int) -> tuple[int, list[float]]:
    """Closed loop: each connection sends the next request when the previous answer is read."""
    latencies: list[float] = []
    done = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            body = bodies[next(counter) % len(bodies)]
            head = (
                f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: text/plain;charset=UTF-8\r\n"
                f"content-length: {len(body)}\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if b" 200 " in status_line:
                done += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done, latencies


def hey_path() -> str | None:
    cached = Path(os.environ.get("AA_JAR_CACHE", Path.home() / ".cache" / "affiliate-analytics")) / "bin" / "hey"
    return str(cached) if cached.exists() else shutil.which("hey")


def _hey(port: int, path: str, body: bytes, seconds: float, connections: int) -> tuple[float, float, float, int]:
    """hey against the server: (requests/s answered 200, p50 ms, p99 ms, non-200 answers)."""
    hey = hey_path()
    assert hey is not None
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        cmd = [hey, "-z", f"{seconds}s", "-c", str(connections), "-m", "POST", "-T", "text/plain;charset=UTF-8"]
        cmd += ["-D", f.name, f"http://127.0.0.1:{port}{path}"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    total = sum(codes.values())
    lat = {int(q): float(v) * 1000 for q, v in re.findall(r"(\d+)% in ([\d.]+) secs", out)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    ok_rps = rps * codes.get(200, 0) / total if total else 0.0
    return ok_rps, lat.get(50, float("nan")), lat.get(99, float("nan")), total - codes.get(200, 0)


def drive(port: int, path: str, bodies: list[bytes], seconds: float, connections: int) -> tuple[float, float, float]:
    """Closed loop at saturation: (requests/s answered 200, p50 ms, p99 ms), with hey when installed."""
    if hey_path() is not None:
        _hey(port, path, bodies[0], 1.0, connections)  # warm-up
        rps, p50, p99, errors = _hey(port, path, bodies[0], seconds, connections)
        assert errors == 0, f"{errors} answers were not 200"
        return rps, p50, p99
    asyncio.run(_load(port, path, bodies, 1.0, connections))
    done, lat = asyncio.run(_load(port, path, bodies, seconds, connections))
    return done / seconds, _pct(lat, 50), _pct(lat, 99)


async def _paced(port: int, body: bytes, rate: float, seconds: float, connections: int = 2) -> list[float]:
    """Open loop at ``rate`` requests/s over ``connections`` keep-alive connections: latencies (s)."""
    latencies: list[float] = []
    interval = connections / rate

    async def one(phase: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"POST /v1/events HTTP/1.1\r\nhost: bench\r\ncontent-type: text/plain;charset=UTF-8\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        await asyncio.sleep(phase)
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            t0 = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            assert b" 200 " in status_line, status_line
            latencies.append(time.perf_counter() - t0)
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        writer.close()

    await asyncio.gather(*(one(i * interval / connections) for i in range(connections)))
    return latencies


def _serve(code: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engines.wait_until(lambda: engines.port_open(port), f"server on {port}", 60)
    return proc


_RAW = textwrap.dedent(
    """
    import orjson, uvicorn
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        n = len(orjson.loads(body)["events"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": orjson.dumps({"accepted": n, "rejected": 0})})
    uvicorn.run(app, port=PORT, loop="uvloop", http="httptools", access_log=False, log_level="warning")
    """
)
_STARLETTE = textwrap.dedent(
    """
    import orjson, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    async def events(request):
        n = len(orjson.loads(await request.body())["events"])
        return Response(orjson.dumps({"accepted": n, "rejected": 0}), media_type="application/json")
    app = Starlette(routes=[Route("/v1/events", events, methods=["POST"])])
    uvicorn.run(app, port=PORT, loop="uvloop", http="httptools", access_log=False, log_level="warning")
    """
)


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 2 else float("nan")


def stack_comparison(seconds: float = 4.0, connections: int = 16) -> dict[str, tuple[float, float, float]]:
    bodies = _wire_batches(500)
    out = {}
    for i, (name, code) in enumerate((("raw ASGI", _RAW), ("Starlette", _STARLETTE))):
        port = BASE_PORT + i
        proc = _serve(code.replace("PORT", str(port)), port)
        try:
            out[name] = drive(port, "/v1/events", bodies, seconds, connections)
        finally:
            proc.terminate()
            proc.wait(10)
    return out


def worker_app() -> Any:
    """uvicorn factory for the two-process variant: each worker its own journal directory."""
    from pipelines.collector.config import load_config
    from pipelines.collector.service import build

    cfg = load_config()
    return build(cfg.model_copy(update={"journal_dir": cfg.journal_dir / f"worker-{os.getpid()}"}))


_TWO_WORKERS = textwrap.dedent(
    """
    import os, uvicorn
    uvicorn.run("benchmarks.collector:worker_app", factory=True, workers=2, host="127.0.0.1",
                port=int(os.environ["AA_COLLECTOR_PORT"]), loop="uvloop", http="httptools", lifespan="on",
                access_log=False, log_level="warning")
    """
)
_ONE_WORKER = "from pipelines.collector.__main__ import main; raise SystemExit(main())"


def collector_vs_producer(
    cfg: engines.EngineConfig, seconds: float = 8.0, connections: int = 32, rounds: int = 2
) -> dict[str, tuple]:
    from pipelines.contracts.topics import TopicSpec, admin_client, load_topics, sync_topics

    ns = f"bench{uuid.uuid4().hex[:6]}"
    specs = [TopicSpec(f"{ns}.{s.name}", s.event_type, s.partitions, s.key, s.config) for s in load_topics()]
    sync_topics(admin_client(cfg.kafka_bootstrap), specs, replication_factor=1)
    port = BASE_PORT + 10
    env = {
        "AA_COLLECTOR_PORT": str(port),
        "AA_COLLECTOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "AA_COLLECTOR_TOPIC_PREFIX": f"{ns}.",
        "AA_COLLECTOR_GLUE_ENDPOINT": cfg.moto_url,
        "AA_COLLECTOR_REGISTRY_NAME": "affiliate-analytics",
        "AA_COLLECTOR_IP_SALT": "bench-salt-0123456789",
        "AA_COLLECTOR_LOG_LEVEL": "warning",
    }
    bodies = _wire_batches(2000)
    variants = [
        ("collector, per-event path, 1 process", _ONE_WORKER, {"AA_COLLECTOR_FAST_PATH": "false"}),
        ("collector, fast path, 1 process", _ONE_WORKER, {}),
        ("collector, fast path, 2 processes", _TWO_WORKERS, {}),
    ]
    out: dict[str, tuple] = {}
    # the machine is shared: variants alternate over the rounds and each keeps its best round
    for round_ in range(rounds):
        for name, code, extra in variants:
            journal = tempfile.mkdtemp(prefix="bench-journal-")
            proc = _serve(code, port, {**env, **extra, "AA_COLLECTOR_JOURNAL_DIR": journal})
            try:
                rps, p50, p99 = drive(port, "/v1/events", bodies, seconds, connections)
                if name not in out or rps * BATCH > out[name][0]:
                    out[name] = (rps * BATCH, p50, p99)
                if name == "collector, fast path, 1 process" and round_ == rounds - 1:
                    # the 10x profile: 20 events/s = 2 requests/s of 10 events, open loop for 30 s
                    lat = asyncio.run(_paced(port, bodies[0], rate=2.0, seconds=30.0))
                    out["collector at the 10x profile (20 events/s, 30 s)"] = (20.0, _pct(lat, 50), _pct(lat, 99))
            finally:
                proc.terminate()
                proc.wait(30)
                shutil.rmtree(journal, ignore_errors=True)

    # the same records, encoded once, through the bare producer: the ceiling of this broker + client
    from pipelines.contracts.codec import Codec
    from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client

    registry = GlueSchemaRegistry(glue_client(cfg.moto_url))
    codec = Codec(registry, current_versions(registry.register_all()))
    records = []
    for body in bodies[:500]:
        for ev in orjson.loads(body)["events"]:
            et = ev.pop("event_type")
            records.append((f"{ns}.events.{et}", ev["context"]["session_id"].encode(), ev, et))
    from pipelines.collector.validate import compile_contracts
    from pipelines.contracts.schemas import load_contracts

    checkers = compile_contracts({t: c.definition for t, c in load_contracts().items() if t != "dead_letter"})
    encoded = []
    for topic, key, ev, et in records:
        ev["context"]["collector_received_at"] = 0
        encoded.append((topic, key, codec.encode(et, checkers[et](ev, "", []), validated=True)))
    producer = Producer(
        {
            "bootstrap.servers": cfg.kafka_bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            "compression.type": "zstd",
        }
    )
    sent = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds / 2:
        for topic, key, value in encoded:
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        sent += len(encoded)
    producer.flush(30)
    out["raw confluent-kafka producer"] = (sent / (time.perf_counter() - t0), float("nan"), float("nan"))
    return out


def main() -> None:
    cfg = engines.EngineConfig()
    engines.up(cfg)
    generator = "hey (Go)" if hey_path() is not None else "Python asyncio (hey not installed: run make bootstrap)"
    print(f"load generator: {generator}")
    stacks = stack_comparison()
    base = stacks["raw ASGI"][0]
    print("collector stack: trivial handler under uvicorn (uvloop, httptools), 16 connections, 4 s")
    print(f"{'stack':<12}{'requests/s':>12}{'vs raw':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for name, (rps, p50, p99) in stacks.items():
        print(f"{name:<12}{rps:>12,.0f}{rps / base:>8.2f}{p50:>9.2f}{p99:>9.2f}")
    e2e = collector_vs_producer(cfg)
    ceiling = e2e["raw confluent-kafka producer"][0]
    print("\ncollector vs raw producer: 10-event batches, real Kafka acks (acks=all, idempotent), 32 connections, 8 s")
    print(f"{'path':<48}{'events/s':>10}{'vs raw':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for name, (eps, p50, p99) in e2e.items():
        print(f"{name:<48}{eps:>10,.0f}{eps / ceiling:>8.2f}{p50:>9.2f}{p99:>9.2f}")


if __name__ == "__main__":
    main()
