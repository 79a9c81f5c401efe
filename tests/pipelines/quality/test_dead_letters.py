"""Dead-letter monitor on the real collector: a burst of schema failures raises the rate alert."""

from __future__ import annotations

import json
import uuid

import pytest

from pipelines.quality import monitor
from pipelines.quality.config import Locations, load_config

pytestmark = pytest.mark.engines


def sink(loc: Locations) -> list[dict]:
    assert loc.sink_file is not None
    return [json.loads(line) for line in loc.sink_file.read_text().splitlines()] if loc.sink_file.exists() else []


def test_a_schema_failure_burst_raises_a_dead_letter_rate_alert(local_engines, tmp_path):
    from pipelines.contracts.codec import Codec
    from pipelines.contracts.registry import GlueSchemaRegistry, current_versions, glue_client
    from pipelines.contracts.samples import one_of_each
    from tests.pipelines.collector.conftest import make_config, run_collector, sync_namespaced_topics, wire

    ns = f"q{uuid.uuid4().hex[:8]}"
    sync_namespaced_topics(local_engines.kafka_bootstrap, ns)
    registry = GlueSchemaRegistry(glue_client(local_engines.moto_url))
    codec = Codec(registry, current_versions(registry.register_all()))
    good = wire(one_of_each()["page_view"], "page_view")
    batch = [{**good, "event_id": str(uuid.uuid4())} for _ in range(10)]
    batch += [{**good, "event_id": str(uuid.uuid4()), "page_view_id": 42} for _ in range(30)]  # a broken tracer build
    cfg = make_config(
        tmp_path, local_engines.kafka_bootstrap, ns, ledger_redis_url=local_engines.redis_url, ledger_redis_prefix=ns
    )

    async def body(c):
        return (await c.post_events(batch)).json()

    assert run_collector(cfg, codec, body) == {"accepted": 10, "rejected": 30}
    loc = Locations(
        redis_url=local_engines.redis_url,
        kafka_bootstrap=None,
        lake_dir=None,
        warehouse_path=None,
        batch_dir=None,
        state_dir=tmp_path / "state",
        sink_file=tmp_path / "state" / "alerts.jsonl",
        webhook_url=None,
        sns_topics={},
        aws_endpoint=None,
    )
    rules = load_config(overrides={"redis_prefix": ns, "dead_letters": {"max_schema_failures": 20}})
    result = monitor.run_pass(rules, loc)

    assert sorted(f.key for f in result.findings) == ["dead_letters/rate", "dead_letters/schema_violation"]
    rate = next(f for f in result.findings if f.key == "dead_letters/rate")
    assert rate.details["dead"] == 30
    assert rate.details["received"] == 40
    assert "30 of 40 events (75.0%) dead-lettered" in rate.message
    assert [(a["kind"], a["severity"]) for a in sink(loc)] == [("alert", "critical"), ("alert", "critical")]
