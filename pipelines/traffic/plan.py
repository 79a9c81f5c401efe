"""What the traffic generator sends, and what the collector must answer (pure, no I/O).

A plan turns seeded visitor sessions from :mod:`pipelines.contracts.samples` into the HTTP calls a
real site produces: the tracer's batches to ``POST /v1/events`` (page view + the impressions it
saw, then the chart interactions), affiliate clicks either in-page (a keepalive fetch of its own)
or through the signed ``GET /r`` redirect, the networks' signed ``/v1/postback`` for the clicks
that convert, a few crawler sessions, and deliberately invalid events. Each call carries its
expectation (status, events accepted by type, dead letters by reason), so a run can be checked
exactly against the collector's answers and against Kafka.

Times are stamped when a call is rendered (``device_sent_at`` = send time, as the tracer does;
a postback never reports a sale in the future), so a plan can be built ahead and sent later.
"""

from __future__ import annotations

import base64
import itertools
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from pipelines.contracts.samples import MERCHANTS, Sample, generate

# What the collector sets itself; the tracer never sends these.
SERVER_FIELDS = ("collector_received_at", "geo_country", "geo_region", "geo_city", "ip_hash", "user_agent")
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
INVALID_KINDS = (
    "bad_type",  # a product impression whose position is a string: schema_violation
    "unknown_type",  # a misspelt event type: unknown_event_type
    "browser_conversion",  # a conversion sent by a browser: business_rule
    "unparseable",  # a truncated body: 400, one unparseable dead letter
    "unlisted_redirect",  # a redirect to a domain not on the allowlist: 403, nothing recorded
    "unsigned_redirect",  # a redirect without signature (only refused when the collector signs): 403
    "forged_postback",  # a postback whose signature is wrong: 403, nothing recorded
)


def site_origin(site_id: str) -> str:
    return f"https://{site_id}.example"


@dataclass(frozen=True)
class Profile:
    """The shape of the traffic. ``click_rate`` is per page view (CTR); ``bot_every`` /
    ``invalid_every`` pick every n-th session (0 = never); invalid sessions rotate through
    ``invalid_kinds``; ``batching`` is "tracer" (a batch per page view + one for interactions,
    clicks on their own) or "session" (one batch per session, as the first demo did)."""

    name: str
    click_rate: float = 0.08
    page_views: tuple[int, int] = (1, 3)
    returning_rate: float = 0.2
    session_gap_ms: tuple[int, int] = (20_000, 40_000)
    redirect_share: float = 0.5
    bot_every: int = 20
    invalid_every: int = 15
    invalid_kinds: tuple[str, ...] = INVALID_KINDS
    batching: str = "tracer"
    repeat_first_click: bool = False  # send the first click once more through /r (a duplicate downstream)

    def __post_init__(self) -> None:
        unknown = set(self.invalid_kinds) - set(INVALID_KINDS)
        if unknown:
            raise ValueError(f"invalid_kinds: unknown {sorted(unknown)}; allowed: {', '.join(INVALID_KINDS)}")
        if self.batching not in ("tracer", "session"):
            raise ValueError(f"batching: {self.batching!r}; allowed: tracer, session")


PROFILES: dict[str, Profile] = {
    # a comparison site: 1-3 pages per visit, CTR 8 % of page views, half the clicks through /r
    "realistic": Profile("realistic"),
    # make demo: one page per session and a high click rate, so a few hundred sessions give the
    # marts conversions to attribute; bots every 10th session, a broken tracer build every 15th
    "demo": Profile(
        "demo",
        click_rate=0.35,
        page_views=(1, 1),
        returning_rate=0.4,
        session_gap_ms=(30_000, 60_000),
        redirect_share=0.0,
        bot_every=10,
        invalid_every=15,
        invalid_kinds=("bad_type",),
        batching="session",
        repeat_first_click=True,
    ),
}


@dataclass(frozen=True)
class Keys:
    """Secrets the site and the networks share with the collector (None: links are not signed)."""

    signing_key: bytes | None = None
    network_secrets: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class Call:
    """One HTTP call and what the collector must answer to it."""

    kind: str  # events | redirect | postback, or an invalid kind sent on its own
    method: str
    path: str
    session: int
    headers: dict[str, str]
    status: int  # expected
    accepted: Counter[str] = field(default_factory=Counter)  # event type → records on its topic
    rejected: Counter[str] = field(default_factory=Counter)  # reason → dead letters
    bot: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)  # wire events (body or the redirect's e)
    params: dict[str, str] = field(default_factory=dict)  # query of /r, /v1/postback
    raw_body: bytes | None = None  # sent as is (the unparseable body)
    keys: Keys | None = None

    def render(self, now_ms: int) -> tuple[str, bytes | None]:
        """Path with query and body, stamped now."""
        if self.raw_body is not None:
            return self.path, self.raw_body
        if self.path == "/v1/events":
            events = [_stamp(e, now_ms) for e in self.events]
            return self.path, orjson.dumps({"events": events})
        params = dict(self.params)
        if self.path == "/r" and self.events:
            params["e"] = base64.urlsafe_b64encode(orjson.dumps(_stamp(self.events[0], now_ms))).decode().rstrip("=")
        if self.path == "/v1/postback" and "occurred_at" in params:
            params["occurred_at"] = str(min(int(params["occurred_at"]), now_ms - 1000))
            secret = (self.keys.network_secrets.get(params["network"]) if self.keys else None) or b""
            if params.pop("sig", None) != "forged":
                from pipelines.collector.links import postback_signature

                params["sig"] = postback_signature(secret, params)
            else:
                params["sig"] = "0" * 64
        return f"{self.path}?{urlencode(params)}", None

    @property
    def n_events(self) -> int:
        return len(self.events) if self.kind in ("events", "redirect") else (1 if self.kind == "postback" else 0)


def _stamp(event: dict[str, Any], now_ms: int) -> dict[str, Any]:
    ctx = event.get("context")
    if isinstance(ctx, dict) and "device_sent_at" in ctx:
        return {**event, "context": {**ctx, "device_sent_at": now_ms}}
    return event


def to_wire(sample: Sample, sent_at_ms: int | None = None) -> dict[str, Any]:
    """A sample event as the tracer sends it: no server-set context fields, plus event_type.

    ``device_sent_at`` is the send time, as the tracer stamps it: the pipeline dates events by
    collector receive time corrected for the device clock (received - (sent - created)), so
    history replayed now keeps its original times."""
    record = dict(sample.record)
    context = {k: v for k, v in record["context"].items() if k not in SERVER_FIELDS}
    if sent_at_ms is not None:
        context["device_sent_at"] = sent_at_ms
    record["context"] = context
    return {"event_type": sample.event_type, **record}


def _headers(first: Sample, ua: str, ip: str, origin: str | None) -> dict[str, str]:
    ctx = first.record["context"]
    region = str(ctx["geo_region"] or "")
    return {
        "Content-Type": "text/plain;charset=UTF-8",
        "Origin": origin or site_origin(str(ctx["site_id"])),
        "User-Agent": ua,
        "CloudFront-Viewer-Country": str(ctx["geo_country"]),
        "CloudFront-Viewer-Country-Region": region.split("-", 1)[-1],
        "CloudFront-Viewer-City": str(ctx["geo_city"]),
        "X-Forwarded-For": ip,
    }


class Planner:
    """Builds the calls of a profile, session by session; :meth:`sessions` is lazy and endless
    when ``n_sessions`` is None (load tests)."""

    def __init__(
        self,
        profile: Profile,
        *,
        seed: int = 7,
        start_ms: int = 1_795_000_000_000,
        keys: Keys | None = None,
        origin: str | None = None,
    ) -> None:
        self.profile, self.seed, self.start_ms = profile, seed, start_ms
        self.keys = keys or Keys()
        self.origin = origin
        self._first_click: dict[str, Any] | None = None
        self._first_click_headers: dict[str, str] | None = None

    def samples(self, n_sessions: int) -> list[list[Sample]]:
        """The sessions' samples, grouped by session (a conversion stays with its click's session)."""
        p = self.profile
        out: list[list[Sample]] = []
        for s in generate(
            n_sessions,
            seed=self.seed,
            start_ms=self.start_ms,
            click_rate=p.click_rate,
            returning_rate=p.returning_rate,
            session_gap_ms=p.session_gap_ms,
            page_views=p.page_views,
        ):
            if s.event_type == "page_view" and (not out or _session_of(s) != _session_of(out[-1][0])):
                out.append([])
            out[-1].append(s)
        return out

    def sessions(self, n_sessions: int | None, *, first_index: int = 0) -> Iterator[list[Call]]:
        """Calls session by session; ``first_index`` shifts the session numbers that pick crawlers
        and invalid calls (a load test's visitors each start elsewhere, so short runs see them too)."""
        if n_sessions is not None:
            groups: Iterator[list[Sample]] = iter(self.samples(n_sessions))
        else:
            groups = self._endless()
        for i, group in enumerate(groups, start=first_index):
            yield self.session_calls(i, group)
        if n_sessions is not None and self.profile.repeat_first_click and self._first_click is not None:
            assert self._first_click_headers is not None
            repeat = self._redirect(n_sessions, self._first_click, self._first_click_headers, bot=False)
            repeat.kind = "repeated_click"  # the same click id and event id again: a duplicate downstream
            yield [repeat]

    def _endless(self) -> Iterator[list[Sample]]:
        for chunk in itertools.count():  # blocks of 4 sessions (cheap to plan while a load test runs)
            sub = Planner(self.profile, seed=self.seed * 1_000_003 + chunk, start_ms=self.start_ms)
            yield from sub.samples(4)

    def session_calls(self, i: int, group: list[Sample]) -> list[Call]:
        p = self.profile
        rng = random.Random(f"{self.seed}:{i}")  # decorations: separate from the samples' stream
        browser = [s for s in group if s.event_type != "conversion"]
        bot = bool(p.bot_every) and i % p.bot_every == p.bot_every - 1
        ua = (
            BOT_USER_AGENTS[i // max(p.bot_every, 1) % len(BOT_USER_AGENTS)]
            if bot
            else str(browser[0].record["context"]["user_agent"])
        )
        ip = f"198.51.{rng.randrange(100, 120)}.{rng.randrange(1, 255)}"
        headers = _headers(browser[0], ua, ip, self.origin)
        invalid = (
            p.invalid_kinds[(i // p.invalid_every) % len(p.invalid_kinds)]
            if p.invalid_every and p.invalid_kinds and i % p.invalid_every == 7 % p.invalid_every
            else None
        )
        calls: list[Call] = []
        # which clicks go through the redirect
        wire = [to_wire(s) for s in browser]
        via_redirect = [s.event_type == "affiliate_click" and rng.random() < p.redirect_share for s in browser]
        if p.batching == "session":
            batches = [[w for w, r in zip(wire, via_redirect, strict=True) if not r]]
        else:
            batches, current = [], []
            for w, r in zip(wire, via_redirect, strict=True):
                et = w["event_type"]
                if et == "page_view" and current:
                    batches.append(current)
                    current = []
                if et == "affiliate_click":
                    if current:
                        batches.append(current)
                        current = []
                    if not r:
                        batches.append([w])  # an in-page click is sent at once (keepalive fetch)
                    continue
                if et == "chart_interaction" and current and current[-1]["event_type"] != "chart_interaction":
                    batches.append(current)
                    current = []
                current.append(w)
            if current:
                batches.append(current)
        for batch in batches:
            if batch:
                calls.append(self._events(i, batch, headers, bot))
        for w, r in zip(wire, via_redirect, strict=True):
            if r:
                calls.append(self._redirect(i, w, headers, bot=bot))
            if w["event_type"] == "affiliate_click" and self._first_click is None and not bot:
                self._first_click, self._first_click_headers = w, headers
        if invalid is not None:
            self._invalid(invalid, i, wire, headers, calls)
        for conv in (s for s in group if s.event_type == "conversion"):
            calls.append(self._postback(i, conv))
        return calls

    # ------------------------------------------------------------ calls

    def _events(self, i: int, batch: list[dict[str, Any]], headers: dict[str, str], bot: bool) -> Call:
        call = Call("events", "POST", "/v1/events", i, headers, 200, bot=bot, events=list(batch))
        call.accepted.update(e["event_type"] for e in batch)
        return call

    def _redirect(self, i: int, click: dict[str, Any], headers: dict[str, str], *, bot: bool) -> Call:
        domain = MERCHANTS[str(click["merchant"])]
        url = f"https://www.{domain}/dp/{click['product_id']}?ref=aa"
        params = {"u": url}
        if self.keys.signing_key is not None:
            from pipelines.collector.links import sign

            params["s"] = sign(self.keys.signing_key, url)
        nav = {k: v for k, v in headers.items() if k not in ("Content-Type", "Origin")}
        call = Call("redirect", "GET", "/r", i, nav, 302, bot=bot, events=[click], params=params)
        call.accepted["affiliate_click"] += 1
        return call

    def _postback(self, i: int, conv: Sample) -> Call:
        r = conv.record
        params = {
            "network": str(r["network"]),
            "conversion_id": str(r["network_conversion_id"]),
            "click_id": str(r["click_id"]),
            "merchant": str(r["merchant"]),
            "amount": str(r["sale_amount"]),
            "commission": str(r["commission_amount"]),
            "currency": str(r["currency"]),
            "status": str(r["status"]),
            "occurred_at": str(r["occurred_at"]),
        }
        headers = {"User-Agent": "network-postback/1.0"}
        call = Call("postback", "GET", "/v1/postback", i, headers, 200, params=params, keys=self.keys)
        call.accepted["conversion"] += 1
        return call

    def _invalid(
        self, kind: str, i: int, wire: list[dict[str, Any]], headers: dict[str, str], calls: list[Call]
    ) -> None:
        base = wire[-1]
        events_call = next((c for c in calls if c.kind == "events"), None)

        def add_to_batch(event: dict[str, Any], reason: str) -> None:
            nonlocal events_call
            if events_call is None:
                events_call = Call("events", "POST", "/v1/events", i, headers, 200)
                calls.append(events_call)
            events_call.events.append(event)
            events_call.rejected[reason] += 1

        if kind == "bad_type":  # a broken tracer build: a position that is not a number
            add_to_batch(
                {**base, "event_id": f"bad-{i}", "event_type": "product_impression", "position": "first"},
                "schema_violation",
            )
        elif kind == "unknown_type":
            add_to_batch({**base, "event_id": f"bad-{i}", "event_type": "page_veiw"}, "unknown_event_type")
        elif kind == "browser_conversion":
            add_to_batch({"event_type": "conversion", "event_id": f"bad-{i}", "network": "x"}, "business_rule")
        elif kind == "unparseable":
            call = Call("unparseable", "POST", "/v1/events", i, headers, 400, raw_body=b'{"events": [{"event_ty')
            call.rejected["unparseable"] += 1
            calls.append(call)
        elif kind in ("unlisted_redirect", "unsigned_redirect"):
            nav = {k: v for k, v in headers.items() if k not in ("Content-Type", "Origin")}
            click = {**base, "event_type": "affiliate_click"}
            e = base64.urlsafe_b64encode(orjson.dumps(click)).decode().rstrip("=")
            if kind == "unlisted_redirect" or self.keys.signing_key is None:
                params = {"u": "https://phishing.example/login", "e": e}  # never an open redirect
            else:
                params = {"u": "https://www.amazon.com/dp/X?ref=aa", "e": e}  # no signature
            calls.append(Call(kind, "GET", "/r", i, nav, 403, params=params))
        elif kind == "forged_postback":
            params = {
                "network": next(iter(self.keys.network_secrets), "impact"),
                "conversion_id": f"forged-{i}",
                "click_id": "00000000-0000-4000-8000-000000000000",
                "merchant": "amazon",
                "amount": "999.0",
                "commission": "99.0",
                "currency": "USD",
                "status": "approved",
                "occurred_at": str(self.start_ms),
                "sig": "forged",
            }
            calls.append(Call(kind, "GET", "/v1/postback", i, {"User-Agent": "x"}, 403, params=params, keys=self.keys))


def _session_of(s: Sample) -> str:
    return str(s.record["context"]["session_id"])


def expected_records(calls: list[Call]) -> Counter[str]:
    """Records each topic must hold after these calls were answered as expected (by event type;
    ``dead_letter`` for the dead letters)."""
    out: Counter[str] = Counter()
    for c in calls:
        out.update(c.accepted)
        out["dead_letter"] += sum(c.rejected.values())
    return +out
