"""``make demo``: the whole pipeline on real local engines, with a summary of what happened.

    engines up → topics synced → contracts registered → collector → traffic over HTTP (tracer wire
    format, bots, invalid events, signed postbacks, redirects) → Kafka → Spark stream → Redis + lake
    → dbt on DuckDB → dashboard

Everything lives under ``.local/demo/`` (lake, checkpoints, journal, warehouse, a generated IP-hash
salt that never enters git). ``--finish`` processes the backlog once, prints the summary and exits
0; without it the stream keeps running with its 10 s trigger and the dashboard stays up until
Ctrl-C. Engines that this run started are stopped on exit unless ``--keep-engines``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from pipelines.collector.config import local_salt_file
from pipelines.contracts.registry import GlueSchemaRegistry, glue_client
from pipelines.contracts.topics import admin_client, load_topics, sync_topics
from pipelines.kafka_io import record_counts
from pipelines.local import engines
from pipelines.traffic import PROFILES, Keys, Planner, send, site_origin
from pipelines.traffic.plan import SERVER_FIELDS, to_wire

__all__ = ["SERVER_FIELDS", "SITE_ORIGIN", "Demo", "main", "to_wire"]

REPO = Path(__file__).resolve().parents[1]
SITE_ORIGIN = site_origin("site-bestlaptops")
NETWORK_SECRET = "demo-network-secret-0123456789"  # a demo-only shared secret for signed postbacks
# Traffic shape (pipelines.traffic's "demo" profile): sessions 30-60 s apart over the last hours,
# 40 % from visitors who came before (more than 30 minutes earlier, through their own campaign):
# multi-touch attribution paths.
RETURNING_RATE = PROFILES["demo"].returning_rate
SESSION_GAP_MS = PROFILES["demo"].session_gap_ms


def step(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, what: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Until ``url`` answers 200; fails at once, naming the log, if the process exits first."""

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}")
        try:
            return _get(url, 1.0)[0] == 200
        except OSError:
            return False

    engines.wait_until(ready, f"{what} at {url}", timeout_s, log)


class Demo:
    def __init__(self, cfg: engines.EngineConfig, work: Path, sessions: int, seed: int) -> None:
        self.cfg, self.work, self.sessions, self.seed = cfg, work, sessions, seed
        self.collector_port = int(os.environ.get("AA_DEMO_COLLECTOR_PORT", "18080"))
        self.dashboard_port = int(os.environ.get("AA_DEMO_DASHBOARD_PORT", "18090"))
        self.site_port = int(os.environ.get("AA_DEMO_SITE_PORT", "18081"))
        self.lake = work / "lake"
        self.warehouse = work / "warehouse.duckdb"
        self.logs = cfg.logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sent: Counter[str] = Counter()  # accepted events by type (bots included)
        self.bots: Counter[str] = Counter()

    # ------------------------------------------------------------ processes

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.cfg.env(),
            "AA_LAKE_DIR": str(self.lake),
            "AA_WAREHOUSE_PATH": str(self.warehouse),
            "PYTHONUNBUFFERED": "1",
        }

    def spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self.logs / f"demo-{name}.log"
        env = {**self.env(), **(extra_env or {})}
        proc = engines.spawn_logged([sys.executable, *args], log, env, cwd=REPO, new_session=False)
        self.procs.append(proc)
        return proc

    def run_to_end(self, name: str, args: list[str], timeout_s: float) -> None:
        proc = self.spawn(name, args)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise TimeoutError(f"{name} did not finish in {timeout_s:.0f}s; see {self.logs}/demo-{name}.log") from None
        if rc != 0:
            tail = (self.logs / f"demo-{name}.log").read_text(errors="replace").splitlines()[-15:]
            raise RuntimeError(f"{name} exited with {rc}:\n" + "\n".join(tail))

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    # ------------------------------------------------------------ steps

    def contracts(self) -> None:
        step("syncing topics from schemas/topics.yaml")
        report = sync_topics(admin_client(self.cfg.kafka_bootstrap), load_topics(), replication_factor=1)
        print(f"    created {len(report.created)}, altered {len(report.altered)}, unchanged {len(report.unchanged)}")
        step("registering contracts in the Glue schema registry (moto)")
        for t, r in GlueSchemaRegistry(glue_client(self.cfg.moto_url)).register_all().items():
            print(f"    {t:<20} version {r.version_number:<3} {r.version_id}  {'new' if r.created else 'unchanged'}")

    def start_collector(self, **overrides: Any) -> None:
        salt = local_salt_file(self.work)
        config = {
            "port": self.collector_port,
            "ip_salt_file": str(salt),
            "kafka_bootstrap": self.cfg.kafka_bootstrap,
            "glue_endpoint": self.cfg.moto_url,
            "journal_dir": str(self.work / "journal"),
            "ledger_redis_url": self.cfg.redis_url,  # the quality ledger's collector hop
            "allowed_origins": [
                SITE_ORIGIN,
                site_origin("site-coffeegear"),
                f"http://127.0.0.1:{self.site_port}",
                f"http://localhost:{self.site_port}",
            ],
            "redirect_domains": {"amazon.com": {"subid_param": "tag"}, "bestbuy.com": {}, "walmart.com": {}},
            "postback_networks": {"impact": {"secret": NETWORK_SECRET}, "amazon": {"secret": NETWORK_SECRET}},
        }
        cfg_file = self.work / "collector.json"
        cfg_file.write_text(json.dumps({**config, **overrides}))
        step(f"starting the collector on http://127.0.0.1:{self.collector_port}")
        proc = self.spawn("collector", ["-m", "pipelines.collector"], {"AA_COLLECTOR_CONFIG": str(cfg_file)})
        wait_http(f"http://127.0.0.1:{self.collector_port}/readyz", "collector", proc, self.logs / "demo-collector.log")

    def traffic(self) -> dict[str, int]:
        """Generated sessions (pipelines.traffic, profile "demo") over HTTP in the tracer's wire format:
        bots, a broken tracer build's invalid event every 15th session, signed postbacks, and one
        redirect that repeats a click already sent (a duplicate the stream must drop). Every answer
        is checked against the plan's expectation."""
        profile = PROFILES["demo"]
        # session i starts i x (30-60 s) after the first: with the widest gap the last one still ends
        # ~10 minutes ago (a mean gap put late sessions in the future, which the stream rejects)
        start_ms = int(time.time() * 1000) - self.sessions * SESSION_GAP_MS[1] - 10 * 60_000
        keys = Keys(None, {network: NETWORK_SECRET.encode() for network in ("impact", "amazon")})
        planner = Planner(profile, seed=self.seed, start_ms=start_ms, keys=keys)
        step(f"sending {self.sessions} generated sessions through the collector (tracer wire format, postbacks, /r)")
        # one session at a time, oldest first, as the visits happened
        report = send(planner.sessions(self.sessions), f"http://127.0.0.1:{self.collector_port}", concurrency=1)
        if not report.ok:
            raise RuntimeError("the collector answered otherwise than expected:\n" + "\n".join(report.mismatches))
        self.sent.update(report.events)
        self.bots.update(report.bot_events)
        accepted = report.answered_accepted + report.calls["redirect"]
        print(
            f"    accepted {accepted}, rejected to the dead-letter topic {report.answered_rejected}, "
            f"postbacks {report.statuses['postback 200']}, bot sessions {report.bot_sessions}, "
            f"CTR {report.ctr:.1%}"
        )
        redirected = 302 if report.statuses["repeated_click 302"] else 0
        if redirected:
            print("    /r redirect answered 302 for a click already sent (the stream drops the duplicate)")
        return {
            "accepted": accepted,
            "rejected": report.answered_rejected,
            "postbacks": report.statuses["postback 200"],
            "redirect_status": redirected,
        }

    def start_site(self) -> str:
        """The tracer's demo comparison page, sending real events to the collector."""
        url = f"http://127.0.0.1:{self.site_port}/"
        log = self.logs / "demo-site.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    "node",
                    str(REPO / "tracer" / "scripts" / "serve.mjs"),
                    "--port",
                    str(self.site_port),
                    "--collector",
                    f"http://127.0.0.1:{self.collector_port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
            )
        self.procs.append(proc)
        wait_http(url, "demo site", proc, log)
        return url

    def drive_browser(self, site: str, out: Path) -> dict[str, Any]:
        """A visitor in headless Chromium: page views, impressions, every chart action, SPA routes,
        and an affiliate click that leaves at once. Returns the tracer's own account of what it sent."""
        step("a visitor in headless Chromium browses the demo page (tracer → collector)")
        result = subprocess.run(
            [
                "node",
                str(REPO / "tracer" / "scripts" / "drive-demo.mjs"),
                "--site",
                site.rstrip("/"),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=REPO,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"drive-demo failed ({result.returncode}): {result.stderr[-2000:]}")
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"    the browser sent {summary['events']} events: {summary['by_type']}")
        return summary

    def stream(self, finish: bool) -> None:
        args = [
            "-m",
            "pipelines.streaming",
            "run",
            "--lake-dir",
            str(self.lake),
            "--checkpoint-dir",
            str(self.work / "checkpoints" / "stream"),
        ]
        if finish:
            step("running the Spark stream over the backlog (available-now) → Redis, lake, dead letters")
            self.run_to_end("stream", [*args, "--available-now"], timeout_s=600)
        else:
            step("starting the Spark stream (10 s trigger) → Redis, lake, dead letters")
            self.spawn("stream", args)

    def wait_for_stream(self, timeout_s: float) -> None:
        """Until the running stream has taken in every record now on the event topics (its ledger)."""
        import redis

        topics = [s.name for s in load_topics() if s.event_type != "dead_letter"]
        expected = sum(record_counts(self.cfg.kafka_bootstrap, topics).values())
        client = redis.Redis.from_url(self.cfg.redis_url, decode_responses=True)

        def taken_in() -> bool:
            return int(cast("str | None", client.hget("aa:ledger:total", "received")) or 0) >= expected

        engines.wait_until(
            taken_in, f"the stream taking in all {expected} records", timeout_s, self.logs / "demo-stream.log"
        )
        print(f"    the stream has processed all {expected} records", flush=True)

    def warehouse_build(self) -> None:
        step("building the warehouse with dbt on DuckDB over the lake")
        self.run_to_end(
            "dbt",
            ["-m", "pipelines.batch", "--work-dir", str(self.work / "batch"), "run", "--schedule", "daily"],
            timeout_s=900,
        )

    def quality(self) -> None:
        """One pass of the quality monitor (what the cloud's CronJob runs) and today's report."""
        step("checking the books: quality monitor (ledger per hop, monitors, incidents) and today's report")
        where = ["--state-dir", str(self.work / "quality"), "--batch-dir", str(self.work / "batch")]
        self.run_to_end("quality", ["-m", "pipelines.quality.monitor", *where], timeout_s=300)
        day = time.strftime("%Y-%m-%d", time.gmtime())
        self.run_to_end("quality-report", ["-m", "pipelines.quality", "report", "--day", day, *where], timeout_s=300)
        runs = sorted((self.work / "quality" / "runs").glob("*.jsonl"))
        if runs:
            last = json.loads(runs[-1].read_text().splitlines()[-1])
            print(f"    quality: {json.dumps(last['summary'], sort_keys=True)}")
        for md in sorted((self.work / "quality").rglob(f"*{day}*.md"))[-1:]:
            print(f"    daily data-quality report: {md} (+ .html)")

    def start_dashboard(self) -> str:
        url = f"http://127.0.0.1:{self.dashboard_port}/"
        proc = self.spawn(
            "dashboard",
            [
                "-m",
                "pipelines.dashboard",
                "--redis-url",
                self.cfg.redis_url,
                "--warehouse",
                str(self.warehouse),
                "--port",
                str(self.dashboard_port),
            ],
        )
        wait_http(f"{url}healthz", "dashboard", proc, self.logs / "demo-dashboard.log")
        return url

    # ------------------------------------------------------------ summary

    def summary(self) -> None:
        import duckdb
        import redis

        step("summary")
        counts = record_counts(self.cfg.kafka_bootstrap, [s.name for s in load_topics()])
        print(f"    {'topic':<28}{'records':>9}")
        for topic, n in counts.items():
            print(f"    {topic:<28}{n:>9}")
        r = redis.Redis.from_url(self.cfg.redis_url, decode_responses=True)
        ledger = cast("dict[str, str]", r.hgetall("aa:ledger:total"))
        if ledger:
            keys = ("received", "decoded", "written_lake", "duplicate", "late", "bot", "invalid")
            shown = {k: v for k, v in sorted(ledger.items()) if any(k.startswith(p) for p in keys)}
            print(f"    stream ledger (Redis aa:ledger:total): {json.dumps(shown)}")
        if self.lake.exists():
            con = duckdb.connect()
            rows = con.execute(
                f"select event_type, count(*) from read_parquet('{self.lake}/event_type=*/*/*/*.parquet', "
                "hive_partitioning=true) group by 1 order by 1"
            ).fetchall()
            print("    lake rows: " + ", ".join(f"{t} {n}" for t, n in rows))
        if self.warehouse.exists():
            con = duckdb.connect(str(self.warehouse), read_only=True)
            for title, sql in MART_QUERIES:
                try:
                    cur = con.execute(sql)
                except duckdb.Error as exc:
                    print(f"    {title}: not available ({str(exc).splitlines()[0]})")
                    continue
                cols = [d[0] for d in cur.description]
                print(f"\n    {title}\n    " + " | ".join(cols))
                for row in cur.fetchall():
                    print("    " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))


MART_QUERIES = [
    (
        "attribution: revenue credited per channel by model",
        "select channel, round(sum(first_touch_revenue), 2) as first_touch, round(sum(last_touch_revenue), 2) as "
        "last_touch, round(sum(linear_revenue), 2) as linear, round(sum(position_based_revenue), 2) as "
        "position_based, round(sum(time_decay_revenue), 2) as time_decay from marketing.attribution "
        "group by channel order by last_touch desc limit 5",
    ),
    (
        "campaign effectiveness",
        "select activity_date, utm_source, utm_campaign, sessions, page_views, affiliate_clicks, "
        "round(click_through_rate, 3) as ctr, conversions, revenue, round(earnings_per_click, 2) as epc "
        "from marketing.campaign_effectiveness order by revenue desc limit 5",
    ),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--finish", action="store_true", help="process once, print the summary and exit 0")
    parser.add_argument("--keep-engines", action="store_true", help="leave the engines running on exit")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work-dir", type=Path, default=REPO / ".local" / "demo")
    args = parser.parse_args(argv)
    cfg = engines.EngineConfig()
    shutil.rmtree(args.work_dir, ignore_errors=True)  # every demo starts from an empty lake and warehouse
    args.work_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(cfg, args.work_dir, args.sessions, args.seed)
    step(f"starting local engines (logs in {cfg.logs})")
    states = engines.up(cfg)
    started_here = any(state == "started" for state in states.values())
    with ExitStack() as stack:
        if started_here and not args.keep_engines:
            stack.callback(lambda: (step("stopping the engines this demo started"), engines.down(cfg)))
        stack.callback(demo.stop_all)
        demo.contracts()
        demo.start_collector()
        demo.traffic()
        site = demo.start_site()
        if Path("/usr/bin/chromium").exists() or os.environ.get("CHROMIUM_PATH"):
            demo.drive_browser(site, args.work_dir / "browser-events.jsonl")
        demo.stream(args.finish)
        if not args.finish:
            demo.wait_for_stream(timeout_s=180)
        demo.warehouse_build()
        demo.quality()
        url = demo.start_dashboard()
        demo.summary()
        print(f"\ndashboard: {url}   (explorer: {url}#explorer)")
        print(f"demo comparison page (open it: it sends real events): {site}")
        if not args.finish:
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            print("the stream keeps running (10 s trigger); press Ctrl-C to stop", flush=True)
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
