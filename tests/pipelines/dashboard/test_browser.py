"""The dashboard in headless Chromium against the running app: real-time numbers equal Redis and
update without a reload; explorer numbers equal a direct warehouse query; a crafted parameter is
refused before any query runs. Screenshots of both views go to the test artifacts."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
import redis

from pipelines.dashboard import realtime

from .conftest import free_port, row, start_server
from .test_explorer import direct

pytestmark = pytest.mark.engines

SHOWN = """(() => {
  const k = (name) => { const el = document.querySelector(`#realtime [data-k="${name}"]`); return [el.textContent, el.dataset.v ?? null]; };
  const t = (name) => [...document.querySelectorAll(`#realtime table[data-t="${name}"] tbody tr`)].map(
    (tr) => Object.fromEntries([...tr.cells].map((td) => [td.dataset.c, [td.textContent, td.dataset.v]])));
  return {
    tiles: Object.fromEntries(['page_views', 'clicks', 'ctr', 'active_sessions', 'bot_rate', 'dlq_rate', 'age', 'updates']
      .map((n) => [n, k(n)])),
    stale: !document.getElementById('stale').hidden,
    error: document.getElementById('rt-error').hidden ? null : document.getElementById('rt-error').textContent,
    top_pages: t('top_pages'), merchants: t('merchants'), positions: t('positions'), segments: t('segments'),
    chart: !!document.querySelector('#rt-chart .uplot'),
    sentinel: window.__sentinel ?? null,
  };
})()"""


DASH = "\u2013"  # what the page shows for a missing value


def pct(v: float | None) -> str:
    return DASH if v is None else f"{v * 100:.2f}%"


def humans(now_min: int, sessions: int, page: str) -> list[dict]:
    rows = []
    for i in range(sessions):
        s = f"{page}-{i}"
        rows.append(
            row(now_min, "page_view", s, page_path=page, segments=("researcher",) if i % 2 else ("deal_seeker",))
        )
        if i % 3 == 0:
            rows.append(
                row(
                    now_min,
                    "affiliate_click",
                    s,
                    page_path=page,
                    link_id="l1",
                    merchant="amazon" if i % 2 else "bestbuy",
                    position=i % 4 + 1,
                )
            )
    return rows


def assert_shown_equals_redis(shown: dict, snap: dict) -> None:
    t = shown["tiles"]
    assert int(t["page_views"][0].replace(",", "")) == snap["totals"]["page_views"]
    assert int(t["clicks"][0].replace(",", "")) == snap["totals"]["clicks"]
    assert int(t["active_sessions"][0].replace(",", "")) == snap["totals"]["active_sessions"]
    assert t["ctr"][0] == pct(snap["ctr"])
    assert t["bot_rate"][0] == pct(snap["bot_rate"])
    assert t["dlq_rate"][0] == pct(snap["dead_letters"]["rate"])
    assert [(r["page"][0], int(r["page_views"][1]), int(r["clicks"][1])) for r in shown["top_pages"]] == [
        (p["page"], p["page_views"], p["clicks"]) for p in snap["top_pages"]
    ]
    assert [(r["merchant"][0], int(r["clicks"][1])) for r in shown["merchants"]] == [
        (m["merchant"], m["clicks"]) for m in snap["merchants"]
    ]
    assert [(r["position"][0], int(r["clicks"][1])) for r in shown["positions"]] == [
        (p["position"], p["clicks"]) for p in snap["positions"]
    ]
    assert [(r["segment"][0], int(r["events"][1]), r["share"][0]) for r in shown["segments"]] == [
        (s["segment"], s["events"], pct(s["share"])) for s in snap["segments"]
    ]


def test_realtime_view_matches_redis_and_updates_without_reload(page, dashboard, realtime_source, artifacts):
    page.call("goto", url=dashboard.url + "/#realtime")
    page.eval("window.__sentinel = 'same page'")
    page.wait("document.querySelector('#conn').textContent === 'live'", "the event stream to open")
    page.wait("!document.getElementById('stale').hidden", "the stale warning while Redis holds no event")
    assert "missing" in page.eval("document.getElementById('stale').textContent")

    now_min = int(time.time() // 60)
    batch1 = humans(now_min - 1, 12, "/best-vpn") + humans(now_min, 7, "/best-laptops")
    batch1 += [row(now_min, "page_view", "bot-1", is_bot=True), row(now_min, "page_view", "bot-1", is_bot=True)]
    realtime_source.emit(batch1, ledger={"received": 40, "valid": 38, "invalid:schema_violation": 2})
    page.wait("document.querySelector('[data-k=page_views]').textContent === '19'", "19 page views after batch 1")
    page.wait("document.getElementById('stale').hidden", "the stale warning to clear")
    shown = page.eval(SHOWN)
    client = redis.Redis.from_url(realtime_source.redis_url)
    snap = realtime.read(client, realtime.Window(realtime_source.prefix, time.time(), 60), 300)
    assert snap["totals"]["page_views"] == 19
    assert snap["totals"]["clicks"] == 4 + 3
    assert snap["totals"]["active_sessions"] == 19
    assert snap["bot_rate"] == pytest.approx(2 / (19 + 7 + 2))
    assert_shown_equals_redis(shown, snap)
    assert shown["tiles"]["dlq_rate"][0] == "5.00%"
    assert shown["chart"]
    assert shown["error"] is None
    page.call("screenshot", path=str(artifacts / "dashboard-realtime.png"))

    updates = int(shown["tiles"]["updates"][0])
    batch2 = humans(now_min, 30, "/compare/robot-vacuums")
    realtime_source.emit(batch2, ledger={"received": 40, "valid": 40})
    page.wait("document.querySelector('[data-k=page_views]').textContent === '49'", "49 page views after batch 2")
    shown = page.eval(SHOWN)
    snap = realtime.read(client, realtime.Window(realtime_source.prefix, time.time(), 60), 300)
    assert_shown_equals_redis(shown, snap)
    assert shown["top_pages"][0]["page"][0] == "site1/compare/robot-vacuums"
    assert shown["tiles"]["dlq_rate"][0] == "2.50%"
    assert shown["sentinel"] == "same page", "updated in place, not reloaded"
    assert int(shown["tiles"]["updates"][0]) > updates
    assert page.call("problems") == []


COMBOS = [("clicks", "merchant"), ("ctr", "page"), ("revenue", "country")]


def test_explorer_equals_a_direct_warehouse_query(page, dashboard, warehouse, artifacts):
    page.call("goto", url=dashboard.url + "/#explorer")
    page.wait("document.body.dataset.explored", "the explorer's first answer")
    start, end = "2025-03-02", "2025-03-20"
    for metric, dimension in COMBOS:
        page.call("select", selector="select[name=metric]", value=metric)
        page.call("select", selector="select[name=dimension]", value=dimension)
        page.call("fill", selector="input[name=from]", value=start)
        page.call("fill", selector="input[name=to]", value=end)
        page.call("click", selector="#ex-form button")
        query = urlencode({"metric": metric, "dimension": dimension, "from": start, "to": end})
        page.wait(f"document.body.dataset.explored === {json.dumps(query)}", f"the answer to {query}")
        rows = page.eval(
            "[...document.querySelectorAll('#ex-table tbody tr')].map((tr) => "
            "[tr.dataset.key, tr.querySelector('[data-c=metric]').dataset.v, tr.querySelector('[data-c=metric]').textContent])"
        )
        want = direct(warehouse, metric, dimension, start, end)
        assert {r[0] for r in rows} == set(want), (metric, dimension)
        for value, raw, text in rows:
            if want[value] is None:
                assert (raw, text) == ("", DASH)
            else:
                assert float(raw) == pytest.approx(want[value], rel=1e-9), (metric, dimension, value)
        top_value, top_raw, top_text = rows[0]
        expected = {
            "clicks": f"{round(float(top_raw)):,}",
            "ctr": pct(float(top_raw)),
            "revenue": f"${float(top_raw):,.2f}",
        }
        assert top_text == expected[metric]
        assert page.eval("document.querySelectorAll('#ex-chart .uplot').length") == 1
        csv_text = page.eval("fetch(document.getElementById('ex-csv').href).then((r) => r.text())")
        lines = csv_text.strip().split("\r\n")
        assert lines[0].startswith(f"{dimension},{metric},")
        assert len(lines) == len(rows) + 1
        assert lines[1].split(",")[0] == top_value
    page.call("screenshot", path=str(artifacts / "dashboard-explorer.png"))
    assert page.call("problems") == []


def test_crafted_parameter_gets_400_and_runs_no_query(page, dashboard):
    page.call("goto", url=dashboard.url + "/#explorer")
    page.wait("document.body.dataset.explored", "the explorer's first answer")
    before = dashboard.metric("dashboard_warehouse_queries_total", backend="duckdb", outcome="ok")
    assert before >= 2
    crafted = "/api/explore?" + urlencode(
        {
            "metric": "clicks",
            "dimension": "merchant' union select * from duckdb_settings() --",
            "from": "2025-03-01",
            "to": "2025-03-05",
        }
    )
    status, doc = page.eval(f"fetch({json.dumps(crafted)}).then(async (r) => [r.status, await r.json()])")
    assert status == 400
    assert doc["error"] == "invalid_parameter"
    assert doc["parameter"] == "dimension"
    assert "is not one of page, campaign" in doc["detail"]
    # the form refuses the same way: a value smuggled into the metric list shows the reason
    page.eval(
        "(() => { const s = document.querySelector('select[name=metric]'); s.add(new Option('x', 'revenue/0')); s.value = 'revenue/0'; })()"
    )
    page.call("click", selector="#ex-form button")
    page.wait("!document.getElementById('ex-error').hidden", "the explorer's error banner")
    assert page.eval("document.getElementById('ex-error').textContent").startswith("metric: 'revenue/0' is not one of")
    assert dashboard.metric("dashboard_warehouse_queries_total", backend="duckdb", outcome="ok") == before
    assert dashboard.metric("dashboard_rejected_parameters_total", parameter="dimension") == 1
    assert dashboard.metric("dashboard_rejected_parameters_total", parameter="metric") == 1
    page.call("problems")  # the 400 answers are logged as console errors by Chromium


def test_service_endpoints_and_headers(dashboard):
    status, body, headers = dashboard.get("/")
    assert status == 200
    assert b"/assets/app.js" in body
    assert "default-src 'self'" in headers["content-security-policy"]
    assert b"http" not in body.replace(b"http-equiv", b""), "no external URL in the page"
    assert dashboard.get("/assets/app.js")[0] == 200
    assert dashboard.json("/healthz") == {"status": "ok"}
    assert dashboard.get("/api/nope")[0] == 404
    text = dashboard.get("/metrics")[1].decode()
    assert "dashboard_requests_total" in text
    assert "dashboard_sse_clients" in text
    log_lines = [json.loads(line) for line in dashboard.log.read_text().splitlines() if line.startswith("{")]
    assert any(r["event"] == "dashboard_started" and r["logger"] == "dashboard" for r in log_lines)


def test_unreachable_redis_and_missing_warehouse_are_reported_not_fatal(web_dist, tmp_path):
    port = free_port()  # nothing listens there
    server_gen = start_server(
        tmp_path, "--redis-url", f"redis://127.0.0.1:{port}/0", "--warehouse", str(tmp_path / "none.duckdb")
    )
    server = next(server_gen)
    try:
        snap = server.json("/api/realtime")
        assert snap["error"] == "redis unavailable: ConnectionError"
        status, body, _ = server.get("/api/explore/options")
        assert status == 503
        assert json.loads(body)["detail"].endswith("none.duckdb: no warehouse file; run dbt (make demo) first")
        assert server.json("/healthz") == {"status": "ok"}
        events = [json.loads(line)["event"] for line in server.log.read_text().splitlines() if line.startswith("{")]
        assert "redis_unavailable" in events
        assert "warehouse_error" in events
    finally:
        server_gen.close()
