"""Fuzzing the service through its HTTP interface: malformed bodies, wrong types, huge and
unicode-heavy payloads. No 5xx, no crash, and every event of a parsed batch is accounted for
(accepted + rejected == sent, and the metrics agree)."""

import asyncio
import uuid

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.collector.service import build
from pipelines.contracts.samples import one_of_each
from tests.pipelines.collector.conftest import Running, make_config, wire

pytestmark = pytest.mark.engines

# any Unicode but lone surrogates, which no JSON encoder (and no browser) can send as UTF-8
UNICODE = st.characters(exclude_categories=("Cs",))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(alphabet=UNICODE, max_size=50),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet=UNICODE, max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
BASE = {t: wire(r, t) for t, r in one_of_each().items() if t != "conversion"}


@st.composite
def mutated_event(draw):
    ev = orjson.loads(orjson.dumps(draw(st.sampled_from(list(BASE.values())))))
    ev["event_id"] = str(uuid.uuid4())
    for _ in range(draw(st.integers(0, 3))):
        target = ev["context"] if isinstance(ev["context"], dict) and draw(st.booleans()) else ev
        key = draw(st.sampled_from([*target.keys(), "extra", "event_type"]))
        target[key] = draw(
            json_values | st.text(alphabet=st.characters(min_codepoint=0x80, exclude_categories=("Cs",)), max_size=300)
        )
    return ev


bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda v: orjson.dumps(v), json_values),
    st.builds(lambda evs: orjson.dumps({"events": evs}), st.lists(mutated_event() | json_values, max_size=12)),
    st.builds(lambda n: orjson.dumps({"events": [{"x": "é" * n}]}), st.integers(1000, 200_000)),
)


def test_fuzzed_bodies_never_cause_a_5xx_and_every_event_is_accounted_for(
    local_engines, collector_codec, topics, tmp_path
):
    cfg = make_config(tmp_path, local_engines.kafka_bootstrap, topics)
    loop = asyncio.new_event_loop()
    app = build(cfg, collector_codec)
    loop.run_until_complete(app.start())
    running = Running(app)
    totals = {"sent": 0, "accounted": 0}

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(bodies)
    def check(body):
        r = loop.run_until_complete(running.client.post("/v1/events", content=body))
        assert r.status_code in (200, 400, 413), (r.status_code, r.text)
        if r.status_code == 200:
            sent = len(orjson.loads(body)["events"])
            doc = r.json()
            assert doc["accepted"] + doc["rejected"] == sent
            totals["sent"] += sent
            totals["accounted"] += doc["accepted"] + doc["rejected"]

    try:
        check()
    finally:
        loop.run_until_complete(running.client.aclose())
        loop.run_until_complete(app.stop())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    metrics = app.metrics.exposition().decode()
    counted = sum(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith(("collector_events_accepted_total", "collector_events_rejected_total"))
    )
    assert totals["sent"] > 0
    # every event of a parsed batch, plus one dead letter per unparseable body
    assert counted >= totals["accounted"]
    assert 'collector_requests_total{route="/v1/events",status="500"}' not in metrics
