"""Cost review: the offline estimate, untagged resources, Cost Explorer (moto) and Snowflake credits."""

import datetime as dt
import json
import urllib.request

import duckdb
import pytest

from pipelines.ops import cost

TAGS = {"cost-center": "analytics", "environment": "dev", "owner": "data", "managed-by": "pulumi"}
PROVIDER = "urn:pulumi:dev::affiliate-analytics::pulumi:providers:aws::aws"


def _export(*resources):
    provider = {"urn": PROVIDER, "type": "pulumi:providers:aws", "inputs": {"defaultTags": json.dumps({"tags": TAGS})}}
    return {"version": 3, "deployment": {"resources": [provider, *resources]}}


def _res(typ, name, inputs, tags=None):
    return {
        "urn": f"urn:pulumi:dev::affiliate-analytics::{typ}::{name}",
        "type": typ,
        "inputs": {**inputs, **({"tags": tags} if tags else {})},
        "provider": f"{PROVIDER}::aws-id",
    }


EXPORT = _export(
    _res(
        "aws:msk/cluster:Cluster",
        "kafka-cluster",
        {
            "numberOfBrokerNodes": 2,
            "brokerNodeGroupInfo": {
                "instanceType": "kafka.t3.small",
                "storageInfo": {"ebsStorageInfo": {"volumeSize": 50}},
            },
        },
        {"component": "kafka"},
    ),
    _res(
        "aws:eks/nodeGroup:NodeGroup",
        "kubernetes-general",
        {"instanceTypes": ["t3.large"], "scalingConfig": {"desiredSize": 2}, "capacityType": "SPOT"},
        {"component": "kubernetes"},
    ),
    _res("aws:ec2/natGateway:NatGateway", "network-nat", {}),  # no component tag: reported
    _res(
        "snowflake:index/warehouse:Warehouse",
        "warehouse-wh-transforming",
        {"name": "TRANSFORMING", "warehouseSize": "XSMALL", "resourceMonitor": "TRANSFORMING_MONITOR"},
    ),
    _res(
        "snowflake:index/resourceMonitor:ResourceMonitor",
        "warehouse-monitor-transforming",
        {"name": "TRANSFORMING_MONITOR", "creditQuota": 8},
    ),
    _res(
        "snowflake:index/warehouse:Warehouse",
        "warehouse-wh-bi",
        {"name": "BI", "warehouseSize": "XSMALL", "resourceMonitor": "BI_MONITOR"},
    ),
    _res(
        "snowflake:index/resourceMonitor:ResourceMonitor",
        "warehouse-monitor-bi",
        {"name": "BI_MONITOR", "creditQuota": 3},
    ),
)


def test_estimate_prices_each_resource_from_the_table_and_usage():
    items = {
        (i.resource, i.what): round(i.monthly_usd, 2) for i in cost.estimate(cost.resources_from_export(EXPORT), "dev")
    }
    assert items == {
        ("kafka-cluster", "2 x kafka.t3.small brokers"): round(2 * 730 * 0.0496, 2),
        ("kafka-cluster", "2 x 50 GB broker storage"): 11.0,
        ("kubernetes-general", "2 x t3.large spot"): round(2 * 730 * 0.0912 * 0.35, 2),
        ("network-nat", "NAT gateway (hours)"): round(730 * 0.048, 2),
        # 4 runs/day x 2.5 min = 1/6 h/day x 30 days = 5 credits, under the quota of 8
        (
            "warehouse-wh-transforming",
            "XSMALL, 4 runs/day x 2.5 min billed = 0.17 h/day = 5.0 credits (monitor quota 8)",
        ): 15.0,
        # 4 runs/day x 2 min = 4 credits, but the monitor suspends it at its quota of 3
        (
            "warehouse-wh-bi",
            "XSMALL, 4 runs/day x 2 min billed = 0.13 h/day = 4.0 credits (monitor quota 3, capped)",
        ): 9.0,
        ("s3", "50 GB Standard (tiering lowers this)"): 1.15,
        ("alb", "1 ALB from the ingress controller (hours)"): round(730 * 0.0252, 2),
    }


def test_untagged_resources_are_listed_with_the_missing_tag():
    assert cost.untagged(cost.resources_from_export(EXPORT)) == [
        "aws:ec2/natGateway:NatGateway 'network-nat' lacks cost tag(s) component: set them in the provider's "
        "default tags (stacks/: tagging) or on the resource"
    ]


def test_an_unknown_size_names_the_resource_and_the_price_file():
    bad = _export(
        _res(
            "aws:elasticache/replicationGroup:ReplicationGroup",
            "cache-redis",
            {"nodeType": "cache.x99.huge", "numCacheClusters": 1},
            {"component": "cache"},
        )
    )
    with pytest.raises(KeyError, match=r"'cache-redis': no elasticache price for 'cache.x99.huge' in prices.yaml"):
        cost.estimate(cost.resources_from_export(bad), "dev")


def test_dev_stack_estimate_from_the_program_offline():
    from stacks.inventory import inventory

    resources = cost.resources_from_export(inventory("dev"))
    items = cost.estimate(resources, "dev")
    components = cost.by_component(items)
    assert {"kafka", "kubernetes", "network", "cache", "warehouse"} <= set(components)
    assert cost.untagged(resources) == []
    text = cost.render("dev", items, [], "2026-11-01")
    assert text.startswith("# Monthly estimate: stack dev (prices as of 2026-11-01)")


def test_dev_stack_meets_its_monthly_target_and_prod_keeps_its_size():
    """Issue 8: dev at most half of the ~$466/month AWS's Clickstream solution quotes (AWS + Snowflake)."""
    from stacks.inventory import inventory

    prices = cost.load_prices()
    dev_items = cost.estimate(cost.resources_from_export(inventory("dev")), "dev", prices)
    dev = cost.totals(dev_items)
    assert prices["usage"]["dev"]["target_monthly_usd"] == 233
    assert dev["total"] <= 233, cost.render("dev", dev_items, [], prices["as_of"])
    assert dev["snowflake"] > 0
    assert dev["aws"] > 0
    # the Snowflake figure never exceeds what the resource monitors let dev spend
    quotas = {"LOADING": 2, "TRANSFORMING": 8, "BI": 5}
    warehouses = [i for i in dev_items if i.resource.startswith("warehouse-wh-")]
    assert {i.resource for i in warehouses} == {"warehouse-wh-loading", "warehouse-wh-transforming", "warehouse-wh-bi"}
    assert sum(i.monthly_usd for i in warehouses) <= sum(quotas.values()) * prices["snowflake"]["credit_usd"]
    text = cost.render(
        "dev",
        dev_items,
        [],
        prices["as_of"],
        cost.assumptions("dev", prices),
        prices["usage"]["dev"]["target_monthly_usd"],
    )
    assert f"Target: at most $233/month (AWS + Snowflake): met (${dev['total']:,.2f})." in text
    assert "- Warehouse TRANSFORMING: 4 runs/day x 2.5 min billed = 0.17 h/day (" in text
    prod = cost.totals(cost.estimate(cost.resources_from_export(inventory("prod")), "prod", prices))
    assert prod["total"] > 10 * dev["total"]


@pytest.mark.engines
def test_spend_by_tag_reads_cost_explorer(local_engines):
    import boto3

    results = {
        "results": [
            {
                "ResultsByTime": [
                    {
                        "TimePeriod": {"Start": "2026-10-01", "End": "2026-11-01"},
                        "Total": {},
                        "Groups": [
                            {
                                "Keys": ["component$kafka", "environment$dev"],
                                "Metrics": {"UnblendedCost": {"Amount": "71.5", "Unit": "USD"}},
                            },
                            {
                                "Keys": ["component$", "environment$dev"],
                                "Metrics": {"UnblendedCost": {"Amount": "3.25", "Unit": "USD"}},
                            },
                        ],
                        "Estimated": False,
                    }
                ]
            }
        ]
    }
    req = urllib.request.Request(
        f"{local_engines.moto_url}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps(results).encode(),
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).close()
    ce = boto3.client(
        "ce",
        region_name="us-east-1",
        endpoint_url=local_engines.moto_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    rows = cost.spend_by_tag(ce, dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    assert rows == [
        {"month": "2026-10", "component": "kafka", "environment": "dev", "usd": 71.5},
        {"month": "2026-10", "component": "(untagged)", "environment": "dev", "usd": 3.25},
    ]


def test_snowflake_credits_by_warehouse():
    conn = duckdb.connect()
    conn.execute("attach ':memory:' as snowflake")
    conn.execute("create schema snowflake.account_usage")
    conn.execute(
        "create table snowflake.account_usage.warehouse_metering_history "
        "(warehouse_name varchar, start_time timestamp, credits_used double)"
    )
    conn.execute(
        "insert into snowflake.account_usage.warehouse_metering_history values "
        "('WH_TRANSFORMING', '2026-10-03 01:00', 1.5), ('WH_TRANSFORMING', '2026-10-04 01:00', 2.0), "
        "('WH_BI', '2026-10-05 09:00', 0.25), ('WH_BI', '2026-09-30 09:00', 9.0)"
    )
    assert cost.snowflake_credits(conn, dt.date(2026, 10, 1), dt.date(2026, 11, 1)) == [
        {"warehouse": "WH_TRANSFORMING", "credits": 3.5},
        {"warehouse": "WH_BI", "credits": 0.25},
    ]
