"""Snowflake objects of the whole program, per stack."""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.contracts import PII_CLASSES
from infra.warehouse import ROLE_HIERARCHY, role_graph
from tests.infra.conftest import REPO, Recorder, is_secret, run_program


def test_databases_carry_time_travel_from_config(dev: Recorder, prod: Recorder):
    def retention(r: Recorder) -> dict[str, int]:
        return {
            d.inputs["name"]: d.inputs["dataRetentionTimeInDays"]
            for d in r.of_type("snowflake:index/database:Database")
        }

    assert retention(dev) == {"RAW": 1, "TRANSFORMED": 1, "REPORTING": 1, "GOVERNANCE": 1}
    assert retention(prod) == {"RAW": 30, "TRANSFORMED": 30, "REPORTING": 30, "GOVERNANCE": 30}


def test_warehouses_auto_suspend_within_a_minute_and_bi_is_multi_cluster_in_prod(dev: Recorder, prod: Recorder):
    for r in (dev, prod):
        for wh in r.of_type("snowflake:index/warehouse:Warehouse"):
            assert wh.inputs["autoSuspend"] <= 60
            assert wh.inputs["autoResume"] == "true"
            assert wh.inputs["initiallySuspended"] is True
            assert wh.inputs["resourceMonitor"] == f"{wh.inputs['name']}_MONITOR"
    bi = {w.inputs["name"]: w.inputs for w in prod.of_type("snowflake:index/warehouse:Warehouse")}["BI"]
    assert (bi["minClusterCount"], bi["maxClusterCount"]) == (1, 3)
    dev_bi = {w.inputs["name"]: w.inputs for w in dev.of_type("snowflake:index/warehouse:Warehouse")}["BI"]
    assert "maxClusterCount" not in dev_bi


def test_resource_monitors_notify_then_suspend(prod: Recorder):
    monitors = {m.inputs["name"]: m.inputs for m in prod.of_type("snowflake:index/resourceMonitor:ResourceMonitor")}
    assert set(monitors) == {"LOADING_MONITOR", "TRANSFORMING_MONITOR", "BI_MONITOR"}
    transforming = monitors["TRANSFORMING_MONITOR"]
    assert transforming["creditQuota"] == 300
    assert transforming["notifyTriggers"] == [75, 90]
    assert (transforming["suspendTrigger"], transforming["suspendImmediateTrigger"]) == (100, 110)


def test_prod_warehouses_are_larger_than_dev(dev: Recorder, prod: Recorder):
    order = ["XSMALL", "SMALL", "MEDIUM", "LARGE"]

    def sizes(r: Recorder) -> dict[str, int]:
        return {
            w.inputs["name"]: order.index(w.inputs["warehouseSize"])
            for w in r.of_type("snowflake:index/warehouse:Warehouse")
        }

    d, p = sizes(dev), sizes(prod)
    assert all(p[k] >= d[k] for k in d)
    assert p["TRANSFORMING"] > d["TRANSFORMING"]


def test_role_grants_form_the_intended_hierarchy(stack: Recorder):
    grants = [g.inputs for g in stack.of_type("snowflake:index/grantAccountRole:GrantAccountRole")]
    assert role_graph(grants) == set(ROLE_HIERARCHY)
    users = {(g["roleName"], g["userName"]) for g in grants if "userName" in g}
    assert users == {("TRANSFORMER", "TRANSFORMER_SVC"), ("MONITOR", "MONITOR_SVC"), ("BI_READER", "DASHBOARD_SVC")}


def test_bi_and_marketing_reach_reporting_only(stack: Recorder):
    grants = [
        g.inputs for g in stack.of_type("snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole")
    ]

    def databases(role: str) -> set[str]:
        found = set()
        for g in grants:
            if g["accountRoleName"] != role:
                continue
            target = g.get("onAccountObject") or {}
            if target.get("objectType") == "DATABASE":
                found.add(target["objectName"])
            for key in ("all", "future"):
                scope = (g.get("onSchemaObject") or {}).get(key) or {}
                if scope.get("inDatabase"):
                    found.add(scope["inDatabase"])
        return found

    assert databases("BI_READER") == {"REPORTING"}
    assert databases("MARKETING") == set()  # inherits BI_READER only
    assert databases("ANALYST") == {"TRANSFORMED"}
    assert databases("LOADER") == {"RAW"}
    assert databases("PII_READER") == set()
    assert databases("MONITOR") == {"RAW", "TRANSFORMED"}  # the quality monitor's warehouse hop, read-only
    monitor_privileges = {p for g in grants if g["accountRoleName"] == "MONITOR" for p in g["privileges"]}
    assert monitor_privileges == {"USAGE", "SELECT"}


def test_every_pii_class_has_a_tag_with_masking_policies_unmasked_by_pii_reader(dev: Recorder):
    policies = {p.inputs["name"]: p.inputs for p in dev.of_type("snowflake:index/maskingPolicy:MaskingPolicy")}
    tags = {t.inputs["name"]: t.inputs for t in dev.of_type("snowflake:index/tag:Tag")}
    for pii_class in PII_CLASSES:
        tag = tags[f"PII_{pii_class.upper()}"]
        assert sorted(tag["maskingPolicies"]) == [
            f'"GOVERNANCE"."POLICIES"."MASK_{pii_class.upper()}_VARCHAR"',
            f'"GOVERNANCE"."POLICIES"."MASK_{pii_class.upper()}_VARIANT"',
        ]
        for data_type in ("VARCHAR", "VARIANT"):
            body = policies[f"MASK_{pii_class.upper()}_{data_type}"]["body"]
            assert body.startswith("CASE WHEN IS_ROLE_IN_SESSION('PII_READER') THEN val ELSE ")


def test_pii_columns_of_raw_tables_are_tagged_with_their_class(dev: Recorder):
    associations = {
        a.inputs["objectIdentifiers"][0]: (a.inputs["tagId"], a.inputs["tagValue"])
        for a in dev.of_type("snowflake:index/tagAssociation:TagAssociation")
    }
    assert associations['"RAW"."EVENTS"."PAGE_VIEW"."IP_HASH"'] == ('"GOVERNANCE"."POLICIES"."PII_IP_HASH"', "ip_hash")
    assert associations['"RAW"."EVENTS"."PAGE_VIEW"."VISITOR_ID"'][1] == "visitor_id"
    assert associations['"RAW"."EVENTS"."PAGE_VIEW"."RECORD"'][1] == "free_text"
    assert '"RAW"."EVENTS"."PAGE_VIEW"."SITE_ID"' not in associations


def test_pipes_auto_ingest_from_the_stage_with_s3_notifications(dev: Recorder):
    pipes = {p.inputs["name"]: p.inputs for p in dev.of_type("snowflake:index/pipe:Pipe")}
    page_view = pipes["PAGE_VIEW_PIPE"]
    assert page_view["autoIngest"] is True
    assert page_view["copyStatement"].startswith('COPY INTO "RAW"."EVENTS"."PAGE_VIEW" (EVENT_ID, ')
    # typed columns come from the record the stream keeps as JSON text in the lake row's payload
    assert 'PARSE_JSON($1:"payload"):"context"."session_id"::VARCHAR' in page_view["copyStatement"]
    assert (
        'FROM @"RAW"."EVENTS"."LAKE"/event_type=page_view/) FILE_FORMAT = (TYPE = PARQUET)'
        in page_view["copyStatement"]
    )
    queues = dev.one("aws:s3/bucketNotification:BucketNotification").inputs["queues"]
    assert {q["filterPrefix"] for q in queues} == {
        f"events/event_type={p.removesuffix('_PIPE').lower()}/" for p in pipes
    } | {"quality/ledger/"}
    stage = dev.one("snowflake:index/stageExternalS3:StageExternalS3", "warehouse-lake-stage").inputs
    assert stage["url"] == "s3://lake-enriched-bucket/events/"


def test_the_quality_ledger_is_an_external_table_over_the_monitors_files(dev: Recorder):
    """TRANSFORMED.QUALITY.LEDGER reads exactly the files the quality CronJob writes (its
    AA_QUALITY_LEDGER_URI), has a column per ledger field, refreshes on S3 events, and is readable
    by the analyst and monitor roles."""
    from infra.warehouse import LEDGER_COLUMNS
    from pipelines.quality.store import SCHEMA

    stage = dev.one("snowflake:index/stageExternalS3:StageExternalS3", "warehouse-ledger-stage").inputs
    cron = dev.one("kubernetes:batch/v1:CronJob", "workloads-quality").inputs["spec"]["jobTemplate"]["spec"]
    env = {e["name"]: e.get("value") for e in cron["template"]["spec"]["containers"][0]["env"]}
    assert stage["url"] == env["AA_QUALITY_LEDGER_URI"] + "/"
    integration = dev.one("snowflake:index/storageIntegrationAws:StorageIntegrationAws").inputs
    assert stage["url"] in integration["storageAllowedLocations"]
    table = dev.one("snowflake:index/externalTable:ExternalTable").inputs
    assert (table["database"], table["schema"], table["name"]) == ("TRANSFORMED", "QUALITY", "LEDGER")
    assert table["location"] == '@"TRANSFORMED"."QUALITY"."LEDGER_STAGE"/'
    assert (table["autoRefresh"], table["partitionBies"]) == (True, ["LEDGER_DATE"])
    assert [c["name"].lower() for c in table["columns"]][1:] == SCHEMA.names  # one column per ledger field
    assert [c["name"] for c in table["columns"]] == [n for n, _, _ in LEDGER_COLUMNS]
    queue = next(
        q
        for q in dev.one("aws:s3/bucketNotification:BucketNotification").inputs["queues"]
        if q["id"] == "quality-ledger"
    )
    assert (queue["filterPrefix"], queue["filterSuffix"]) == ("quality/ledger/", ".parquet")
    grants = dev.of_type("snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole")
    readers = {
        g.inputs["accountRoleName"]
        for g in grants
        if (g.inputs.get("onSchemaObject") or {}).get("all", {}).get("objectTypePlural") == "EXTERNAL TABLES"
    }
    assert readers == {"ANALYST", "MONITOR"}


def test_storage_integration_role_trusts_only_the_integration_user_with_external_id(dev: Recorder):
    import json

    role = dev.one("aws:iam/role:Role", "warehouse-snowflake").inputs
    statement = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::999999999999:user/sf-abc"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "EXAMPLEORG_SFCRole=1_abc"}}
    integration = dev.one("snowflake:index/storageIntegrationAws:StorageIntegrationAws").inputs
    assert integration["storageAwsRoleArn"] == "arn:aws:iam::123456789012:role/warehouse-snowflake-dev"


def test_failover_group_only_in_prod(dev: Recorder, prod: Recorder):
    assert dev.of_type("snowflake:index/failoverGroup:FailoverGroup") == []
    group = prod.one("snowflake:index/failoverGroup:FailoverGroup").inputs
    assert group["allowedAccounts"] == ["EXAMPLEORG.ANALYTICS_DR"]
    assert set(group["allowedDatabases"]) == {"RAW", "TRANSFORMED", "REPORTING", "GOVERNANCE"}


def test_snowflake_provider_uses_key_pair_auth_from_a_secret(stack: Recorder):
    provider = stack.one("pulumi:providers:snowflake").inputs
    assert provider["authenticator"] == "SNOWFLAKE_JWT"
    assert is_secret(provider["privateKey"])


def test_snowflake_objects_carry_the_cost_tags_in_comments(dev: Recorder):
    for r in dev.created:
        if r.typ.startswith("snowflake:index/") and "comment" in r.inputs:
            for key in ("cost-center=", "environment=dev", "component=warehouse", "owner=", "managed-by="):
                assert key in r.inputs["comment"], (r.name, r.inputs["comment"])


def test_a_schema_added_to_the_repo_appears_in_registry_raw_tables_and_pipes(tmp_path: Path):
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schemas)
    (schemas / "newsletter_signup.avsc").write_text(
        '{"type": "record", "name": "NewsletterSignup", "retention_days": 90, "fields": ['
        '{"name": "event_id", "type": "string"}, {"name": "email", "type": "string", "pii": "free_text"}]}'
    )
    recorder, _ = run_program(
        "dev",
        {
            "affiliate-analytics:schemasDir": str(schemas),
            "affiliate-analytics:topicsFile": str(schemas / "topics.yaml"),
        },
    )
    assert "newsletter_signup" in {s.inputs["schemaName"] for s in recorder.of_type("aws:glue/schema:Schema")}
    assert "NEWSLETTER_SIGNUP" in {t.inputs["name"] for t in recorder.of_type("snowflake:index/table:Table")}
    assert "NEWSLETTER_SIGNUP_PIPE" in {p.inputs["name"] for p in recorder.of_type("snowflake:index/pipe:Pipe")}
    tagged = {
        a.inputs["objectIdentifiers"][0] for a in recorder.of_type("snowflake:index/tagAssociation:TagAssociation")
    }
    assert '"RAW"."EVENTS"."NEWSLETTER_SIGNUP"."EMAIL"' in tagged
    lifecycle = next(
        r.inputs
        for r in recorder.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if r.name == "lake-enriched"
    )
    rule = next(r for r in lifecycle["rules"] if r["id"] == "tier-newsletter_signup")
    assert rule["expiration"] == {"days": 90}
