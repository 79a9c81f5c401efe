"""Cost review: spend by tag, Snowflake credits by warehouse, untagged resources, monthly estimate.

    python -m pipelines.ops.cost estimate --stack dev [--resources export.json] [--out docs/cost]
    python -m pipelines.ops.cost spend --start 2026-10-01 --end 2026-11-01   # AWS Cost Explorer

``estimate`` prices a resource graph — a ``pulumi stack export`` file, or offline the program run
under mocks (``python -m stacks.inventory <stack>``) — with the dated price table in
``prices.yaml`` plus the per-stack usage assumptions there, and lists resources that lack a cost
tag. ``spend`` groups actual spend by the ``component`` and ``environment`` tags. Both print a
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


def estimate(resources: Iterable[Resource], stack: str, prices: Mapping[str, Any] | None = None) -> list[LineItem]:
    """Monthly cost per resource from sizes in the graph, the price table and the usage assumptions."""
    prices = prices or load_prices()
    hours = float(prices["hours_per_month"])
    usage = prices["usage"][stack]
    items: list[LineItem] = []
    add = items.append
    for r in resources:
        c, t = _component(r), r.type
        if t == "aws:msk/cluster:Cluster":
            n = int(r.props.get("numberOfBrokerNodes", 0))
            size = str(r.get("brokerNodeGroupInfo.instanceType"))
            gb = float(r.get("brokerNodeGroupInfo.storageInfo.ebsStorageInfo.volumeSize", 0))
            add(LineItem(c, r.name, f"{n} x {size} brokers", n * hours * _hourly(prices, "msk", size, r)))
            add(LineItem(c, r.name, f"{n} x {gb:.0f} GB broker storage", n * gb * prices["monthly"]["msk_storage_gb"]))
        elif t == "aws:elasticache/replicationGroup:ReplicationGroup":
            n = int(r.props.get("numCacheClusters") or 1)
            size = str(r.props.get("nodeType"))
            add(LineItem(c, r.name, f"{n} x {size}", n * hours * _hourly(prices, "elasticache", size, r)))
        elif t == "aws:eks/cluster:Cluster":
            add(LineItem(c, r.name, "EKS control plane", hours * prices["hourly"]["eks_cluster"]))
        elif t == "aws:eks/nodeGroup:NodeGroup":
            n = int(r.get("scalingConfig.desiredSize", 0))
            size = str((r.props.get("instanceTypes") or ["?"])[0])
            spot = r.props.get("capacityType") == "SPOT"
            rate = _hourly(prices, "ec2", size, r) * (1 - prices["spot_discount"] if spot else 1)
            add(LineItem(c, r.name, f"{n} x {size}{' spot' if spot else ''}", n * hours * rate))
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
            add(LineItem(c, r.name, "alarm", prices["monthly"]["cloudwatch_alarm"]))
        elif t == "aws:kms/key:Key":
            add(LineItem(c, r.name, "KMS key", prices["monthly"]["kms_key"]))
        elif t == "snowflake:index/warehouse:Warehouse":
            size = str(r.props.get("warehouseSize", "XSMALL")).upper()
            role = next((k for k in usage["warehouse_active_hours_per_day"] if k in r.name.lower()), None)
            active = float(usage["warehouse_active_hours_per_day"].get(role, 1.0)) if role else 1.0
            credits = prices["snowflake"]["credits_per_hour"][size] * active * 30
            add(
                LineItem(
                    "warehouse",
                    r.name,
                    f"{size}, {active:g} h/day active = {credits:.0f} credits",
                    credits * prices["snowflake"]["credit_usd"],
                )
            )
        elif t == "aws:cloudfront/distribution:Distribution":
            reqs = float(usage["https_requests_per_month"])
            add(
                LineItem(
                    c,
                    r.name,
                    f"{reqs / 1e6:,.0f} M HTTPS requests",
                    reqs / 10_000 * prices["monthly"]["cloudfront_per_10k_https"],
                )
            )
    items.append(
        LineItem(
            "lake",
            "s3",
            f"{usage['lake_gb']} GB Standard (tiering lowers this)",
            float(usage["lake_gb"]) * prices["monthly"]["s3_standard_gb"],
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


def render(stack: str, items: list[LineItem], missing: list[str], as_of: str) -> str:
    total = sum(i.monthly_usd for i in items)
    lines = [
        f"# Monthly estimate: stack {stack} (prices as of {as_of})",
        "",
        "| component | monthly USD | share |",
        "|---|---:|---:|",
    ]
    lines += [f"| {c} | {v:,.0f} | {v / total:.0%} |" for c, v in by_component(items).items()]
    lines += [
        f"| **total** | **{total:,.0f}** | |",
        "",
        "| component | resource | what | monthly USD |",
        "|---|---|---|---:|",
    ]
    lines += [
        f"| {i.component} | {i.resource} | {i.what} | {i.monthly_usd:,.2f} |"
        for i in sorted(items, key=lambda i: -i.monthly_usd)
    ]
    lines += ["", f"Resources missing cost tags: {len(missing)}"] + [f"- {m}" for m in missing]
    return "\n".join(lines) + "\n"


def to_csv(items: list[LineItem]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["component", "resource", "what", "monthly_usd"])
    w.writerows([i.component, i.resource, i.what, f"{i.monthly_usd:.2f}"] for i in items)
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
    text = render(args.stack, items, untagged(resources), prices["as_of"])
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.stack}-estimate.md").write_text(text, encoding="utf-8")
        (args.out / f"{args.stack}-estimate.csv").write_text(to_csv(items), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
