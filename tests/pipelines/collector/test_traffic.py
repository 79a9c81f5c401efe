"""The traffic generator: reproducible realistic sessions, and a real collector answering each call
exactly as the plan expects, with every record on its topic."""

from __future__ import annotations

from collections import Counter

import pytest

from pipelines.contracts.samples import generate
from pipelines.kafka_io import record_counts
from pipelines.traffic import PROFILES, Keys, Planner, expected_records, send, to_wire
from tests.conftest import fixed_port

from .conftest import NETWORK_SECRET, SIGNING_KEY, collector_process, consume

SEPARATE = ("unparseable", "unlisted_redirect", "unsigned_redirect", "forged_postback")  # calls of their own
KEYS = Keys(SIGNING_KEY.encode(), {"impact": NETWORK_SECRET.encode(), "amazon": NETWORK_SECRET.encode()})


def _render_all(planner: Planner, n: int) -> list[tuple[str, str, bytes | None]]:
    return [(c.kind, *c.render(1_800_000_000_000)) for s in planner.sessions(n) for c in s]


def test_a_seed_gives_the_same_calls_and_the_traffic_looks_like_a_comparison_site():
    a = _render_all(Planner(PROFILES["realistic"], seed=3, keys=KEYS), 300)
    assert a == _render_all(Planner(PROFILES["realistic"], seed=3, keys=KEYS), 300)
    assert a != _render_all(Planner(PROFILES["realistic"], seed=4, keys=KEYS), 300)

    sessions = list(Planner(PROFILES["realistic"], seed=1, keys=KEYS).sessions(1500))
    calls = [c for s in sessions for c in s]
    records = expected_records(calls)
    assert 0.07 <= records["affiliate_click"] / records["page_view"] <= 0.09  # CTR ~8 % of page views
    assert 0.2 <= records["conversion"] / records["affiliate_click"] <= 0.4  # postbacks for a share of clicks
    kinds = Counter(c.kind for c in calls)
    redirect_share = kinds["redirect"] / records["affiliate_click"]
    assert 0.4 <= redirect_share <= 0.6
    assert set(SEPARATE) <= set(kinds)
    reasons = Counter()
    for c in calls:
        reasons.update(c.rejected)
    assert set(reasons) == {"schema_violation", "unknown_event_type", "business_rule", "unparseable"}
    assert sum(1 for s in sessions if s[0].bot) == 75  # 1 in 20
    events = [e for c in calls if c.kind == "events" for e in c.events if not str(e["event_id"]).startswith("bad-")]
    ctxs = [e["context"] for e in events]
    assert {c["page_path"] for c in ctxs} >= {
        "/best-laptops",
        "/best-gaming-laptops",
        "/espresso-machines",
        "/grinders",
    }
    assert {c["device_class"] for c in ctxs} == {"desktop", "mobile", "tablet"}
    assert {c["utm"]["source"] for c in ctxs} == {"google", "newsletter", None}
    assert len({c["referrer"] for c in ctxs}) == 4
    actions = {e["action"] for e in events if e["event_type"] == "chart_interaction"}
    assert {"filter", "sort", "expand"} <= actions
    positions = [e["position"] for e in events if e["event_type"] == "product_impression"]
    assert min(positions) == 1
    assert max(positions) == 8
    pages_per_session = Counter(
        sum(1 for c in s if c.kind == "events" for e in c.events if e["event_type"] == "page_view")
        for s in sessions[:300]
    )
    assert set(pages_per_session) == {1, 2, 3}


def test_the_demo_profile_sends_exactly_the_samples_it_was_built_on():
    """The end-to-end tests compute their expectations from samples.generate: the demo's plan must
    send those browser events, one invalid event every 15th session and the repeated click."""
    profile = PROFILES["demo"]
    samples = generate(
        40, seed=5, returning_rate=profile.returning_rate, session_gap_ms=profile.session_gap_ms, click_rate=0.35
    )
    calls = [c for s in Planner(profile, seed=5).sessions(40) for c in s]
    sent = [e for c in calls if c.kind == "events" for e in c.events if not str(e["event_id"]).startswith("bad-")]
    assert sent == [to_wire(s) for s in samples if s.event_type != "conversion"]
    assert sum(sum(c.rejected.values()) for c in calls) == len([i for i in range(40) if i % 15 == 7])
    assert [c.kind for c in calls].count("postback") == sum(1 for s in samples if s.event_type == "conversion")
    assert [c.kind for c in calls][-1] == "repeated_click"


@pytest.mark.engines
def test_generated_traffic_is_answered_as_planned_and_every_record_is_in_kafka(
    local_engines, topics, collector_codec, glue, tmp_path
):
    port = fixed_port(28480)
    settings = {
        "allowed_origins": '["https://site-bestlaptops.example", "https://site-coffeegear.example"]',
        "redirect_domains": '{"amazon.com": {"subid_param": "tag"}, "bestbuy.com": {}, "walmart.com": {}}',
        "redirect_signing_key": SIGNING_KEY,
        "postback_networks": f'{{"impact": {{"secret": "{NETWORK_SECRET}"}}, "amazon": {{"secret": "{NETWORK_SECRET}"}}}}',
    }
    planner = Planner(PROFILES["realistic"], seed=11, keys=KEYS)
    planned = [c for s in Planner(PROFILES["realistic"], seed=11, keys=KEYS).sessions(105) for c in s]
    with collector_process(local_engines, topics, tmp_path, port, **settings) as url:
        report = send(planner.sessions(105), url, concurrency=4)
    assert report.ok, report.mismatches
    assert report.sessions == 105
    assert report.expected_records == expected_records(planned)
    assert set(SEPARATE) <= set(report.calls)
    assert report.statuses["unsigned_redirect 403"] == report.calls["unsigned_redirect"]
    assert report.statuses["forged_postback 403"] == report.calls["forged_postback"]
    assert report.answered_accepted == report.expected_accepted
    assert report.answered_rejected == report.expected_rejected

    by_topic = record_counts(local_engines.kafka_bootstrap, [f"{topics}.events.{t}" for t in report.expected_records])
    assert by_topic == {f"{topics}.events.{t}": n for t, n in report.expected_records.items()}

    clicks = consume(
        local_engines.kafka_bootstrap,
        [f"{topics}.events.affiliate_click"],
        collector_codec,
        expected=report.expected_records["affiliate_click"],
    )
    transports = Counter(r["transport"] for _, _, r, _ in clicks)
    assert transports == {"redirect": report.clicks["redirect"], "fetch_keepalive": report.clicks["in_page"]}
    letters = consume(
        local_engines.kafka_bootstrap,
        [f"{topics}.events.dead_letter"],
        collector_codec,
        expected=report.expected_records["dead_letter"],
    )
    want = Counter()
    for c in planned:
        want.update(c.rejected)
    assert Counter(r["reason"] for _, _, r, _ in letters) == want
