"""Pure rules of the collector, without engines: validation, privacy, journal, links, config."""

import pytest
from fastavro.validation import validate as fastavro_validate

from pipelines.collector import links
from pipelines.collector.config import ConfigError, load_config
from pipelines.collector.journal import Entry, Journal, JournalFullError
from pipelines.collector.privacy import client_ip, hash_ip, request_context, truncate_ip
from pipelines.collector.validate import compile_contracts
from pipelines.contracts.samples import generate, one_of_each
from pipelines.contracts.schemas import load_contracts
from tests.pipelines.collector.conftest import wire

CHECKERS = compile_contracts({t: c.definition for t, c in load_contracts().items() if t != "dead_letter"})


def _check(event_type, record):
    problems = []
    out = CHECKERS[event_type](record, "", problems)
    return out, problems


def test_validator_accepts_every_sample_and_agrees_with_fastavro():
    contracts = load_contracts()
    for s in generate(30, seed=2):
        out, problems = _check(s.event_type, s.record)
        assert problems == []
        assert out == s.record
        assert fastavro_validate(out, contracts[s.event_type].parsed, raise_errors=False, strict=True)


def test_validator_fills_omitted_nullable_fields_and_defaults():
    ev = wire(one_of_each()["page_view"], "page_view")
    ev.pop("event_type")
    ev.pop("navigation_type", None)
    ev["context"].pop("page_title", None)
    ev["context"]["collector_received_at"] = 1  # server-set, added before validation
    out, problems = _check("page_view", ev)
    assert problems == []
    assert out["navigation_type"] == "unknown"
    assert out["context"]["page_title"] is None
    assert out["context"]["ip_hash"] is None


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.update(page_view_id=42), "page_view_id: expected a UUID string, got int"),
        (lambda r: r.update(event_id="not-a-uuid"), "event_id: expected a UUID string"),
        (lambda r: r["context"].update(session_index=2**40), "context.session_index: expected int"),
        (lambda r: r["context"].update(session_index=True), "context.session_index: expected int, got boolean"),
        (lambda r: r["context"]["utm"].update(source=3), "context.utm.source: expected string, got int"),
        (lambda r: r["context"].update(device_class="fridge"), "'fridge' is not a DeviceClass; allowed: desktop"),
        (lambda r: r.update(extra=1), "extra: unknown field"),
        (lambda r: r["context"].pop("site_id"), "context.site_id: required field missing"),
    ],
)
def test_validator_names_the_field_path_of_each_problem(mutate, expected):
    record = one_of_each()["page_view"]
    mutate(record)
    _, problems = _check("page_view", record)
    assert any(expected in p for p in problems), problems


def test_ip_is_truncated_before_hashing():
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:1:2:3::1") == "2001:db8:1::/48"
    assert truncate_ip("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("not an ip") is None
    salt = b"s" * 16
    assert hash_ip("203.0.113.77", salt) == hash_ip("203.0.113.1", salt)
    assert hash_ip("203.0.113.77", salt) != hash_ip("203.0.114.77", salt)
    assert hash_ip("203.0.113.77", salt) != hash_ip("203.0.113.77", b"t" * 16)
    assert len(hash_ip("203.0.113.77", salt) or "") == 64


def test_client_ip_comes_from_the_configured_source_only():
    headers = {"x-forwarded-for": "198.51.100.7, 10.0.0.1", "cloudfront-viewer-address": "[2001:db8::1]:443"}
    assert client_ip(headers, "10.1.1.1", "none") == "10.1.1.1"
    assert client_ip(headers, "10.1.1.1", "x-forwarded-for") == "198.51.100.7"
    assert client_ip(headers, "10.1.1.1", "cloudfront-viewer-address") == "[2001:db8::1]"
    ctx = request_context(
        {**headers, "cloudfront-viewer-country": "DE", "cloudfront-viewer-country-region": "BE"},
        None,
        "cloudfront-viewer-address",
        b"s" * 16,
    )
    assert (ctx.geo_country, ctx.geo_region) == ("DE", "DE-BE")
    assert ctx.ip_hash == hash_ip("2001:db8::1", b"s" * 16)
    assert "2001:db8" not in str(ctx.as_map())


def test_journal_replays_in_order_commits_and_survives_a_torn_tail(tmp_path):
    j = Journal(tmp_path, max_bytes=10_000, segment_bytes=200)
    entries = [Entry("t", f"k{i}".encode() if i % 2 else None, f"value-{i}".encode() * 5) for i in range(20)]
    for e in entries:
        j.append([e])
    read = j.read(max_entries=7)
    assert [e for e, _ in read] == entries[:7]
    j.commit(read[-1][1])
    j.close()
    # a crash in the middle of a write leaves a torn frame at the tail
    last = sorted(tmp_path.glob("seg-*.log"))[-1]
    with last.open("ab") as f:
        f.write(b"\x00\x00\x01\x00garbage")
    j2 = Journal(tmp_path, max_bytes=10_000, segment_bytes=200)
    rest = j2.read(max_entries=100)
    assert [e for e, _ in rest] == entries[7:]
    j2.commit(rest[-1][1])
    assert j2.is_empty()
    assert len(list(tmp_path.glob("seg-*.log"))) == 1
    j2.append([entries[0]])
    assert [e for e, _ in j2.read()] == [entries[0]]


def test_journal_refuses_appends_past_its_cap(tmp_path):
    j = Journal(tmp_path, max_bytes=300)
    j.append([Entry("t", b"k", b"x" * 200)])
    with pytest.raises(JournalFullError, match="cap of 300 bytes"):
        j.append([Entry("t", b"k", b"x" * 200)])
    assert j.pending_bytes < 300


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://amazon.com.evil.example/",
        "https://amazon.com@evil.example/",
        "javascript:alert(1)",
        "//amazon.com/x",
        "https://notamazon.com/",
        "https://amazon.com\\@evil.example/",
    ],
)
def test_redirect_refuses_anything_but_allow_listed_http_destinations(url):
    with pytest.raises(links.RefusedError):
        links.check_destination(url, {"amazon.com": None}, None, None)


def test_redirect_signature_and_subid():
    key = b"k" * 16
    url = "https://smile.amazon.com/dp/X?tag=a"
    assert links.check_destination(url, {"amazon.com": None}, key, links.sign(key, url)) == "amazon.com"
    with pytest.raises(links.RefusedError, match="unsigned"):
        links.check_destination(url, {"amazon.com": None}, key, None)
    assert links.with_subid(url, "ascsubtag", "c1") == "https://smile.amazon.com/dp/X?tag=a&ascsubtag=c1"
    assert links.with_subid(url + "&ascsubtag=old", "ascsubtag", "c1").endswith("tag=a&ascsubtag=c1")


def test_postback_signature_covers_every_parameter():
    params = {"network": "awin", "conversion_id": "1", "amount": "10"}
    signed = {**params, "sig": links.postback_signature(b"s" * 16, params)}
    assert links.verify_postback(signed, {"awin": b"s" * 16}) == "awin"
    with pytest.raises(links.RefusedError):
        links.verify_postback({**signed, "amount": "1000"}, {"awin": b"s" * 16})


def test_config_errors_name_the_key_the_source_and_the_allowed_values(tmp_path):
    base = {"AA_COLLECTOR_IP_SALT": "x" * 16}
    with pytest.raises(ConfigError) as exc:
        load_config({**base, "AA_COLLECTOR_MAX_EVENTS": "0", "AA_COLLECTOR_COMPRESSION": "brotli"})
    msg = str(exc.value)
    assert "AA_COLLECTOR_MAX_EVENTS (environment): Input should be greater than or equal to 1, got '0'" in msg
    assert "AA_COLLECTOR_COMPRESSION (environment): Input should be 'none', 'zstd', 'lz4', 'snappy' or 'gzip'" in msg
    with pytest.raises(ConfigError, match=r"ip_salt .* is required"):
        load_config({})
    f = tmp_path / "collector.yaml"
    f.write_text("max_evnts: 3\npostback_networks: {awin: {secret: short}}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(base, f)
    msg = str(exc.value)
    assert f"max_evnts ({f}): unknown key; allowed keys:" in msg
    assert "postback_networks.awin.secret" in msg
    assert "short" not in msg  # secrets are never echoed
    salt_file = tmp_path / "salt"
    salt_file.write_text("y" * 32 + "\n")
    cfg = load_config({"AA_COLLECTOR_IP_SALT_FILE": str(salt_file), "AA_COLLECTOR_ALLOWED_ORIGINS": '["https://a.b"]'})
    assert cfg.salt() == b"y" * 32
    assert cfg.allowed_origins == ["https://a.b"]


# ---------------------------------------------------------------- fast path vs per-event path


def _ingest():
    import uuid

    from pipelines.collector.ingest import Ingest
    from pipelines.contracts.codec import Codec

    versions = {t: uuid.UUID(int=i + 1) for i, t in enumerate(load_contracts())}
    return Ingest(Codec(None, versions), {t: f"events.{t}" for t in versions})  # type: ignore[arg-type]


def _both(ingest, events):
    import orjson

    from pipelines.collector.privacy import RequestContext

    ctx = RequestContext("ab" * 32, "Mozilla/5.0", "https://x.example", "US", "US-CA", "San Jose")
    body = orjson.dumps({"events": events})
    fast = ingest.fast_events(body, ctx, 1_800_000_000_000, 200)
    slow = ingest.events(orjson.loads(body)["events"], ctx, 1_800_000_000_000)
    return fast, slow


def test_generated_avro_writers_write_what_fastavro_writes():
    import io

    import fastavro

    from pipelines.collector.avro_writer import compile_writer
    from pipelines.contracts.codec import _parse

    contracts = load_contracts()
    writers = {t: compile_writer(c.definition) for t, c in contracts.items()}
    samples = generate(200, seed=4, click_rate=1.0, page_views=(1, 3))
    assert {s.event_type for s in samples} == set(contracts) - {"dead_letter"}
    for s in samples:
        record, problems = _check(s.event_type, s.record)
        assert problems == []
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, _parse(contracts[s.event_type].definition), record)
        assert writers[s.event_type](record) == buf.getvalue(), s.event_type


def test_fast_path_takes_valid_batches_and_agrees_with_the_per_event_path():
    ingest = _ingest()
    events = [wire(s.record, s.event_type) for s in generate(60, seed=8, page_views=(1, 3)) if "context" in s.record]
    for i in range(0, len(events), 10):
        fast, slow = _both(ingest, events[i : i + 10])
        assert fast is not None, "a valid batch must take the fast path"
        assert slow.n_rejected == 0
        assert fast.entries == slow.entries
        assert fast.accepted == slow.accepted
        assert fast.event_ids == slow.event_ids


_MUTATIONS = [
    ("unknown top-level key", lambda e: e.update(extra=1)),
    ("unknown context key", lambda e: e["context"].update(extra="x")),
    ("unknown utm key", lambda e: e["context"]["utm"].update(extra="x")),
    ("string for int", lambda e: e["context"].update(session_index="1")),
    ("bool for int", lambda e: e["context"].update(session_index=True)),
    ("int beyond 32 bits", lambda e: e["context"].update(session_index=2**31)),
    ("long beyond 64 bits", lambda e: e["context"].update(device_created_at=2**64)),
    ("float for long", lambda e: e["context"].update(device_created_at=1.5)),
    ("null for required", lambda e: e["context"].update(site_id=None)),
    ("missing required", lambda e: e["context"].pop("site_id")),
    ("bad uuid", lambda e: e.update(event_id="not-a-uuid")),
    ("bad enum", lambda e: e["context"].update(device_class="fridge")),
    ("conversion from a browser", lambda e: e.update(event_type="conversion")),
    ("unknown type", lambda e: e.update(event_type="page_veiw")),
    ("no type", lambda e: e.pop("event_type")),
    ("server fields sent by the client", lambda e: e["context"].update(ip_hash=5, user_agent={"x": 1})),
    ("omitted nullable", lambda e: e["context"].pop("page_title", None)),
    ("nullable set to null", lambda e: e["context"].update(referrer=None)),
    ("lone surrogate", lambda e: e["context"].update(page_title="\ud800")),
    ("int for double", lambda e: e.update(result_count=3) if "result_count" in e else None),
    (
        "list item of a wrong type",
        lambda e: e.update(visible_product_order=[1]) if "visible_product_order" in e else None,
    ),
    ("map value of a wrong type", lambda e: e["chart_state"]["filters"].update(a=1) if "chart_state" in e else None),
]


@pytest.mark.parametrize(("name", "mutate"), _MUTATIONS, ids=[m[0] for m in _MUTATIONS])
def test_fast_path_never_decides_otherwise_than_the_per_event_path(name, mutate):
    import copy

    ingest = _ingest()
    valid = [wire(r, t) for t, r in one_of_each(seed=3).items() if t != "conversion"]
    for i in range(len(valid)):
        events = copy.deepcopy(valid)
        mutate(events[i])
        try:
            fast, slow = _both(ingest, events)
        except TypeError:  # orjson cannot even write the body (lone surrogate): nothing to compare
            continue
        if slow.n_rejected:
            assert fast is None, f"{name}: the fast path accepted what the per-event path rejects"
        elif fast is not None:
            assert (fast.entries, fast.accepted, fast.event_ids) == (slow.entries, slow.accepted, slow.event_ids)


@pytest.mark.parametrize(
    "raw",
    [
        "203.0.113.77",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "\u0661.2.3.4",  # an Arabic-Indic digit
        " 10.1.2.3 ",
        "[192.0.2.1]",
        "1.2.3.",
        "+1.2.3.4",
        "::ffff:198.51.100.7",
        "2001:db8:1:2::1",
        "nonsense",
        "",
    ],
)
def test_ipv4_fast_path_truncates_exactly_as_ipaddress(raw):
    import ipaddress

    try:
        ip = ipaddress.ip_address(raw.strip().strip("[]"))
    except ValueError:
        want = None
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        want = str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 48}", strict=False))
    assert truncate_ip(raw) == want


def test_generated_long_varints_equal_fastavro_over_the_whole_range():
    import io
    import random

    import fastavro

    from pipelines.collector.avro_writer import _long

    schema = fastavro.parse_schema("long")
    rng = random.Random(5)
    edges = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, -8192, -8193, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
    values = (
        edges + [rng.randint(-(2**63), 2**63 - 1) for _ in range(3000)] + [rng.randint(0, 2**42) for _ in range(3000)]
    )
    for n in values:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, n)
        assert _long(n) == buf.getvalue(), n
