"""The segmentation engine: rule validation with named errors, evaluation, profiles, hot reload, API."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request

import pytest

from pipelines.segmentation.api import handle, make_server
from pipelines.segmentation.engine import (
    RulesError,
    RulesWatcher,
    Segmenter,
    default_rules_file,
    load_profiles,
    load_rules,
    parse_rules,
)

CLICK = {
    "event_type": "affiliate_click",
    "event": {"position": 2, "context": {"session_index": 1, "utm": {"campaign": "spring-deals"}}},
    "enrich": {"channel": "paid_search", "device_type": "mobile"},
}


def test_the_shipped_rules_file_is_valid_and_names_the_business_segments():
    rules = load_rules(default_rules_file())
    assert [r.name for r in rules.rules] == ["deal_seeker", "researcher", "bouncer", "returning_visitor", "high_intent"]


def test_event_rules_evaluate_payload_enrichment_and_profile():
    rules = load_rules(default_rules_file())
    assert rules.evaluate(CLICK) == ["deal_seeker", "high_intent"]
    far = {**CLICK, "event": {**CLICK["event"], "position": 7, "context": {"session_index": 1, "utm": {}}}}
    assert rules.evaluate(far) == []
    assert rules.evaluate({**far, "profile": {"lifetime_orders": 2}}) == ["returning_visitor"]


def test_session_rules_use_session_counters():
    rules = load_rules(default_rules_file())
    assert rules.evaluate({"session": {"chart_interactions": 4, "events": 9, "page_views": 1}}, "session") == [
        "researcher"
    ]
    assert rules.evaluate({"session": {"events": 1, "page_views": 1}}, "session") == ["bouncer"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\nrules: []", "rules: required, a non-empty list"),
        ("rules: [{name: a, when: {field: event_type, op: eq, value: x}}]", "version: required"),
        (
            "version: 1\nrules:\n  - {name: Bad-Name, when: {field: event_type, op: eq, value: x}}",
            "rules[0] (Bad-Name).name",
        ),
        (
            "version: 1\nrules:\n  - {name: a, when: {field: event_type, op: eq, value: x}}\n"
            "  - {name: a, when: {field: event_type, op: eq, value: y}}",
            "rules[1] (a).name: duplicate rule name 'a'",
        ),
        (
            "version: 1\nrules:\n  - {name: a, when: {field: event_type, op: like, value: x}}",
            "rules[0] (a).when.op: 'like'",
        ),
        (
            "version: 1\nrules:\n  - {name: a, when: {field: user.age, op: eq, value: 1}}",
            "rules[0] (a).when.field: 'user.age'",
        ),
        (
            "version: 1\nrules:\n  - {name: a, when: {field: session.clicks, op: gte, value: 1}}",
            "rules[0] (a).when.field: 'session.clicks' needs scope: session",
        ),
        (
            "version: 1\nrules:\n  - {name: a, scope: session, when: {field: session.taps, op: gte, value: 1}}",
            "'session.taps' is not a session counter",
        ),
        (
            "version: 1\nrules:\n  - {name: a, when: {all: [{field: event.position, op: lte, value: three}]}}",
            "rules[0] (a).when.all[0].value: operator 'lte' needs a number",
        ),
        (
            "version: 1\nrules:\n  - {name: a, when: {field: event_type, op: in, value: x}}",
            "operator 'in' needs a list",
        ),
        ("version: 1\nrules:\n  - {name: a, when: {field: event_type, op: matches, value: '('}}", "invalid regular"),
        ("version: 1\nrules:\n  - {name: a, scope: visitor, when: {field: event_type, op: eq, value: x}}", "scope"),
        ("version: 1\nrules:\n  - {name: a, colour: red, when: {field: event_type, op: eq, value: x}}", "colour"),
        ("version: 1\nrules:\n  - {name: a}", "rules[0] (a).when: required"),
        ("version: [", "not valid YAML"),
    ],
)
def test_invalid_rules_are_rejected_with_errors_naming_rule_and_field(text, problem):
    with pytest.raises(RulesError) as info:
        parse_rules(text, "rules.yaml")
    assert any(problem in p for p in info.value.problems), info.value.problems
    assert str(info.value).startswith("rules.yaml: invalid segmentation rules")


def test_profiles_load_from_json_lines_and_csv(tmp_path):
    jl = tmp_path / "profiles.jsonl"
    jl.write_text('{"visitor_id": "v1", "lifetime_orders": 3}\n')
    csv = tmp_path / "profiles.csv"
    csv.write_text("visitor_id,lifetime_orders\nv2,0\n")
    assert load_profiles(jl) == {"v1": {"visitor_id": "v1", "lifetime_orders": 3}}
    assert load_profiles(csv)["v2"]["lifetime_orders"] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match="row 1 has no visitor_id"):
        load_profiles(bad)


def test_segmenter_joins_the_profile_by_visitor_and_adds_session_segments(tmp_path):
    rules = parse_rules(
        "version: 1\nrules:\n  - {name: vip, when: {field: profile.lifetime_orders, op: gte, value: 3}}\n"
        "  - {name: mobile, when: {field: enrich.device_type, op: eq, value: mobile}}"
    )
    seg = Segmenter(rules, {"v1": {"lifetime_orders": 5}}, {"s1": ("researcher",)})
    row = {"event_type": "page_view", "visitor_id": "v1", "session_id": "s1", "device_type": "mobile"}
    assert seg.segments_for_row(row) == ["vip", "mobile", "researcher"]
    assert seg.segments_for_row({**row, "visitor_id": "v2", "session_id": "s2"}) == ["mobile"]


def test_watcher_reloads_a_changed_file_and_keeps_the_last_good_rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules:\n  - {name: a, when: {field: event_type, op: eq, value: page_view}}\n")
    watcher = RulesWatcher(path)
    assert watcher.current().rules.version == 1
    path.write_text("version: 2\nrules:\n  - {name: b, when: {field: event_type, op: eq, value: affiliate_click}}\n")
    os.utime(path, (1, 1))  # a distinct mtime even within the filesystem's timestamp resolution
    assert [r.name for r in watcher.current().rules.rules] == ["b"]
    path.write_text("version: 3\nrules: nope\n")
    os.utime(path, (2, 2))
    assert watcher.current().rules.version == 2
    assert watcher.last_error is not None
    assert "rules: required, a non-empty list" in watcher.last_error


def test_api_lists_validates_and_evaluates(tmp_path):
    watcher = RulesWatcher(default_rules_file())
    status, doc = handle(watcher, "GET", "/rules", b"")
    assert status == 200
    assert doc["version"] == 1
    assert len(doc["rules"]) == 5
    status, doc = handle(watcher, "POST", "/rules/validate", b"version: 1\nrules:\n  - {name: a}\n")
    assert (status, doc["valid"]) == (422, False)
    assert doc["problems"] == ["rules[0] (a).when: required"]
    status, doc = handle(watcher, "POST", "/evaluate", json.dumps({"samples": [CLICK, {}]}).encode())
    assert status == 200
    assert doc["segments"] == [["deal_seeker", "high_intent"], []]
    assert handle(watcher, "POST", "/evaluate", b"[1]")[0] == 400
    assert handle(watcher, "GET", "/nope", b"")[0] == 404


def test_api_serves_over_http():
    server = make_server(RulesWatcher(default_rules_file()), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(f"{base}/rules", timeout=5) as resp:
            assert json.load(resp)["rules"][0]["name"] == "deal_seeker"
        req = urllib.request.Request(f"{base}/rules/validate", data=b"version: 0\nrules: []", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 422
    finally:
        server.shutdown()
        server.server_close()
