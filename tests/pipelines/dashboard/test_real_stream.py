"""The dashboard on the real pipeline: generated traffic → collector → Kafka → Spark stream → Redis,
and dbt on DuckDB → the explorer. Chromium shows what Redis holds, updates in place when the stream
processes more traffic, and the explorer equals a direct query of the dbt-built warehouse."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator

import pytest
import redis

from pipelines import demo
from pipelines.dashboard import realtime
from tests.conftest import fixed_port, reset_pipeline_state

from .test_browser import SHOWN, assert_shown_equals_redis
from .test_explorer import direct

pytestmark = pytest.mark.engines
COMBOS = [("clicks", "merchant"), ("ctr", "page"), ("revenue", "country")]


@pytest.fixture
def pipeline(local_engines, tmp_path, monkeypatch) -> Iterator[demo.Demo]:
    monkeypatch.setenv("AA_DEMO_COLLECTOR_PORT", str(fixed_port(28380)))
    monkeypatch.setenv("AA_DEMO_DASHBOARD_PORT", str(fixed_port(28390)))
    reset_pipeline_state(local_engines)
    run = demo.Demo(local_engines, tmp_path, sessions=20, seed=11)
    try:
        run.contracts()
        run.start_collector()
        run.traffic()
        run.stream(finish=True)
        run.warehouse_build()
        yield run
    finally:
        run.stop_all()


def _snapshot(redis_url: str) -> dict:
    return realtime.read(redis.Redis.from_url(redis_url), realtime.Window("aa", time.time(), 60), 300)


def test_dashboard_shows_the_real_stream_and_the_dbt_warehouse(browser, pipeline, local_engines):
    url = pipeline.start_dashboard()
    try:
        snap = _snapshot(local_engines.redis_url)
        assert snap["totals"]["page_views"] > 0
        browser.call("goto", url=url + "#realtime")
        browser.eval("window.__sentinel = 'same page'")
        browser.wait("document.querySelector('#conn').textContent === 'live'", "the event stream to open")
        browser.wait(
            f"document.querySelector('[data-k=page_views]').textContent === '{snap['totals']['page_views']:,}'",
            "the page views the stream wrote",
        )
        assert_shown_equals_redis(browser.eval(SHOWN), _snapshot(local_engines.redis_url))

        # more traffic, one more stream run: the page follows without a reload
        pipeline.sessions, pipeline.seed = 10, 12
        pipeline.traffic()
        pipeline.stream(finish=True)
        snap2 = _snapshot(local_engines.redis_url)
        assert snap2["totals"]["page_views"] > snap["totals"]["page_views"]
        browser.wait(
            f"document.querySelector('[data-k=page_views]').textContent === '{snap2['totals']['page_views']:,}'",
            "the page views after the second stream run",
            timeout_s=20,
        )
        shown = browser.eval(SHOWN)
        assert_shown_equals_redis(shown, _snapshot(local_engines.redis_url))
        assert shown["sentinel"] == "same page", "updated in place, not reloaded"

        today = time.strftime("%Y-%m-%d", time.gmtime())
        yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400))  # traffic is dated 20 min ago
        for metric, dimension in COMBOS:
            query = urllib.parse.urlencode({"metric": metric, "dimension": dimension, "from": yesterday, "to": today})
            status, body = demo._get(f"{url}api/explore?{query}")
            assert status == 200, body
            got = {r["value"]: r["metric"] for r in json.loads(body)["rows"]}
            want = direct(pipeline.warehouse, metric, dimension, yesterday, today)
            assert got.keys() == want.keys(), (metric, dimension)
            for value, number in want.items():
                assert got[value] == (pytest.approx(number, rel=1e-9) if number is not None else None)
            assert got, f"the warehouse has no {metric} by {dimension} for {yesterday}..{today}"
    finally:
        browser.call("goto", url="about:blank")
