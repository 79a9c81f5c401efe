"""The composition of one stack: config in, components wired together, outputs exported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.artifacts import Artifacts
from infra.cache import Cache
from infra.catalog import Catalog, recipes
from infra.cdn import Cdn
from infra.contracts import AvroContract, TopicMap, load_schemas, load_topics
from infra.kafka import Kafka
from infra.kubernetes import Kubernetes, policy_document
from infra.lake import Lake
from infra.network import Network
from infra.observability import Observability, Targets
from infra.registry import Registry
from infra.state import State
from infra.streaming import LAKE_EVENTS_PREFIX, Streaming
from infra.tagging import Tagging, aws_provider, register_component_tags
from infra.warehouse import Warehouse, snowflake_provider
from infra.workloads import NAMESPACE, WorkloadInputs, Workloads
from stacks.config import PROJECT, StackConfig, parse, secrets_from_pulumi, stack_file, values_from_pulumi

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Contracts:
    schemas: tuple[AvroContract, ...]
    topics: TopicMap


def load_contracts(config: StackConfig, root: Path = REPO_ROOT) -> Contracts:
    return Contracts(
        schemas=load_schemas(root / config.schemas_dir),
        topics=load_topics(root / config.topics_file),
    )


@dataclass
class Platform:
    """The components of one stack, for tests and for the exported outputs."""

    network: Network
    lake: Lake
    kafka: Kafka
    registry: Registry
    cache: Cache
    artifacts: Artifacts
    kubernetes: Kubernetes
    workloads: Workloads
    streaming: Streaming
    observability: Observability
    warehouse: Warehouse
    cdn: Cdn
    state: State

    def outputs(self) -> dict[str, pulumi.Input[object]]:
        return {
            "vpcId": self.network.vpc_id,
            "privateSubnetIds": self.network.private_subnet_ids,
            "bucketNames": self.lake.bucket_names,
            "lakeKmsKeyArn": self.lake.kms_key.arn,
            "kafkaClusterArn": self.kafka.cluster_arn,
            "kafkaBootstrapBrokers": self.kafka.bootstrap_brokers,
            "schemaRegistryName": self.registry.registry_name,
            "schemaNames": sorted(self.registry.schemas),
            "redisEndpoint": self.cache.endpoint,
            "image": self.artifacts.image,
            "artifactKeys": self.artifacts.keys,
            "eksClusterName": self.kubernetes.cluster_name,
            "kubeconfig": pulumi.Output.secret(self.kubernetes.kubeconfig),
            "topicSyncJob": self.workloads.topic_sync_job_name,
            "alertTopicArns": self.observability.topic_arns,
            "snowflakeIntegrationRoleArn": self.warehouse.integration_role_arn,
            "snowpipes": sorted(self.warehouse.pipes),
            "cdnDomainName": self.cdn.domain_name,
            "tracerKey": self.cdn.tracer_key,
            "staticBucket": self.cdn.static_bucket,
            "pulumiStateBucket": self.state.state_bucket.bucket,
            "backupBucket": self.state.backup_bucket.bucket,
        }


def artifact_files(config: StackConfig, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Local artifacts built from this commit that exist now (CI builds them before ``pulumi up``)."""
    found: dict[str, Path] = {}
    wheels = sorted(root.glob(config.artifacts.wheel_glob))
    if wheels:
        found["wheel"] = wheels[-1]
    return found


def _aws_policies(
    config: StackConfig,
    contracts: Contracts,
    lake: Lake,
    kafka: Kafka,
    registry: Registry,
    state: State,
    alert_topic_arns: Mapping[str, pulumi.Input[str]],
) -> dict[str, pulumi.Output[str]]:
    """Least-privilege IAM policy per workload (IRSA)."""
    event_topics = [t.name for t in contracts.topics.topics if t.event_type != "dead_letter"]
    dead_letter = [t.name for t in contracts.topics.topics if t.event_type == "dead_letter"]
    all_topics = [t.name for t in contracts.topics.topics]
    glue_read = ["glue:GetRegistry", "glue:GetSchema", "glue:GetSchemaVersion", "glue:GetSchemaByDefinition"]

    def with_kafka(kafka_policy: str, extra: list[dict[str, object]]) -> str:
        import json

        statements = json.loads(kafka_policy)["Statement"]
        return policy_document([*statements, *extra])

    def glue_statement(registry_arn: str) -> dict[str, object]:
        schema_arn = registry_arn.replace(":registry/", ":schema/", 1)
        return {"Effect": "Allow", "Action": glue_read, "Resource": [registry_arn, f"{schema_arn}/*"]}

    collector = pulumi.Output.all(kafka.client_policy(write_topics=all_topics), registry.registry_arn).apply(
        lambda a: with_kafka(str(a[0]), [glue_statement(str(a[1]))])
    )
    stream = pulumi.Output.all(
        kafka.client_policy(
            read_topics=event_topics,
            write_topics=dead_letter,
            groups=[f"{config.observability.stream_consumer_group}*"],
        ),
        registry.registry_arn,
        lake.bucket_arns["enriched"],
        lake.bucket_arns["raw"],
        lake.bucket_arns["dead-letter"],
        lake.kms_key.arn,
    ).apply(
        lambda a: with_kafka(
            str(a[0]),
            [
                glue_statement(str(a[1])),
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": [str(x) for x in a[2:5]]},
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"{x}/*" for x in a[2:5]],
                },
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": str(a[5])},
            ],
        )
    )
    topic_sync = kafka.client_policy(admin_topics=all_topics)

    def quality_policy(arn: str, topic_arns: list[str], lake_arn: str, kms_arn: str) -> str:
        return policy_document(
            [
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arns},
                # the durable ledger under quality/ in the lake bucket (AA_QUALITY_LEDGER_URI)
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{lake_arn}/quality/*"},
                # the stream's lake, read only (AA_LAKE_DIR): the lake hop, stream ledger files, freshness, drift
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{lake_arn}/{LAKE_EVENTS_PREFIX}/*"},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": lake_arn,
                 "Condition": {"StringLike": {"s3:prefix": ["quality/*", f"{LAKE_EVENTS_PREFIX}", f"{LAKE_EVENTS_PREFIX}/*"]}}},
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": kms_arn},
                {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                 "Condition": {"StringEquals": {"cloudwatch:namespace": config.observability.metric_namespace}}},
                {"Effect": "Allow", "Action": ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster",
                                               "kafka-cluster:DescribeGroup", "kafka-cluster:DescribeTopic"],
                 "Resource": [arn, arn.replace(":cluster/", ":topic/", 1) + "/events.*",
                              arn.replace(":cluster/", ":group/", 1) + "/*"]},
            ]
        )  # fmt: skip

    topic_arns = [arn for _, arn in sorted(alert_topic_arns.items())]
    quality = pulumi.Output.all(kafka.cluster_arn, lake.bucket_arns["enriched"], lake.kms_key.arn, *topic_arns).apply(
        lambda a: quality_policy(str(a[0]), [str(x) for x in a[3:]], str(a[1]), str(a[2]))
    )
    backup = pulumi.Output.all(
        kafka.cluster_arn, registry.registry_arn, state.backup_bucket.arn, state.kms_key.arn
    ).apply(lambda a: backup_policy(*[str(x) for x in a]))
    return {
        "collector": collector,
        "stream": stream,
        "topic-sync": topic_sync,
        "quality": quality,
        "backup": backup,
    }


def _snowflake_logins(config: StackConfig) -> dict[str, dict[str, pulumi.Input[str]]]:
    """The batch runner's and the quality monitor's Snowflake logins (their service users)."""
    account = f"{config.warehouse.organization_name}-{config.warehouse.account_name}"
    logins: dict[str, dict[str, pulumi.Input[str]]] = {}
    for workload, user in (("etl", "TRANSFORMER_SVC"), ("quality", "MONITOR_SVC")):
        spec = config.warehouse.service_users.get(user)
        if spec is not None:
            logins[workload] = {"account": account, "user": user, "role": spec.role, "warehouse": spec.warehouse}
    return logins


def backup_policy(cluster_arn: str, registry_arn: str, bucket_arn: str, key_arn: str) -> str:
    """The backup CronJob: read the registry and the topic configs, write the backup bucket."""
    schema_arn = registry_arn.replace(":registry/", ":schema/", 1)
    return policy_document(
        [
            {"Effect": "Allow", "Action": ["glue:GetRegistry", "glue:ListSchemas", "glue:GetSchema",
                                           "glue:ListSchemaVersions", "glue:GetSchemaVersion"],
             "Resource": [registry_arn, f"{schema_arn}/*"]},
            {"Effect": "Allow", "Action": ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster",
                                           "kafka-cluster:DescribeTopic",
                                           "kafka-cluster:DescribeTopicDynamicConfiguration"],
             "Resource": [cluster_arn, cluster_arn.replace(":cluster/", ":topic/", 1) + "/*"]},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket_arn}/*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
        ]
    )  # fmt: skip


def build(config: StackConfig, contracts: Contracts, secrets: dict[str, pulumi.Output[str]] | None = None) -> Platform:
    """Create every component of the stack; call inside a running Pulumi program."""
    register_component_tags()
    provider = aws_provider("aws", config.region, config.tags)
    opts = pulumi.ResourceOptions(providers=[provider])
    replica_provider = None
    if config.lake.replication.enabled and config.lake.replication.region:
        replica_provider = aws_provider("aws-replica", config.lake.replication.region, config.tags)

    cluster_name = f"{PROJECT}-{config.tags.environment}"
    protect = config.protect_stateful_resources
    Tagging("tagging", config.tags, opts=opts)
    state_replica = None
    if config.state.replication.enabled and config.state.replication.region:
        same = config.state.replication.region == config.lake.replication.region
        state_replica = (
            replica_provider
            if same and replica_provider is not None
            else aws_provider("aws-state-replica", config.state.replication.region, config.tags)
        )
    state = State("state", config.state, replica_provider=state_replica, opts=opts, protect_stateful=protect)
    network = Network("network", config.network, config.region, cluster_name, opts=opts)
    lake = Lake(
        "lake",
        config.lake,
        {c.event_type: c.retention_days for c in contracts.schemas},
        replica_provider=replica_provider,
        opts=opts,
        protect_stateful=protect,
    )
    kafka = Kafka(
        "kafka",
        config.kafka,
        vpc_id=network.vpc_id,
        vpc_cidr=config.network.cidr,
        subnet_ids=[s.id for s in network.private_subnets],
        opts=opts,
        protect_stateful=protect,
    )
    registry = Registry("registry", config.registry, contracts.schemas, opts=opts)
    private_subnets = [s.id for s in network.private_subnets]
    cache = Cache(
        "cache", config.cache, network.vpc_id, config.network.cidr, private_subnets, opts=opts, protect_stateful=protect
    )
    artifacts = Artifacts(
        "artifacts", config.artifacts, lake.bucket_names["artifacts"], artifact_files(config), opts=opts
    )
    kubernetes = Kubernetes(
        "kubernetes",
        config.kubernetes,
        cluster_name,
        config.region,
        network.vpc_id,
        private_subnets,
        instance_tags=config.tags.for_component("kubernetes"),
        opts=opts,
        protect_stateful=protect,
    )
    # before the workloads: the quality monitor publishes to its alert topics; the collector's ALB
    # alarms are added once the Ingress has made the load balancer (watch_load_balancer below)
    observability = Observability(
        "observability",
        config.observability,
        Targets(
            msk_cluster_name=kafka.cluster_name, broker_count=config.kafka.broker_count, redis_group_id=cache.group_id
        ),
        opts=opts,
    )
    policies = _aws_policies(config, contracts, lake, kafka, registry, state, observability.topic_arns)
    roles = {w: kubernetes.irsa_role(w, NAMESPACE, w, p).arn for w, p in policies.items()}
    secrets = secrets or {}
    k8s_opts = pulumi.ResourceOptions(providers=[provider, kubernetes.provider], depends_on=[kubernetes])
    settings: dict[str, pulumi.Input[str]] = {
        "AA_ENVIRONMENT": config.tags.environment,
        "AWS_REGION": config.region,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_brokers,
        "AA_KAFKA_BOOTSTRAP": kafka.bootstrap_brokers,
        "AA_KAFKA_AUTH": "msk-iam",
        "AA_SCHEMA_REGISTRY": registry.registry_name,
        "AA_REGISTRY_NAME": registry.registry_name,  # what the stream and the contracts CLI read
        "AA_REDIS_HOST": cache.endpoint,
        "AA_REDIS_TLS": "true",
        "AA_LAKE_BUCKET": lake.bucket_names["enriched"],
        "AA_RAW_BUCKET": lake.bucket_names["raw"],
        "AA_DEAD_LETTER_BUCKET": lake.bucket_names["dead-letter"],
        "AA_BACKUP_BUCKET": state.backup_bucket.bucket,
        "AA_STATE_BUCKET": state.state_bucket.bucket,
    }
    workload_secrets: dict[str, pulumi.Input[str]] = {"AA_REDIS_PASSWORD": cache.auth_token}
    for env, key in (
        ("AA_IP_HASH_SALT", "ipHashSalt"),
        ("SNOWFLAKE_TRANSFORMER_PRIVATE_KEY", "snowflakeTransformerPrivateKey"),
        ("SNOWFLAKE_MONITOR_PRIVATE_KEY", "snowflakeMonitorPrivateKey"),
    ):
        if key in secrets:
            workload_secrets[env] = secrets[key]
    workloads = Workloads(
        "workloads",
        config.workloads,
        WorkloadInputs(
            image=artifacts.image,
            role_arns=roles,
            settings=settings,
            secrets=workload_secrets,
            topics=contracts.topics,
            replication_factor=config.kafka.default_replication_factor,
            min_insync_replicas=config.kafka.min_insync_replicas,
            dashboard_oidc_client_secret=secrets.get("dashboardOidcClientSecret"),
            dashboard_snowflake={
                "account": f"{config.warehouse.organization_name}-{config.warehouse.account_name}",
                "user": "DASHBOARD_SVC",
                "role": "BI_READER",
                "warehouse": "BI",
                "database": "REPORTING",
            }
            if "DASHBOARD_SVC" in config.warehouse.service_users
            else None,
            dashboard_private_key=secrets.get("snowflakeDashboardPrivateKey"),
            alert_topic_arns=observability.topic_arns,
            snowflake_logins=_snowflake_logins(config),
        ),
        opts=k8s_opts,
    )
    streaming = Streaming(
        "streaming",
        config.streaming,
        artifacts.image,
        lake.bucket_names["enriched"],
        settings,
        opts=pulumi.ResourceOptions(providers=[provider, kubernetes.provider], depends_on=[workloads, kubernetes]),
    )
    tracer = REPO_ROOT / config.artifacts.tracer_bundle
    cdn = Cdn(
        "cdn",
        config.cdn,
        collector_origin=workloads.collector_hostname,
        tracer_bundle=tracer if tracer.is_file() else None,
        opts=opts,
        protect_stateful=protect,
    )
    alb = aws.lb.get_load_balancer_output(
        name=workloads.load_balancer_name,
        opts=pulumi.InvokeOutputOptions(provider=provider, depends_on=[workloads]),
    )
    observability.watch_load_balancer(alb.arn_suffix)
    office_hours = next((g.office_hours for g in config.kubernetes.node_groups.values() if g.office_hours), None)
    if office_hours is not None:  # the workloads' nodes are off at night: so are the alarms on them
        observability.mute_off_hours(office_hours)
    sf_provider = snowflake_provider("snowflake", config.warehouse, secrets.get("snowflakePrivateKey", ""))
    warehouse = Warehouse(
        "warehouse",
        config.warehouse,
        config.tags,
        contracts.schemas,
        lake_bucket=lake.bucket_names["enriched"],
        lake_bucket_arn=lake.bucket_arns["enriched"],
        lake_kms_key_arn=lake.kms_key.arn,
        event_prefix=config.lake.event_prefix,
        opts=pulumi.ResourceOptions(providers=[provider, sf_provider]),
        protect_stateful=protect,
    )
    Catalog(
        "catalog",
        config.catalog,
        artifacts.image,
        config.tags.environment,
        f"{config.warehouse.organization_name}-{config.warehouse.account_name}",
        recipes(REPO_ROOT),
        opts=pulumi.ResourceOptions(providers=[provider, kubernetes.provider], depends_on=[workloads, kubernetes]),
    )
    return Platform(
        network=network,
        lake=lake,
        kafka=kafka,
        registry=registry,
        cache=cache,
        artifacts=artifacts,
        kubernetes=kubernetes,
        workloads=workloads,
        streaming=streaming,
        observability=observability,
        warehouse=warehouse,
        cdn=cdn,
        state=state,
    )


def run() -> Platform:
    """Entry point of the Pulumi program (``stacks/__main__.py``)."""
    config = parse(values_from_pulumi(), stack_file(pulumi.get_stack()))
    platform = build(config, load_contracts(config), secrets_from_pulumi())
    for key, value in platform.outputs().items():
        pulumi.export(key, value)
    return platform
