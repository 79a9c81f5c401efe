"""The composition of one stack: config in, components wired together, outputs exported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.contracts import AvroContract, TopicMap, load_schemas, load_topics
from infra.kafka import Kafka
from infra.lake import Lake
from infra.network import Network
from infra.registry import Registry
from infra.tagging import Tagging, aws_provider, register_component_tags
from stacks.config import PROJECT, StackConfig, parse, stack_file, values_from_pulumi

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
        }


def build(config: StackConfig, contracts: Contracts) -> Platform:
    """Create every component of the stack; call inside a running Pulumi program."""
    register_component_tags()
    provider = aws_provider("aws", config.region, config.tags)
    opts = pulumi.ResourceOptions(providers=[provider])
    replica_provider = None
    if config.lake.replication.enabled and config.lake.replication.region:
        replica_provider = aws_provider("aws-replica", config.lake.replication.region, config.tags)

    cluster_name = f"{PROJECT}-{config.tags.environment}"
    Tagging("tagging", config.tags, opts=opts)
    network = Network("network", config.network, config.region, cluster_name, opts=opts)
    lake = Lake(
        "lake",
        config.lake,
        {c.event_type: c.retention_days for c in contracts.schemas},
        replica_provider=replica_provider,
        opts=opts,
    )
    kafka = Kafka(
        "kafka",
        config.kafka,
        vpc_id=network.vpc_id,
        vpc_cidr=config.network.cidr,
        subnet_ids=[s.id for s in network.private_subnets],
        opts=opts,
    )
    registry = Registry("registry", config.registry, contracts.schemas, opts=opts)
    return Platform(network=network, lake=lake, kafka=kafka, registry=registry)


def run() -> Platform:
    """Entry point of the Pulumi program (``stacks/__main__.py``)."""
    config = parse(values_from_pulumi(), stack_file(pulumi.get_stack()))
    platform = build(config, load_contracts(config))
    for key, value in platform.outputs().items():
        pulumi.export(key, value)
    return platform
