"""The collector against the real broker and registry: acks, dead letters, redirect, postbacks, cap."""

import base64
import time
import uuid

import orjson
import pytest

from pipelines.collector import links
from pipelines.contracts.samples import one_of_each
from tests.pipelines.collector.conftest import (
    NETWORK_SECRET,
    SALT,
    SIGNING_KEY,
    consume,
    make_config,
    run_collector,
    wire,
)

pytestmark = pytest.mark.engines
BROWSER = ("page_view", "chart_interaction", "product_impression", "affiliate_click")
ORIGIN = "https://site-bestlaptops.example"
CF = {
    "cloudfront-viewer-country": "US",
    "cloudfront-viewer-country-region": "CA",
    "cloudfront-viewer-city": "San%20Jose",
    "user-agent": "Mozilla/5.0 test",
    "x-forwarded-for": "198.51.100.77, 10.0.0.1",
}


def _topic(ns, event_type):
    return f"{ns}.events.{event_type}"


def test_acknowledged_events_are_in_kafka_exactly_as_sent_plus_server_context(
    local_engines, collector_codec, topics, tmp_path
):
    samples = one_of_each()
    sent = [wire(samples[t], t) for t in BROWSER]
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)

    async def body(c):
        before = int(time.time() * 1000)
        resp = await c.post_events(sent, origin=ORIGIN, **CF)
        return before, resp

    before, resp = run_collector(cfg, collector_codec, body)
    assert resp.status_code == 200
    assert resp.json() == {"accepted": 4, "rejected": 0}
    assert resp.headers["access-control-allow-origin"] == ORIGIN
    records = consume(local_engines.kafka_bootstrap, [_topic(topics, t) for t in BROWSER], collector_codec)
    by_id = {r["event_id"]: (topic, key, r) for topic, key, r, _ in records}
    assert len(by_id) == 4
    from pipelines.collector.privacy import hash_ip

    for ev in sent:
        topic, key, got = by_id[ev["event_id"]]
        assert topic == _topic(topics, ev["event_type"])
        assert key == ev["context"]["session_id"].encode()
        ctx = got["context"]
        assert ctx["collector_received_at"] >= before
        assert (ctx["geo_country"], ctx["geo_region"], ctx["geo_city"]) == ("US", "US-CA", "San Jose")
        assert ctx["ip_hash"] == hash_ip("198.51.100.77", SALT.encode())
        assert ctx["user_agent"] == "Mozilla/5.0 test"
        # everything the tracer sent is there unchanged
        for k, v in ev["context"].items():
            assert ctx[k] == v, k
        for k, v in ev.items():
            if k not in ("context", "event_type"):
                assert got[k] == v, k


def test_invalid_events_go_to_the_dead_letter_topic_with_their_reason(local_engines, collector_codec, topics, tmp_path):
    good = wire(one_of_each()["page_view"], "page_view")
    wrong_type = {**good, "event_id": str(uuid.uuid4()), "page_view_id": 42}
    unknown_field = {**good, "event_id": str(uuid.uuid4()), "surprise": True}
    bad_type = {**good, "event_id": str(uuid.uuid4()), "event_type": "page_vew"}
    conversion = {"event_type": "conversion", "event_id": str(uuid.uuid4())}
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)

    async def body(c):
        r1 = await c.post_events([good, wrong_type, unknown_field, bad_type, conversion, "nope"], **CF)
        r2 = await c.client.post("/v1/events", content=b'{"events": [', headers={"x-forwarded-for": "198.51.100.77"})
        r3 = await c.client.post("/v1/events", content=b"x" * (cfg.max_body_bytes + 1))
        r4 = await c.post_events([good] * (cfg.max_events + 1))
        return r1, r2, r3, r4

    r1, r2, r3, r4 = run_collector(cfg, collector_codec, body)
    assert r1.json() == {"accepted": 1, "rejected": 5}
    assert (r2.status_code, r2.json()["error"]) == (400, "unparseable")
    assert (r3.status_code, r4.status_code) == (413, 413)
    letters = consume(local_engines.kafka_bootstrap, [_topic(topics, "dead_letter")], collector_codec, expected=6)
    got = sorted((r["reason"], r["event_id"] or "") for _, _, r, _ in letters)
    assert got == sorted(
        [
            ("schema_violation", wrong_type["event_id"]),
            ("schema_violation", unknown_field["event_id"]),
            ("unknown_event_type", bad_type["event_id"]),
            ("business_rule", conversion["event_id"]),
            ("schema_violation", ""),
            ("unparseable", ""),
        ]
    )
    by_id = {r["event_id"]: r for _, _, r, _ in letters}
    assert "page_view_id: expected a UUID string, got int" in by_id[wrong_type["event_id"]]["detail"]
    assert "surprise: unknown field" in by_id[unknown_field["event_id"]]["detail"]
    letter = by_id[wrong_type["event_id"]]
    assert letter["stage"] == "collector"
    assert orjson.loads(letter["raw"])["page_view_id"] == 42
    assert letter["request_context"]["geo_country"] == "US"
    assert "198.51.100.77" not in orjson.dumps(letter["request_context"]).decode()


def test_refused_origin_gets_403_and_preflight_allows_listed_origins(local_engines, collector_codec, topics, tmp_path):
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)

    async def body(c):
        refused = await c.post_events([], origin="https://evil.example")
        pre = await c.client.options("/v1/events", headers={"origin": ORIGIN})
        pre_bad = await c.client.options("/v1/events", headers={"origin": "https://evil.example"})
        return refused, pre, pre_bad

    refused, pre, pre_bad = run_collector(cfg, collector_codec, body)
    assert refused.status_code == 403
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert pre_bad.status_code == 403


def _click_param(record):
    ev = {"event_type": "affiliate_click", **record}
    return base64.urlsafe_b64encode(orjson.dumps(ev)).decode().rstrip("=")


def test_redirect_refuses_unlisted_and_unsigned_links_and_records_signed_ones(
    local_engines, collector_codec, topics, tmp_path
):
    click = wire(one_of_each()["affiliate_click"], "affiliate_click")
    click.pop("event_type")
    dest = "https://www.amazon.com/dp/B0TEST?tag=site-20"
    sig = links.sign(SIGNING_KEY.encode(), dest)
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)

    async def body(c):
        e = _click_param(click)
        return (
            await c.client.get("/r", params={"u": "https://evil.example/x", "e": e}),
            await c.client.get("/r", params={"u": "https://amazon.com@evil.example/", "e": e}),
            await c.client.get("/r", params={"u": "https://amazon.com.evil.example/", "e": e}),
            await c.client.get("/r", params={"u": dest, "e": e}),
            await c.client.get("/r", params={"u": dest, "e": e, "s": "0" * 64}),
            await c.client.get("/r", params={"u": dest, "e": e, "s": sig}, headers=CF),
            await c.client.get("/r", params={"u": dest, "e": "not-base64-json", "s": sig}),
        )

    unlisted, creds, lookalike, unsigned, badsig, ok, badclick = run_collector(cfg, collector_codec, body)
    assert [r.status_code for r in (unlisted, creds, lookalike, unsigned, badsig)] == [403, 400, 403, 403, 403]
    assert "location" not in unlisted.headers
    assert ok.status_code == 302
    location = ok.headers["location"]
    assert location.startswith("https://www.amazon.com/dp/B0TEST?")
    assert f"ascsubtag={click['click_id']}" in location
    assert "tag=site-20" in location
    assert badclick.status_code == 302  # the visitor still gets to the merchant; the bad click is a dead letter
    clicks = consume(local_engines.kafka_bootstrap, [_topic(topics, "affiliate_click")], collector_codec, expected=1)
    rec = clicks[0][2]
    assert (rec["click_id"], rec["transport"], rec["destination_domain"]) == (
        click["click_id"],
        "redirect",
        "amazon.com",
    )
    assert rec["context"]["geo_country"] == "US"
    letters = consume(local_engines.kafka_bootstrap, [_topic(topics, "dead_letter")], collector_codec, expected=1)
    assert letters[0][2]["reason"] == "unparseable"


def _postback(params, secret=NETWORK_SECRET):
    return {**params, "sig": links.postback_signature(secret.encode(), params)}


def test_postbacks_need_the_network_signature_and_repeat_idempotently(local_engines, collector_codec, topics, tmp_path):
    params = {
        "network": "awin",
        "conversion_id": "c-123",
        "click_id": str(uuid.uuid4()),
        "merchant": "amazon",
        "amount": "199.90",
        "commission": "7.99",
        "currency": "usd",
        "status": "pending",
        "occurred_at": "1795000000000",
    }
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)

    async def body(c):
        return (
            await c.client.get("/v1/postback", params=params),
            await c.client.get("/v1/postback", params=_postback(params, "wrong-secret-0123456789")),
            await c.client.get("/v1/postback", params=_postback({**params, "network": "impact"})),
            await c.client.get("/v1/postback", params=_postback(params)),
            await c.client.post("/v1/postback", data=_postback(params)),
            await c.client.get("/v1/postback", params=_postback({**params, "amount": "lots"})),
        )

    unsigned, wrong, unknown, ok, again, invalid = run_collector(cfg, collector_codec, body)
    assert [r.status_code for r in (unsigned, wrong, unknown)] == [403, 403, 403]
    assert ok.status_code == again.status_code == 200
    assert ok.json()["event_id"] == again.json()["event_id"] == links.conversion_event_id("awin", "c-123")
    assert invalid.status_code == 400
    convs = consume(local_engines.kafka_bootstrap, [_topic(topics, "conversion")], collector_codec, expected=2)
    assert {r["event_id"] for _, _, r, _ in convs} == {ok.json()["event_id"]}
    rec = convs[0][2]
    assert (rec["sale_amount"], rec["commission_amount"], rec["currency"]) == (199.9, 7.99, "USD")
    assert convs[0][1] == params["click_id"].encode()
    letters = consume(local_engines.kafka_bootstrap, [_topic(topics, "dead_letter")], collector_codec, expected=1)
    assert "sale_amount: expected number" in letters[0][2]["detail"]


def test_journal_cap_answers_503_with_retry_after(local_engines, collector_codec, namespace, tmp_path):
    # nothing listens on port 1: every record spills, and the tiny journal fills up
    cfg = make_config(tmp_path, "127.0.0.1:1", namespace, journal_max_bytes=8192, delivery_timeout_ms=500)
    event = wire(one_of_each()["page_view"], "page_view")

    async def body(c):
        statuses = []
        for _ in range(40):
            r = await c.post_events([{**event, "event_id": str(uuid.uuid4())}])
            statuses.append((r.status_code, r.headers.get("retry-after")))
            if r.status_code == 503:
                break
        ready = await c.client.get("/readyz")
        metrics = (await c.client.get("/metrics")).text
        return statuses, ready, metrics

    statuses, ready, metrics = run_collector(cfg, collector_codec, body)
    assert statuses[0] == (200, None)  # spilled, still acknowledged
    assert statuses[-1] == (503, "30")
    assert ready.status_code == 503
    assert "kafka unreachable" in ready.json()["problems"]
    assert "collector_records_spilled_total" in metrics
    spilled = next(line for line in metrics.splitlines() if line.startswith("collector_records_spilled_total"))
    assert float(spilled.split()[-1]) == len(statuses) - 1


def test_health_and_metrics_endpoints(local_engines, collector_codec, topics, tmp_path):
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)
    event = wire(one_of_each()["page_view"], "page_view")

    async def body(c):
        await c.post_events([event, {"event_type": "nope"}])
        return (
            await c.client.get("/healthz"),
            await c.client.get("/readyz"),
            (await c.client.get("/metrics")).text,
        )

    health, ready, metrics = run_collector(cfg, collector_codec, body)
    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "problems": []}
    assert 'collector_events_accepted_total{event_type="page_view"} 1.0' in metrics
    assert 'collector_events_rejected_total{reason="unknown_event_type"} 1.0' in metrics
    assert "collector_produce_latency_seconds_bucket" in metrics
    assert "collector_journal_bytes 0.0" in metrics
