"""Cost review: spend by tag, Snowflake credits by warehouse, untagged resources, monthly estimate.

    python -m pipelines.ops.cost estimate --stack dev [--resources export.json] [--out docs/cost]
    python -m pipelines.ops.cost spend --start 2026-10-01 --end 2026-11-01   # AWS Cost Explorer

``estimate`` prices a resource graph — a ``pulumi stack export`` file, or offline the program run
under mocks (``python -m stacks.inventory <stack>``) — with the dated price table in
``prices.yaml`` plus the per-stack usage assumptions there (printed with the report), splits AWS
from Snowflake, checks the stack's monthly target where one is set, and lists resources that lack
a cost tag. ``spend`` groups actual spend by the ``component`` and ``environment`` tags. Both print a
table and can write CSV and markdown for the review meeting.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policies.rules.aws import check_cost_tags
from policies.rules.model import Resource

PRICES = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class LineItem:
    component: str
    resource: str
    what: str
    monthly_usd: float
    cloud: str = "aws"  # "aws" or "snowflake": the report subtotals each


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _urn_key(urn: str) -> tuple[str, str]:
    """(type, name) of a URN, ignoring the parent-type chain (``Stack$pulumi:providers:aws`` → last)."""
    parts = urn.split("::")
    return (parts[-2].rsplit("$", 1)[-1], parts[-1]) if len(parts) >= 2 else ("", urn)


def resources_from_export(doc: Mapping[str, Any]) -> list[Resource]:
    """The resources of a ``pulumi stack export`` document (version 3)."""
    raw = doc.get("deployment", {}).get("resources", [])
    providers = {
        _urn_key(str(r["urn"])): r.get("inputs", {})
        for r in raw
        if str(r.get("type", "")).startswith("pulumi:providers:")
    }
    out = []
    for r in raw:
        provider_key = _urn_key(str(r.get("provider") or "").rsplit("::", 1)[0])
        name = str(r["urn"]).rsplit("::", 1)[-1]
        props = {**r.get("outputs", {}), **r.get("inputs", {})}
        out.append(
            Resource(
                str(r["type"]),
                name,
                str(r["urn"]),
                props,
                providers.get(provider_key, {}),
                bool(r.get("protect", False)),
            )
        )
    return out


def _component(res: Resource) -> str:
    tags = res.props.get("tags")
    if isinstance(tags, Mapping) and tags.get("component"):
        return str(tags["component"])
    return res.name.split("-", 1)[0]


def _hourly(prices: Mapping[str, Any], family: str, size: str, res: Resource) -> float:
    table = prices["hourly"][family]
    if size not in table:
        raise KeyError(
            f"{res.label}: no {family} price for {size!r} in {PRICES.name}; add it (allowed now: "
            f"{', '.join(sorted(table))})"
        )
    return float(table[size])


DAYS = {"MON-FRI": 5, "MON-SAT": 6, "MON-SUN": 7, "1-5": 5, "1-6": 6, "0-6": 7, "*": 7}


def _scheduled_hours_per_week(group: str, resources: list[Resource]) -> float | None:
    """Hours a node group runs per week from its ``<group>-up``/``-down`` scheduled actions (None: always)."""
    found = {
        r.name: str(r.props.get("recurrence", "")) for r in resources if r.type == "aws:autoscaling/schedule:Schedule"
    }
    up, down = found.get(f"{group}-up"), found.get(f"{group}-down")
    if up is None or down is None:
        return None
    (_, up_hour, _, _, days), (_, down_hour, *_) = up.split(), down.split()
    span = (int(down_hour) - int(up_hour)) % 24 or 24
    return float(span * DAYS[days])


def _warehouse_usage(usage: Mapping[str, Any], role: str) -> tuple[float, str]:
    """(active hours per day, how) of one warehouse from the stack's usage assumptions."""
    spec = (usage.get("warehouses") or {}).get(role)
    if spec is None:
        raise KeyError(f"usage: no assumption for warehouse {role!r} in {PRICES.name}; add usage.<stack>.warehouses")
    if "hours_per_day" in spec:
        return float(spec["hours_per_day"]), f"{float(spec['hours_per_day']):g} h/day"
    runs, minutes = float(spec["runs_per_day"]), float(spec["minutes_per_run"])
    return runs * minutes / 60, f"{runs:g} runs/day x {minutes:g} min billed = {runs * minutes / 60:.2f} h/day"


def estimate(resources: Iterable[Resource], stack: str, prices: Mapping[str, Any] | None = None) -> list[LineItem]:
    """Monthly cost per resource from sizes in the graph, the price table and the usage assumptions."""
    prices = prices or load_prices()
    hours = float(prices["hours_per_month"])
    usage = prices["usage"][stack]
    monthly = prices["monthly"]
    snow = prices["snowflake"]
    resources = list(resources)
    templates = {r.name: r for r in resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"}
    quotas = {
        str(r.props.get("name", r.name)): float(r.props["creditQuota"])
        for r in resources
        if r.type == "snowflake:index/resourceMonitor:ResourceMonitor" and r.props.get("creditQuota") is not None
    }
    items: list[LineItem] = []
    add = items.append
    for r in resources:
        c, t = _component(r), r.type
        if t == "aws:msk/cluster:Cluster":
            n = int(r.props.get("numberOfBrokerNodes", 0))
            size = str(r.get("brokerNodeGroupInfo.instanceType"))
            gb = float(r.get("brokerNodeGroupInfo.storageInfo.ebsStorageInfo.volumeSize", 0))
            add(LineItem(c, r.name, f"{n} x {size} brokers", n * hours * _hourly(prices, "msk", size, r)))
            add(LineItem(c, r.name, f"{n} x {gb:.0f} GB broker storage", n * gb * monthly["msk_storage_gb"]))
        elif t == "aws:elasticache/replicationGroup:ReplicationGroup":
            n = int(r.props.get("numCacheClusters") or 1)
            size = str(r.props.get("nodeType"))
            engine = str(r.props.get("engine") or "redis")
            rate = _hourly(prices, "elasticache", size, r) * (
                1 - prices["valkey_discount"] if engine == "valkey" else 1
            )
            add(LineItem(c, r.name, f"{n} x {size} ({engine})", n * hours * rate))
        elif t == "aws:eks/cluster:Cluster":
            add(LineItem(c, r.name, "EKS control plane", hours * prices["hourly"]["eks_cluster"]))
        elif t == "aws:eks/nodeGroup:NodeGroup":
            n = int(r.get("scalingConfig.desiredSize", 0))
            size = str((r.props.get("instanceTypes") or ["?"])[0])
            spot = r.props.get("capacityType") == "SPOT"
            rate = _hourly(prices, "ec2", size, r) * (1 - prices["spot_discount"] if spot else 1)
            weekly = _scheduled_hours_per_week(r.name, resources)
            running = hours if weekly is None else weekly * hours / 168
            when = "" if weekly is None else f", {weekly:g} h/week (office hours)"
            add(LineItem(c, r.name, f"{n} x {size}{' spot' if spot else ''}{when}", n * running * rate))
            template = templates.get(r.name)
            gb = float(template.get("blockDeviceMappings.ebs.volumeSize", 0)) if template else 0.0
            if gb:
                add(LineItem(c, r.name, f"{n} x {gb:.0f} GB gp3 node volumes", n * gb * monthly["ebs_gp3_gb"]))
        elif t == "aws:ec2/instance:Instance":
            size = str(r.props.get("instanceType"))
            gb = float(r.get("rootBlockDevice.volumeSize", 8))
            add(
                LineItem(
                    c,
                    r.name,
                    f"1 x {size} + {gb:.0f} GB gp3",
                    hours * _hourly(prices, "ec2", size, r) + gb * monthly["ebs_gp3_gb"],
                )
            )
        elif t == "aws:ec2/natGateway:NatGateway":
            add(LineItem(c, r.name, "NAT gateway (hours)", hours * prices["hourly"]["nat_gateway"]))
        elif t == "aws:ec2/vpcEndpoint:VpcEndpoint" and r.props.get("vpcEndpointType") == "Interface":
            azs = len(r.props.get("subnetIds") or [])
            add(
                LineItem(
                    c,
                    r.name,
                    f"interface endpoint x {azs} AZ",
                    azs * hours * prices["hourly"]["interface_endpoint_per_az"],
                )
            )
        elif t == "aws:cloudwatch/metricAlarm:MetricAlarm":
            add(LineItem(c, r.name, "alarm", monthly["cloudwatch_alarm"]))
        elif t == "aws:kms/key:Key":
            add(LineItem(c, r.name, "KMS key", monthly["kms_key"]))
        elif t == "aws:cloudtrail/trail:Trail" and r.props.get("advancedEventSelectors"):
            events = float(usage.get("s3_data_events_per_month", 0))
            add(
                LineItem(
                    c,
                    r.name,
                    f"{events / 1e6:,.1f} M S3 data events",
                    events / 100_000 * monthly["cloudtrail_data_events_per_100k"],
                )
            )
        elif t == "snowflake:index/warehouse:Warehouse":
            size = str(r.props.get("warehouseSize", "XSMALL")).upper()
            wh = str(r.props.get("name") or r.name.rsplit("-", 1)[-1]).upper()
            active, how = _warehouse_usage(usage, wh.lower())
            credits = snow["credits_per_hour"][size] * active * float(snow["billing_days_per_month"])
            quota = quotas.get(str(r.props.get("resourceMonitor", "")).strip('"'))
            capped = quota is not None and credits > quota
            what = f"{size}, {how} = {credits:.1f} credits"
            if quota is not None:
                what += f" (monitor quota {quota:g}{', capped' if capped else ''})"
            credits = min(credits, quota) if quota is not None else credits
            add(LineItem("warehouse", r.name, what, credits * snow["credit_usd"], cloud="snowflake"))
    if any(r.type == "snowflake:index/pipe:Pipe" for r in resources):
        gb = float(usage["events_per_second"]) * float(usage["lake_bytes_per_event"]) * 86_400 * 30 / 1e9
        credits = gb * snow["snowpipe_credits_per_gb"]
        add(
            LineItem(
                "warehouse",
                "snowpipe",
                f"{gb:,.0f} GB/month loaded = {credits:.2f} credits",
                credits * snow["credit_usd"],
                cloud="snowflake",
            )
        )
    for r in resources:
        if r.type == "aws:cloudfront/distribution:Distribution":
            reqs = float(usage["https_requests_per_month"])
            add(
                LineItem(
                    _component(r),
                    r.name,
                    f"{reqs / 1e6:,.0f} M HTTPS requests",
                    reqs / 10_000 * monthly["cloudfront_per_10k_https"],
                )
            )
    items.append(
        LineItem(
            "lake",
            "s3",
            f"{usage['lake_gb']} GB Standard (tiering lowers this)",
            float(usage["lake_gb"]) * monthly["s3_standard_gb"],
        )
    )
    items.append(
        LineItem(
            "cdn",
            "alb",
            f"{usage['load_balancers']} ALB from the ingress controller (hours)",
            float(usage["load_balancers"]) * hours * prices["hourly"]["alb"],
        )
    )
    return items


def totals(items: Iterable[LineItem]) -> dict[str, float]:
    """{"aws": ..., "snowflake": ..., "total": ...} in USD per month."""
    out = {"aws": 0.0, "snowflake": 0.0}
    for i in items:
        out[i.cloud] += i.monthly_usd
    out["total"] = out["aws"] + out["snowflake"]
    return out


def assumptions(stack: str, prices: Mapping[str, Any]) -> list[str]:
    """The usage assumptions behind a stack's estimate, one line each (printed with the report)."""
    usage = prices["usage"][stack]
    snow = prices["snowflake"]
    lines = [
        f"Volume: {usage['events_per_second']:,} events/s, {usage['lake_bytes_per_event']} bytes per event in the "
        f"lake; {float(usage['https_requests_per_month']) / 1e6:,.0f} M HTTPS requests/month through the CDN; "
        f"{usage['lake_gb']:,} GB in S3 Standard.",
        f"Snowflake: ${snow['credit_usd']:g}/credit, {snow['billing_days_per_month']} days/month; a warehouse bills "
        "while it runs (60 s minimum per resume, then until it auto-suspends) and never past its resource "
        "monitor's quota.",
    ]
    for role, spec in (usage.get("warehouses") or {}).items():
        _, how = _warehouse_usage(usage, role)
        lines.append(f"Warehouse {role.upper()}: {how} ({spec.get('why', '')}).")
    lines.append(
        f"Not modelled: data transfer, ALB capacity units, public IPv4 addresses, CloudWatch log ingestion, "
        f"Snowflake storage; prices as of {prices['as_of']}, {prices['region']}, on-demand (spot at "
        f"{1 - prices['spot_discount']:.0%} of on-demand)."
    )
    return lines


def by_component(items: Iterable[LineItem]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for i in items:
        totals[i.component] += i.monthly_usd
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def untagged(resources: Iterable[Resource]) -> list[str]:
    return [m for r in resources for m in check_cost_tags(r)]


def spend_by_tag(ce: Any, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Unblended cost per (component, environment) tag from AWS Cost Explorer, per month."""
    rows: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "MONTHLY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "TAG", "Key": "component"}, {"Type": "TAG", "Key": "environment"}],
        }
        if token:
            kwargs["NextPageToken"] = token
        resp = ce.get_cost_and_usage(**kwargs)
        for period in resp.get("ResultsByTime", []):
            for g in period.get("Groups", []):
                component, environment = (k.split("$", 1)[-1] or "(untagged)" for k in g["Keys"])
                cost = g["Metrics"]["UnblendedCost"]
                rows.append(
                    {
                        "month": period["TimePeriod"]["Start"][:7],
                        "component": component,
                        "environment": environment,
                        "usd": round(float(cost["Amount"]), 2),
                    }
                )
        token = resp.get("NextPageToken")
        if not token:
            return rows


def snowflake_credits(conn: Any, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Credits by warehouse from SNOWFLAKE.ACCOUNT_USAGE.WAREHOUSE_METERING_HISTORY (DB-API connection)."""
    cur = conn.cursor()
    cur.execute(
        "select warehouse_name, sum(credits_used) from snowflake.account_usage.warehouse_metering_history "
        f"where start_time >= '{start.isoformat()}' and start_time < '{end.isoformat()}' "  # dates, not input text
        "group by warehouse_name order by 2 desc"
    )
    return [{"warehouse": str(w), "credits": round(float(c), 3)} for w, c in cur.fetchall()]


def render(
    stack: str,
    items: list[LineItem],
    missing: list[str],
    as_of: str,
    notes: Iterable[str] = (),
    target: float | None = None,
) -> str:
    sums = totals(items)
    total = sums["total"]
    lines = [
        f"# Monthly estimate: stack {stack} (prices as of {as_of})",
        "",
        "| component | monthly USD | share |",
        "|---|---:|---:|",
    ]
    lines += [f"| {c} | {v:,.0f} | {v / total:.0%} |" for c, v in by_component(items).items()]
    lines += [
        f"| AWS | {sums['aws']:,.0f} | {sums['aws'] / total:.0%} |",
        f"| Snowflake | {sums['snowflake']:,.0f} | {sums['snowflake'] / total:.0%} |",
        f"| **total** | **{total:,.0f}** | |",
        "",
    ]
    if target is not None:
        verdict = "met" if total <= target else "NOT met"
        lines += [f"Target: at most ${target:,.0f}/month (AWS + Snowflake): {verdict} (${total:,.2f}).", ""]
    notes = list(notes)
    if notes:
        lines += ["Assumptions:", ""] + [f"- {n}" for n in notes] + [""]
    lines += [
        "| component | resource | what | monthly USD |",
        "|---|---|---|---:|",
    ]
    lines += [
        f"| {i.component} | {i.resource} | {i.what} | {i.monthly_usd:,.2f} |"
        for i in sorted(items, key=lambda i: (-round(i.monthly_usd, 2), i.component, i.resource, i.what))
    ]
    lines += ["", f"Resources missing cost tags: {len(missing)}"] + [f"- {m}" for m in missing]
    return "\n".join(lines) + "\n"


def to_csv(items: list[LineItem]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["cloud", "component", "resource", "what", "monthly_usd"])
    rows = sorted(items, key=lambda i: (i.cloud, i.component, i.resource, i.what))  # stable across runs
    w.writerows([i.cloud, i.component, i.resource, i.what, f"{i.monthly_usd:.2f}"] for i in rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ops.cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    est = sub.add_parser("estimate", help="monthly estimate of a stack's resource graph")
    est.add_argument("--stack", choices=["dev", "prod"], required=True)
    est.add_argument("--resources", type=Path, help="pulumi stack export JSON (default: the program under mocks)")
    est.add_argument("--out", type=Path, help="directory for <stack>-estimate.md and .csv")
    sp = sub.add_parser("spend", help="actual spend by component/environment tag (AWS Cost Explorer)")
    sp.add_argument("--start", type=dt.date.fromisoformat, required=True)
    sp.add_argument("--end", type=dt.date.fromisoformat, required=True)
    sp.add_argument("--endpoint-url", default=None)
    args = parser.parse_args(argv)
    if args.command == "spend":
        import boto3

        ce = boto3.client("ce", region_name="us-east-1", endpoint_url=args.endpoint_url)
        rows = spend_by_tag(ce, args.start, args.end)
        print(f"{'month':<8}{'component':<16}{'environment':<12}{'USD':>10}")
        for r in rows:
            print(f"{r['month']:<8}{r['component']:<16}{r['environment']:<12}{r['usd']:>10,.2f}")
        return 0
    if args.resources:
        doc = json.loads(args.resources.read_text(encoding="utf-8"))
    else:
        from stacks.inventory import inventory  # Pulumi is needed only for the offline graph

        doc = inventory(args.stack)
    resources = resources_from_export(doc)
    prices = load_prices()
    items = estimate(resources, args.stack, prices)
    target = prices["usage"][args.stack].get("target_monthly_usd")
    text = render(
        args.stack,
        items,
        untagged(resources),
        prices["as_of"],
        assumptions(args.stack, prices),
        float(target) if target is not None else None,
    )
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.stack}-estimate.md").write_text(text, encoding="utf-8")
        (args.out / f"{args.stack}-estimate.csv").write_text(to_csv(items), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
