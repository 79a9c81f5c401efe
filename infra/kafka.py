"""Kafka: the MSK cluster events flow through.

Creates: a KMS key for data at rest, a security group (IAM-authenticated TLS listener 9098 from the
VPC only), an ``aws.msk.Configuration`` (topic auto-creation off, replication defaults, min ISR,
retention), a CloudWatch log group for broker logs, and the ``aws.msk.Cluster`` with TLS between
clients and brokers and inside the cluster, IAM (SASL) client auth only, broker count, instance
type and storage from config, Prometheus open monitoring and enhanced CloudWatch monitoring.
Topics themselves are created by the topic-sync Job (see ``infra.workloads``) from
``schemas/topics.yaml``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings

KafkaVersion = Literal["3.6.0", "3.7.x", "3.8.x", "3.9.x", "4.0.x", "4.1.x"]
BrokerType = Literal[
    "kafka.t3.small",
    "kafka.m5.large",
    "kafka.m5.xlarge",
    "kafka.m5.2xlarge",
    "kafka.m7g.large",
    "kafka.m7g.xlarge",
    "kafka.m7g.2xlarge",
]
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


class KafkaConfig(Settings):
    kafka_version: KafkaVersion = "3.8.x"
    broker_count: int = Field(ge=2, le=30)
    instance_type: BrokerType
    volume_gb: int = Field(ge=1, le=16384)
    default_replication_factor: int = Field(ge=2, le=3)
    min_insync_replicas: int = Field(ge=1, le=2)
    log_retention_hours: int = Field(default=168, ge=1)
    enhanced_monitoring: Literal["DEFAULT", "PER_BROKER", "PER_TOPIC_PER_BROKER", "PER_TOPIC_PER_PARTITION"] = "DEFAULT"
    broker_log_days: int = 14

    @model_validator(mode="after")
    def _check(self) -> KafkaConfig:
        if self.min_insync_replicas >= self.default_replication_factor:
            raise ValueError(
                f"minInsyncReplicas ({self.min_insync_replicas}) must be below "
                f"defaultReplicationFactor ({self.default_replication_factor}), or no broker may fail"
            )
        if self.default_replication_factor > self.broker_count:
            raise ValueError("defaultReplicationFactor must not exceed brokerCount")
        if self.broker_log_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"brokerLogDays must be one of {LOG_RETENTION_DAYS}")
        return self

    def server_properties(self) -> str:
        lines = {
            "auto.create.topics.enable": "false",
            "default.replication.factor": str(self.default_replication_factor),
            "min.insync.replicas": str(self.min_insync_replicas),
            "num.partitions": "3",
            "log.retention.hours": str(self.log_retention_hours),
            "unclean.leader.election.enable": "false",
            "delete.topic.enable": "true",
        }
        return "".join(f"{k}={v}\n" for k, v in lines.items())


class Kafka(PlatformComponent):
    module = "kafka"

    def __init__(
        self,
        name: str,
        config: KafkaConfig,
        vpc_id: pulumi.Input[str],
        vpc_cidr: str,
        subnet_ids: Sequence[pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        super().__init__(name, opts, protect_stateful)
        if config.broker_count % len(subnet_ids) != 0:
            raise ValueError(
                f"kafka.brokerCount ({config.broker_count}) must be a multiple of the number of "
                f"availability zones ({len(subnet_ids)})"
            )
        self.kms_key = aws.kms.Key(
            f"{name}-key",
            description="MSK encryption at rest",
            enable_key_rotation=True,
            opts=self.child(stateful=True),
        )
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-brokers",
            vpc_id=vpc_id,
            description="MSK brokers: IAM-authenticated TLS from inside the VPC",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="Kafka, TLS + IAM", protocol="tcp", from_port=9098, to_port=9098, cidr_blocks=[vpc_cidr]
                )
            ],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=[vpc_cidr])],
            opts=self.child(),
        )
        self.configuration = aws.msk.Configuration(
            f"{name}-config",
            name=f"{name}-{config.kafka_version.replace('.', '-')}",
            kafka_versions=[config.kafka_version],
            server_properties=config.server_properties(),
            opts=self.child(),
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-brokers", retention_in_days=config.broker_log_days, opts=self.child()
        )
        self.cluster = aws.msk.Cluster(
            f"{name}-cluster",
            kafka_version=config.kafka_version,
            number_of_broker_nodes=config.broker_count,
            broker_node_group_info=aws.msk.ClusterBrokerNodeGroupInfoArgs(
                instance_type=config.instance_type,
                client_subnets=list(subnet_ids),
                security_groups=[self.security_group.id],
                storage_info=aws.msk.ClusterBrokerNodeGroupInfoStorageInfoArgs(
                    ebs_storage_info=aws.msk.ClusterBrokerNodeGroupInfoStorageInfoEbsStorageInfoArgs(
                        volume_size=config.volume_gb
                    )
                ),
            ),
            client_authentication=aws.msk.ClusterClientAuthenticationArgs(
                sasl=aws.msk.ClusterClientAuthenticationSaslArgs(iam=True, scram=False),
                unauthenticated=False,
            ),
            encryption_info=aws.msk.ClusterEncryptionInfoArgs(
                encryption_at_rest_kms_key_arn=self.kms_key.arn,
                encryption_in_transit=aws.msk.ClusterEncryptionInfoEncryptionInTransitArgs(
                    client_broker="TLS", in_cluster=True
                ),
            ),
            configuration_info=aws.msk.ClusterConfigurationInfoArgs(
                arn=self.configuration.arn, revision=self.configuration.latest_revision
            ),
            logging_info=aws.msk.ClusterLoggingInfoArgs(
                broker_logs=aws.msk.ClusterLoggingInfoBrokerLogsArgs(
                    cloudwatch_logs=aws.msk.ClusterLoggingInfoBrokerLogsCloudwatchLogsArgs(
                        enabled=True, log_group=self.log_group.name
                    )
                )
            ),
            open_monitoring=aws.msk.ClusterOpenMonitoringArgs(
                prometheus=aws.msk.ClusterOpenMonitoringPrometheusArgs(
                    jmx_exporter=aws.msk.ClusterOpenMonitoringPrometheusJmxExporterArgs(enabled_in_broker=True),
                    node_exporter=aws.msk.ClusterOpenMonitoringPrometheusNodeExporterArgs(enabled_in_broker=True),
                )
            ),
            enhanced_monitoring=config.enhanced_monitoring,
            opts=self.child(stateful=True),
        )
        self.cluster_name = self.cluster.cluster_name
        self.cluster_arn = self.cluster.arn
        self.bootstrap_brokers = self.cluster.bootstrap_brokers_sasl_iam
        self.broker_count = config.broker_count
        self.register_outputs({"cluster_arn": self.cluster_arn, "bootstrap_brokers": self.bootstrap_brokers})

    def client_policy(
        self,
        read_topics: Sequence[str] = (),
        write_topics: Sequence[str] = (),
        groups: Sequence[str] = (),
        admin_topics: Sequence[str] = (),
    ) -> pulumi.Output[str]:
        """A least-privilege IAM policy for an MSK IAM client on named topics and groups."""
        return self.cluster.arn.apply(
            lambda arn: json.dumps(kafka_client_policy(arn, read_topics, write_topics, groups, admin_topics))
        )


def kafka_client_policy(
    cluster_arn: str,
    read_topics: Sequence[str],
    write_topics: Sequence[str],
    groups: Sequence[str],
    admin_topics: Sequence[str] = (),
) -> dict[str, object]:
    """IAM statements for MSK IAM auth. Topic/group ARNs derive from the cluster ARN."""
    topic = cluster_arn.replace(":cluster/", ":topic/", 1)
    group = cluster_arn.replace(":cluster/", ":group/", 1)
    cluster_actions = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    if write_topics:
        cluster_actions.append("kafka-cluster:WriteDataIdempotently")  # idempotent producers (acks=all)
    statements: list[dict[str, object]] = [{"Effect": "Allow", "Action": cluster_actions, "Resource": cluster_arn}]
    if read_topics:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                "Resource": [f"{topic}/{t}" for t in read_topics],
            }
        )
    if write_topics:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
                "Resource": [f"{topic}/{t}" for t in write_topics],
            }
        )
    if groups:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
                "Resource": [f"{group}/{g}" for g in groups],
            }
        )
    if admin_topics:
        statements.append(
            {
                "Effect": "Allow",
                "Action": [
                    "kafka-cluster:CreateTopic",
                    "kafka-cluster:DescribeTopic",
                    "kafka-cluster:AlterTopic",
                    "kafka-cluster:DescribeTopicDynamicConfiguration",
                    "kafka-cluster:AlterTopicDynamicConfiguration",
                ],
                "Resource": [f"{topic}/{t}" for t in admin_topics],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
