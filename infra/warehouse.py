"""Warehouse: the Snowflake account objects (pulumi-snowflake 2.x).

Creates:
* databases ``RAW``, ``TRANSFORMED``, ``REPORTING`` (time-travel retention from config) and
  ``GOVERNANCE`` (PII tags and masking policies), with schemas ``RAW.EVENTS`` and ``GOVERNANCE.POLICIES``;
* warehouses ``LOADING``, ``TRANSFORMING``, ``BI`` (auto-suspend ≤ 60 s, auto-resume, initially
  suspended, multi-cluster from config), each with a resource monitor that notifies and suspends;
* account roles ``LOADER``, ``TRANSFORMER``, ``ANALYST``, ``MARKETING``, ``BI_READER``, ``PII_READER``,
  ``MASKING_ADMIN``, ``MONITOR`` (the quality monitor: read-only RAW and TRANSFORMED) with the hierarchy ``BI_READER → MARKETING, ANALYST``; ``ANALYST → TRANSFORMER``;
  ``PII_READER → TRANSFORMER``; ``LOADER, TRANSFORMER → SYSADMIN``; ``MASKING_ADMIN → SECURITYADMIN``; ``MONITOR → SYSADMIN``,
  and their privileges (BI and marketing see REPORTING only);
* service users (key-pair auth) granted their role; TRANSFORMER also gets ``SNOWFLAKE.GOVERNANCE_VIEWER``
  and CREATE SCHEMA on ``GOVERNANCE`` for the access-audit mart;
* per PII class a tag ``PII_<CLASS>`` carrying one VARCHAR and one VARIANT masking policy that
  unmask only when ``IS_ROLE_IN_SESSION('PII_READER')``;
* the S3 storage integration, its IAM role (trusting the integration's IAM user + external ID) and
  read policy on the lake, an external stage on the enriched bucket, one RAW table per event type
  (from ``infra.contracts.raw_columns``) with its PII columns tagged, an auto-ingest pipe per table,
  and the S3 event notifications that feed the pipes;
* with ``replication.enabled``, a failover group replicating the databases, roles, warehouses and
  integrations to the secondary accounts.

Every object's comment carries the five cost tags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_snowflake as snowflake
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings
from infra.contracts import PII_CLASSES, AvroContract, copy_select, raw_columns
from infra.lake import QUALITY_LEDGER_PREFIX
from infra.tagging import TagsConfig

WarehouseSize = Literal["XSMALL", "SMALL", "MEDIUM", "LARGE", "XLARGE", "XXLARGE"]
ROLES = ("LOADER", "TRANSFORMER", "ANALYST", "MARKETING", "BI_READER", "PII_READER", "MASKING_ADMIN", "MONITOR")
# (child, parent): the child role is granted to the parent role.
ROLE_HIERARCHY = (
    ("BI_READER", "MARKETING"),
    ("BI_READER", "ANALYST"),
    ("ANALYST", "TRANSFORMER"),
    ("PII_READER", "TRANSFORMER"),
    ("LOADER", "SYSADMIN"),
    ("TRANSFORMER", "SYSADMIN"),
    ("MARKETING", "SYSADMIN"),
    ("PII_READER", "SYSADMIN"),
    ("MASKING_ADMIN", "SECURITYADMIN"),
    ("MONITOR", "SYSADMIN"),
)
# TRANSFORMED.QUALITY.LEDGER's columns: (name, type, expression over the Parquet row / file name)
LEDGER_COLUMNS = (
    ("LEDGER_DATE", "DATE", "to_date(split_part(split_part(metadata$filename, 'date=', 2), '/', 1))"),
    ("WINDOW_START", "TIMESTAMP_LTZ", "(value:window_start::timestamp_ltz)"),
    ("MINUTE", "NUMBER", "(value:minute::number)"),
    ("EVENT_TYPE", "VARCHAR", "(value:event_type::varchar)"),
    *(
        (c.upper(), "NUMBER", f"(value:{c}::number)")
        for c in ("received", "accepted", "rejected", "written", "invalid", "duplicate", "late", "bot", "in_flight")
    ),
    ("STATUS", "VARCHAR", "(value:status::varchar)"),
    ("HOP", "VARCHAR", "(value:hop::varchar)"),
    ("COUNTS", "VARIANT", "parse_json(value:counts::varchar)"),
    ("CHECKED_AT", "TIMESTAMP_LTZ", "(value:checked_at::timestamp_ltz)"),
)
STRING_MASKS = {
    "ip_hash": "SHA2(val)",
    "visitor_id": "SHA2(val)",
    "click_id": "SHA2(val)",
    "geo": "NULL",
    "free_text": "'***MASKED***'",
}


class SnowflakeWarehouseConfig(Settings):
    size: WarehouseSize
    auto_suspend_seconds: int = Field(ge=30, le=60)
    min_cluster_count: int = Field(default=1, ge=1, le=10)
    max_cluster_count: int = Field(default=1, ge=1, le=10)
    monthly_credit_quota: int = Field(ge=1)

    @model_validator(mode="after")
    def _clusters(self) -> SnowflakeWarehouseConfig:
        if self.min_cluster_count > self.max_cluster_count:
            raise ValueError("minClusterCount must not exceed maxClusterCount")
        return self


class RetentionConfig(Settings):
    raw: int = Field(ge=0, le=90)
    transformed: int = Field(ge=0, le=90)
    reporting: int = Field(ge=0, le=90)


class ServiceUserConfig(Settings):
    role: Literal["LOADER", "TRANSFORMER", "ANALYST", "BI_READER", "MONITOR"]
    warehouse: Literal["LOADING", "TRANSFORMING", "BI"]
    rsa_public_key: str | None = Field(default=None, pattern=r"^MII[A-Za-z0-9+/=]+$")


class SnowflakeReplicationConfig(Settings):
    enabled: bool = False
    target_accounts: tuple[str, ...] = ()
    interval_minutes: int = Field(default=10, ge=1, le=11520)

    @model_validator(mode="after")
    def _targets(self) -> SnowflakeReplicationConfig:
        for account in self.target_accounts:
            if account.count(".") != 1:
                raise ValueError(f"targetAccounts entry {account!r} must be ORGNAME.ACCOUNTNAME")
        if self.enabled and not self.target_accounts:
            raise ValueError("targetAccounts is required when replication is enabled")
        return self


class WarehouseConfig(Settings):
    organization_name: str = Field(pattern=r"^[A-Z0-9_]+$")
    account_name: str = Field(pattern=r"^[A-Z0-9_]+$")
    deployer_user: str
    deployer_role: str = "ACCOUNTADMIN"
    retention_days: RetentionConfig
    loading: SnowflakeWarehouseConfig
    transforming: SnowflakeWarehouseConfig
    bi: SnowflakeWarehouseConfig
    notify_users: tuple[str, ...] = ()
    notify_at_percent: tuple[int, ...] = (75, 90)
    suspend_at_percent: int = Field(default=100, ge=1)
    suspend_immediately_at_percent: int = Field(default=110, ge=1)
    service_users: dict[str, ServiceUserConfig] = Field(default_factory=dict)
    replication: SnowflakeReplicationConfig = SnowflakeReplicationConfig()


def masking_body(pii_class: str, data_type: str) -> str:
    masked = STRING_MASKS[pii_class] if data_type == "VARCHAR" else "NULL"
    return f"CASE WHEN IS_ROLE_IN_SESSION('PII_READER') THEN val ELSE {masked} END"


def snowflake_provider(name: str, config: WarehouseConfig, private_key: pulumi.Input[str]) -> snowflake.Provider:
    """Key-pair authenticated provider with the preview features this component uses."""
    return snowflake.Provider(
        name,
        organization_name=config.organization_name,
        account_name=config.account_name,
        user=config.deployer_user,
        role=config.deployer_role,
        authenticator="SNOWFLAKE_JWT",
        private_key=private_key,
        preview_features_enabled=[
            "snowflake_table_resource",
            "snowflake_pipe_resource",
            "snowflake_failover_group_resource",
        ],
    )


class Warehouse(PlatformComponent):
    module = "warehouse"

    def __init__(
        self,
        name: str,
        config: WarehouseConfig,
        tags: TagsConfig,
        contracts: Sequence[AvroContract],
        lake_bucket: pulumi.Input[str],
        lake_bucket_arn: pulumi.Input[str],
        lake_kms_key_arn: pulumi.Input[str],
        event_prefix: str,
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        super().__init__(name, opts, protect_stateful)
        self._tags = tags

        def comment(what: str) -> str:
            return tags.snowflake_comment(self.module, what)

        self.databases: dict[str, snowflake.Database] = {}
        retention = {
            "RAW": config.retention_days.raw,
            "TRANSFORMED": config.retention_days.transformed,
            "REPORTING": config.retention_days.reporting,
            "GOVERNANCE": config.retention_days.raw,
        }
        for db, days in retention.items():
            self.databases[db] = snowflake.Database(
                f"{name}-db-{db.lower()}",
                name=db,
                data_retention_time_in_days=days,
                comment=comment(f"{db} layer"),
                opts=self.child(stateful=True),
            )
        events = snowflake.Schema(
            f"{name}-raw-events", database=self.databases["RAW"].name, name="EVENTS", with_managed_access="true",
            comment=comment("Snowpipe-loaded events"), opts=self.child(),
        )  # fmt: skip
        policies_schema = snowflake.Schema(
            f"{name}-governance-policies", database=self.databases["GOVERNANCE"].name, name="POLICIES",
            comment=comment("PII tags and masking policies"), opts=self.child(),
        )  # fmt: skip

        # Warehouses and their resource monitors.
        self.warehouses: dict[str, snowflake.Warehouse] = {}
        for wh, spec in (("LOADING", config.loading), ("TRANSFORMING", config.transforming), ("BI", config.bi)):
            monitor = snowflake.ResourceMonitor(
                f"{name}-monitor-{wh.lower()}",
                name=f"{wh}_MONITOR",
                credit_quota=spec.monthly_credit_quota,
                frequency="MONTHLY",
                notify_triggers=list(config.notify_at_percent),
                suspend_trigger=config.suspend_at_percent,
                suspend_immediate_trigger=config.suspend_immediately_at_percent,
                notify_users=list(config.notify_users) or None,
                opts=self.child(),
            )
            multi = spec.max_cluster_count > 1
            self.warehouses[wh] = snowflake.Warehouse(
                f"{name}-wh-{wh.lower()}",
                name=wh,
                warehouse_size=spec.size,
                auto_suspend=spec.auto_suspend_seconds,
                auto_resume="true",
                initially_suspended=True,
                min_cluster_count=spec.min_cluster_count if multi else None,
                max_cluster_count=spec.max_cluster_count if multi else None,
                scaling_policy="STANDARD" if multi else None,
                resource_monitor=monitor.name,
                comment=comment(f"{wh} warehouse"),
                opts=self.child(),
            )

        # Roles, hierarchy and privileges.
        self.roles: dict[str, snowflake.AccountRole] = {
            role: snowflake.AccountRole(
                f"{name}-role-{role.lower()}", name=role, comment=comment(role), opts=self.child()
            )
            for role in ROLES
        }
        for child, parent in ROLE_HIERARCHY:
            snowflake.GrantAccountRole(
                f"{name}-grant-{child.lower()}-to-{parent.lower()}",
                role_name=self.roles[child].name,
                parent_role_name=self.roles[parent].name if parent in self.roles else parent,
                opts=self.child(),
            )
        self._grant_usage("LOADER", ["RAW"], ["LOADING"])
        self._grant_usage("TRANSFORMER", ["RAW", "TRANSFORMED", "REPORTING"], ["TRANSFORMING"])
        self._grant_usage("ANALYST", ["TRANSFORMED"], ["BI"])
        self._grant_usage("BI_READER", ["REPORTING"], ["BI"])
        # The quality monitor's warehouse hop counts RAW rows and staged rows per receive minute
        # (pipelines/quality/ledger.py): read-only on RAW and TRANSFORMED, PII masked like any reader.
        self._grant_usage("MONITOR", ["RAW", "TRANSFORMED"], ["BI"])
        self._grant_on_database("TRANSFORMER", ["TRANSFORMED", "REPORTING"], ["CREATE SCHEMA"])
        # The access audit (dbt models/governance → GOVERNANCE.AUDIT) reads ACCOUNT_USAGE's access and
        # query history, which the SNOWFLAKE database role GOVERNANCE_VIEWER opens.
        self._grant_on_database("TRANSFORMER", ["GOVERNANCE"], ["USAGE", "CREATE SCHEMA"])
        snowflake.GrantDatabaseRole(
            f"{name}-governance-viewer-to-transformer",
            database_role_name='"SNOWFLAKE"."GOVERNANCE_VIEWER"',
            parent_role_name=self.roles["TRANSFORMER"].name,
            opts=self.child(),
        )
        self._grant_schema_objects("LOADER", "RAW", ["INSERT", "SELECT"], "TABLES")
        self._grant_schema_objects("TRANSFORMER", "RAW", ["SELECT"], "TABLES")
        for role, db in (("ANALYST", "TRANSFORMED"), ("BI_READER", "REPORTING"), ("MONITOR", "TRANSFORMED")):
            self._grant_schemas(role, db)
            for plural in ("TABLES", "VIEWS"):
                self._grant_schema_objects(role, db, ["SELECT"], plural)
        self._grant_schemas("MONITOR", "RAW")
        self._grant_schema_objects("MONITOR", "RAW", ["SELECT"], "TABLES")
        snowflake.GrantPrivilegesToAccountRole(
            f"{name}-masking-admin-account",
            account_role_name=self.roles["MASKING_ADMIN"].name,
            privileges=["APPLY MASKING POLICY", "APPLY TAG"],
            on_account=True,
            opts=self.child(),
        )

        # Service users with key-pair authentication.
        for user, spec in sorted(config.service_users.items()):
            service_user = snowflake.ServiceUser(
                f"{name}-user-{user.lower()}",
                name=user.upper(),
                rsa_public_key=spec.rsa_public_key,
                default_role=spec.role,
                default_warehouse=spec.warehouse,
                comment=comment(f"service user for {spec.role}"),
                opts=self.child(),
            )
            snowflake.GrantAccountRole(
                f"{name}-grant-{spec.role.lower()}-to-{user.lower()}",
                role_name=self.roles[spec.role].name,
                user_name=service_user.name,
                opts=self.child(),
            )

        # PII tags with tag-based masking policies (one per class and data type).
        self.masking_policies: dict[tuple[str, str], snowflake.MaskingPolicy] = {}
        self.pii_tags: dict[str, snowflake.Tag] = {}
        for pii_class in PII_CLASSES:
            names: list[pulumi.Output[str]] = []
            for data_type in ("VARCHAR", "VARIANT"):
                policy = snowflake.MaskingPolicy(
                    f"{name}-mask-{pii_class}-{data_type.lower()}",
                    database=policies_schema.database,
                    schema=policies_schema.name,
                    name=f"MASK_{pii_class.upper()}_{data_type}",
                    arguments=[snowflake.MaskingPolicyArgumentArgs(name="val", type=data_type)],
                    return_data_type=data_type,
                    body=masking_body(pii_class, data_type),
                    comment=comment(f"masks PII class {pii_class}"),
                    opts=self.child(),
                )
                self.masking_policies[(pii_class, data_type)] = policy
                names.append(policy.fully_qualified_name)
            self.pii_tags[pii_class] = snowflake.Tag(
                f"{name}-tag-pii-{pii_class}",
                database=policies_schema.database,
                schema=policies_schema.name,
                name=f"PII_{pii_class.upper()}",
                allowed_values=[pii_class],
                masking_policies=names,
                comment=comment(f"PII class {pii_class} from schemas/*.avsc"),
                opts=self.child(),
            )

        # Storage integration, its IAM role, the stage.
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        role_name = f"{name}-snowflake-{tags.environment}"
        role_arn = pulumi.Output.concat("arn:aws:iam::", account_id, ":role/", role_name)
        base = event_prefix[: event_prefix.split("{", 1)[0].rfind("/") + 1]  # "events/"
        location = pulumi.Output.concat("s3://", lake_bucket, "/", base)
        ledger_location = pulumi.Output.concat("s3://", lake_bucket, "/", QUALITY_LEDGER_PREFIX, "/")
        self.integration = snowflake.StorageIntegrationAws(
            f"{name}-lake",
            name="LAKE",
            enabled=True,
            storage_provider="S3",
            storage_allowed_locations=[location, ledger_location],
            storage_aws_role_arn=role_arn,
            comment=comment("lake read access for Snowpipe"),
            opts=self.child(),
        )
        described = self.integration.describe_outputs.apply(
            lambda d: (d[0].iam_user_arn or "", d[0].external_id or "") if d else ("", "")
        )
        self.integration_role = aws.iam.Role(
            f"{name}-snowflake",
            name=role_name,
            assume_role_policy=described.apply(
                lambda d: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": d[0]},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"sts:ExternalId": d[1]}},
                            }
                        ],
                    }
                )
            ),
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-snowflake",
            role=self.integration_role.id,
            policy=pulumi.Output.all(lake_bucket_arn, lake_kms_key_arn).apply(
                lambda a: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{a[0]}/*"},
                            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": a[0]},
                            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": a[1]},
                        ],
                    }
                )
            ),
            opts=self.child(),
        )  # fmt: skip

        def lake_stage(
            key: str, schema: snowflake.Schema, stage_name: str, url: pulumi.Input[str], what: str
        ) -> snowflake.StageExternalS3:
            """An external stage on the lake bucket through the storage integration."""
            return snowflake.StageExternalS3(
                f"{name}-{key}",
                database=schema.database,
                schema=schema.name,
                name=stage_name,
                url=url,
                storage_integration=self.integration.name,
                comment=comment(what),
                opts=self.child(depends_on=[self.integration_role]),
            )

        stage = lake_stage("lake-stage", events, "LAKE", location, "enriched events in the lake")

        # RAW tables, PII column tags, pipes, S3 notifications.
        self.tables: dict[str, snowflake.Table] = {}
        self.pipes: dict[str, snowflake.Pipe] = {}
        for contract in contracts:
            table_name = contract.event_type.upper()
            columns = raw_columns(contract)
            table = snowflake.Table(
                f"{name}-raw-{contract.event_type}",
                database=events.database,
                schema=events.name,
                name=table_name,
                columns=[
                    snowflake.TableColumnArgs(name=c.name, type=c.snowflake_type, nullable=c.nullable) for c in columns
                ],
                data_retention_time_in_days=config.retention_days.raw,
                change_tracking=True,
                comment=comment(f"RAW {contract.record_name}; retention {contract.retention_days} days"),
                opts=self.child(),
            )
            self.tables[contract.event_type] = table
            for column in columns:
                if column.pii_class is None:
                    continue
                snowflake.TagAssociation(
                    f"{name}-pii-{contract.event_type}-{column.name.lower()}",
                    object_type="COLUMN",
                    object_identifiers=[pulumi.Output.concat(table.fully_qualified_name, '."', column.name, '"')],
                    tag_id=self.pii_tags[column.pii_class].fully_qualified_name,
                    tag_value=column.pii_class,
                    opts=self.child(),
                )
            prefix = event_prefix.format(event_type=contract.event_type).removeprefix(base)
            copy = pulumi.Output.concat(
                "COPY INTO ", table.fully_qualified_name, " (", ", ".join(c.name for c in columns), ") FROM (SELECT ",
                copy_select(columns), " FROM @", stage.fully_qualified_name, "/", prefix,
                ") FILE_FORMAT = (TYPE = PARQUET)",
            )  # fmt: skip
            self.pipes[contract.event_type] = snowflake.Pipe(
                f"{name}-pipe-{contract.event_type}",
                database=events.database,
                schema=events.name,
                name=f"{table_name}_PIPE",
                auto_ingest=True,
                copy_statement=copy,
                comment=comment(f"auto-ingest {contract.event_type}"),
                opts=self.child(),
            )
        # The quality ledger (one Parquet file per hour, rewritten while the hour is checked) as an
        # auto-refreshed external table: analysts and the monitor query the books in Snowflake.
        quality = snowflake.Schema(
            f"{name}-transformed-quality", database=self.databases["TRANSFORMED"].name, name="QUALITY",
            with_managed_access="true", comment=comment("the data-quality ledger (docs/QUALITY.md)"), opts=self.child(),
        )  # fmt: skip
        ledger_stage = lake_stage(
            "ledger-stage", quality, "LEDGER_STAGE", ledger_location, "the quality monitor's hourly ledger files"
        )
        self.ledger = snowflake.ExternalTable(
            f"{name}-quality-ledger",
            database=quality.database,
            schema=quality.name,
            name="LEDGER",
            location=pulumi.Output.concat("@", ledger_stage.fully_qualified_name, "/"),
            file_format="TYPE = PARQUET",
            pattern=".*[.]parquet",
            auto_refresh=True,
            refresh_on_create=True,
            partition_bies=["LEDGER_DATE"],
            columns=[snowflake.ExternalTableColumnArgs(name=n, type=t, as_=expr) for n, t, expr in LEDGER_COLUMNS],
            comment=comment("per receive minute and event type: the ledger's balance (pipelines/quality/store.py)"),
            opts=self.child(),
        )
        for role in ("ANALYST", "MONITOR"):
            self._grant_schema_objects(role, "TRANSFORMED", ["SELECT"], "EXTERNAL TABLES")
        channel = next(iter(sorted(self.pipes.items())))[1].notification_channel  # the account's one SQS queue
        self.notifications = aws.s3.BucketNotification(
            f"{name}-snowpipe",
            bucket=lake_bucket,
            queues=[
                *(
                    aws.s3.BucketNotificationQueueArgs(
                        id=f"snowpipe-{event_type}",
                        queue_arn=pipe.notification_channel,
                        events=["s3:ObjectCreated:*"],
                        filter_prefix=event_prefix.format(event_type=event_type),
                        filter_suffix=".parquet",
                    )
                    for event_type, pipe in sorted(self.pipes.items())
                ),
                aws.s3.BucketNotificationQueueArgs(
                    id="quality-ledger",
                    queue_arn=channel,
                    events=["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    filter_prefix=f"{QUALITY_LEDGER_PREFIX}/",
                    filter_suffix=".parquet",
                ),
            ],
            opts=self.child(),
        )

        if config.replication.enabled:
            snowflake.FailoverGroup(
                f"{name}-failover",
                name="PLATFORM_FAILOVER",
                object_types=["DATABASES", "ROLES", "WAREHOUSES", "INTEGRATIONS", "USERS", "RESOURCE MONITORS"],
                allowed_databases=[self.databases[d].name for d in ("RAW", "TRANSFORMED", "REPORTING", "GOVERNANCE")],
                allowed_integration_types=["STORAGE INTEGRATIONS"],
                allowed_accounts=list(config.replication.target_accounts),
                replication_schedule=snowflake.FailoverGroupReplicationScheduleArgs(
                    interval=config.replication.interval_minutes
                ),
                opts=self.child(),
            )
        self.integration_role_arn = self.integration_role.arn
        self.register_outputs(
            {
                "databases": sorted(self.databases),
                "integration_role_arn": self.integration_role_arn,
                "pipes": sorted(self.pipes),
            }
        )

    def _grant_usage(self, role: str, databases: Sequence[str], warehouses: Sequence[str]) -> None:
        self._grant_on_database(role, databases, ["USAGE"])
        for wh in warehouses:
            snowflake.GrantPrivilegesToAccountRole(
                f"warehouse-{role.lower()}-usage-{wh.lower()}",
                account_role_name=self.roles[role].name,
                privileges=["USAGE"],
                on_account_object=snowflake.GrantPrivilegesToAccountRoleOnAccountObjectArgs(
                    object_type="WAREHOUSE", object_name=self.warehouses[wh].name
                ),
                opts=self.child(),
            )

    def _grant_on_database(self, role: str, databases: Sequence[str], privileges: Sequence[str]) -> None:
        for db in databases:
            key = "-".join(p.lower().replace(" ", "_") for p in privileges)
            snowflake.GrantPrivilegesToAccountRole(
                f"warehouse-{role.lower()}-{key}-{db.lower()}",
                account_role_name=self.roles[role].name,
                privileges=list(privileges),
                on_account_object=snowflake.GrantPrivilegesToAccountRoleOnAccountObjectArgs(
                    object_type="DATABASE", object_name=self.databases[db].name
                ),
                opts=self.child(),
            )

    def _grant_schemas(self, role: str, db: str) -> None:
        for scope in ("all", "future"):
            on_schema = (
                snowflake.GrantPrivilegesToAccountRoleOnSchemaArgs(all_schemas_in_database=self.databases[db].name)
                if scope == "all"
                else snowflake.GrantPrivilegesToAccountRoleOnSchemaArgs(
                    future_schemas_in_database=self.databases[db].name
                )
            )
            snowflake.GrantPrivilegesToAccountRole(
                f"warehouse-{role.lower()}-{scope}-schemas-{db.lower()}",
                account_role_name=self.roles[role].name,
                privileges=["USAGE"],
                on_schema=on_schema,
                opts=self.child(),
            )

    def _grant_schema_objects(self, role: str, db: str, privileges: Sequence[str], plural: str) -> None:
        database = self.databases[db].name
        for scope in ("all", "future"):
            target = (
                snowflake.GrantPrivilegesToAccountRoleOnSchemaObjectArgs(
                    all=snowflake.GrantPrivilegesToAccountRoleOnSchemaObjectAllArgs(
                        object_type_plural=plural, in_database=database
                    )
                )
                if scope == "all"
                else snowflake.GrantPrivilegesToAccountRoleOnSchemaObjectArgs(
                    future=snowflake.GrantPrivilegesToAccountRoleOnSchemaObjectFutureArgs(
                        object_type_plural=plural, in_database=database
                    )
                )
            )
            snowflake.GrantPrivilegesToAccountRole(
                f"warehouse-{role.lower()}-{scope}-{plural.lower()}-{db.lower()}",
                account_role_name=self.roles[role].name,
                privileges=list(privileges),
                on_schema_object=target,
                opts=self.child(),
            )


def role_graph(grants: Sequence[Mapping[str, str]]) -> set[tuple[str, str]]:
    """(child, parent) pairs from recorded GrantAccountRole inputs, for tests and docs."""
    return {(g["roleName"], g["parentRoleName"]) for g in grants if "parentRoleName" in g}
