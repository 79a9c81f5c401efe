"""Locust load test of the collector, driven by the traffic generator (see ``pipelines.traffic.load``).

Every simulated visitor walks generated sessions (its own seed) call by call at the pace that makes
the whole run send the profile's events per second. A call fails when the collector's answer is not
the planned one (status, accepted/rejected counts), so the error rate is exact. At the end the
run's tally (what the collector had to accept, per topic) is written to ``--report-file`` and the
process exits non-zero when the error rate or the p99 latency is above its threshold.

    uv run locust -f pipelines/traffic/locustfile.py --headless -u 50 -r 50 -t 60s \\
        --host http://127.0.0.1:18085 --traffic-profile peak
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from pathlib import Path
from typing import Any, cast

from locust import FastHttpUser, events, task
from locust.env import Environment

from pipelines.traffic.load import LOAD_PROFILES, call_interval_s, keys_from_env
from pipelines.traffic.plan import PROFILES, Call, Planner
from pipelines.traffic.send import Connection, Report, answer_of

_tally = Report()
_warm_up_events = 0
_lock = threading.Lock()
_user_numbers = itertools.count()


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--traffic-profile", choices=sorted(LOAD_PROFILES), default="normal")
    parser.add_argument("--traffic-seed", type=int, default=1)
    parser.add_argument("--max-error-rate", type=float, default=0.01, help="fail above this share of failed calls")
    parser.add_argument("--max-p99-ms", type=float, default=50.0, help="fail above this p99 latency")
    parser.add_argument("--report-file", default="", help="write the run's tally (JSON) here")


def _opts(environment: Environment) -> Any:
    if environment.parsed_options is None:
        raise RuntimeError("run this locustfile with the locust command (it needs its options)")
    return environment.parsed_options


def _interval(environment: Environment) -> float:
    opts = _opts(environment)
    users = int(getattr(opts, "num_users", 0) or LOAD_PROFILES[opts.traffic_profile].users)
    return call_interval_s(LOAD_PROFILES[opts.traffic_profile], users)


@events.test_start.add_listener
def _warm_up(environment: Environment, **_: Any) -> None:
    """Two sessions before the measured run (not in Locust's stats, but in the tally, so Kafka's
    count still matches): the collector's first produce to each topic fetches its metadata."""
    opts = _opts(environment)
    planner = Planner(
        PROFILES["realistic"], seed=opts.traffic_seed, start_ms=int(time.time() * 1000), keys=keys_from_env()
    )
    conn = Connection(environment.host or "")
    try:
        for session in planner.sessions(3):
            for call in session:
                status, body = conn.request(call)
                with _lock:
                    _tally.add(call, status, answer_of(call, body), first_of_session=False)
    finally:
        conn.close()
    global _warm_up_events
    _warm_up_events = sum(_tally.events.values())
    if _tally.n_mismatches:
        print(f"warm-up: the collector answered otherwise than planned: {_tally.mismatches}", flush=True)


class Visitor(FastHttpUser):
    """A visitor of the comparison site (the tracer's calls, redirects, networks' postbacks)."""

    def on_start(self) -> None:
        opts = _opts(self.environment)
        n = next(_user_numbers)
        planner = Planner(
            PROFILES["realistic"],
            seed=opts.traffic_seed * 100_003 + n,
            start_ms=int(time.time() * 1000),
            keys=keys_from_env(),
        )
        # visitor n starts at session 7n: in a short run some visitors are crawlers, some send invalid calls
        self._calls = (c for session in planner.sessions(None, first_index=7 * n) for c in session)
        self._pace = _interval(self.environment)
        # visitors arrive spread over one pace interval, not all in the first second (gevent's sleep)
        time.sleep(random.Random(n).uniform(0, self._pace))
        self._next = time.monotonic()

    def wait_time(self) -> float:
        self._next += self._pace
        return max(0.0, self._next - time.monotonic())

    @task
    def next_call(self) -> None:
        call: Call = next(self._calls)
        path, body = call.render(int(time.time() * 1000))
        name = call.kind if call.kind not in ("events", "redirect", "postback") else f"{call.method} {call.path}"
        with self.client.request(
            call.method,
            path,
            data=cast(Any, body),  # geventhttpclient sends bytes as they are
            headers=call.headers,
            name=name,
            catch_response=True,
            allow_redirects=False,
        ) as resp:
            status = int(resp.status_code or 0)
            answer = answer_of(call, resp.content or b"")
            with _lock:
                before = _tally.n_mismatches
                _tally.add(call, status, answer, first_of_session=False)
                problem = _tally.mismatches[-1] if _tally.n_mismatches > before and _tally.mismatches else None
            if _tally.n_mismatches > before:
                resp.failure(problem or f"status {status}, expected {call.status}")
            else:
                resp.success()


@events.quitting.add_listener
def _verdict(environment: Environment, **_: Any) -> None:
    opts = _opts(environment)
    total = environment.stats.total
    error_rate = total.fail_ratio
    p50, p95, p99 = (total.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99))
    seconds = max((total.last_request_timestamp or 0) - (total.start_time or 0), 1e-9)
    events_sent = sum(_tally.events.values()) - _warm_up_events
    verdict = {
        "profile": opts.traffic_profile,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "error_rate": round(error_rate, 5),
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "requests_per_s": round(total.num_requests / seconds, 2),
        "events_per_s": round(events_sent / seconds, 2),
        "thresholds": {"max_error_rate": opts.max_error_rate, "max_p99_ms": opts.max_p99_ms},
        "tally": _tally.as_dict(),
    }
    warm_up_failed = _tally.n_mismatches > total.num_failures
    failed = error_rate > opts.max_error_rate or p99 > opts.max_p99_ms or warm_up_failed
    verdict["passed"] = not failed
    if opts.report_file:
        Path(opts.report_file).write_text(json.dumps(verdict, indent=2))
    print(
        f"load {opts.traffic_profile}: {total.num_requests} requests, {events_sent} events "
        f"({verdict['events_per_s']}/s), error rate {error_rate:.3%}, p50 {p50} ms, p95 {p95} ms, p99 {p99} ms "
        f"→ {'PASS' if not failed else 'FAIL'} (max error rate {opts.max_error_rate:.1%}, max p99 {opts.max_p99_ms} ms)",
        flush=True,
    )
    if failed:
        environment.process_exit_code = 1
