"""make load's machinery on a real collector: a few seconds of the 10x peak profile under Locust,
zero errors, and Kafka holds exactly the records the collector acknowledged."""

from __future__ import annotations

import json

import pytest

from pipelines.kafka_io import record_counts
from pipelines.traffic import load
from tests.conftest import fixed_port

from .conftest import NETWORK_SECRET, SIGNING_KEY, collector_process

pytestmark = pytest.mark.engines


def test_peak_profile_under_locust_has_no_errors_and_every_acknowledged_event_is_in_kafka(
    local_engines, topics, glue, tmp_path, monkeypatch
):
    monkeypatch.setenv("AA_TRAFFIC_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("AA_TRAFFIC_NETWORK_SECRETS", json.dumps({"impact": NETWORK_SECRET, "amazon": NETWORK_SECRET}))
    settings = {
        "allowed_origins": '["https://site-bestlaptops.example", "https://site-coffeegear.example"]',
        "redirect_domains": '{"amazon.com": {"subid_param": "tag"}, "bestbuy.com": {}, "walmart.com": {}}',
        "redirect_signing_key": SIGNING_KEY,
        "postback_networks": json.dumps({n: {"secret": NETWORK_SECRET} for n in ("impact", "amazon")}),
    }
    report = tmp_path / "verdict.json"
    with collector_process(local_engines, topics, tmp_path, fixed_port(28490), **settings) as url:
        # p99 is gated by make load (50 ms); here the shared test machine only bounds it loosely
        rc = load.main(
            [
                "--host",
                url,
                "--profile",
                "peak",
                "--duration",
                "6s",
                "--report-file",
                str(report),
                "--max-p99-ms",
                "2000",
            ]
        )
    verdict = json.loads(report.read_text())
    assert rc == 0, verdict
    assert verdict["failures"] == 0
    assert verdict["error_rate"] == 0
    assert verdict["requests"] >= 15  # 20 visitors, a call every ~4.3 s each, for 6 s
    tally = verdict["tally"]
    assert tally["mismatches"] == 0
    assert tally["accepted"]["answered"] == tally["accepted"]["expected"] > 0
    expected = tally["expected_records"]
    counts = record_counts(local_engines.kafka_bootstrap, [f"{topics}.events.{t}" for t in expected])
    assert counts == {f"{topics}.events.{t}": n for t, n in expected.items()}
