"""Cache: the ElastiCache Redis replication group holding the real-time metrics.

Creates (engine ``redis`` or ``valkey`` from config): a subnet group over the private subnets, a security group (6379 from the VPC), a
generated AUTH token (``random.RandomPassword``, kept secret), and a replication group with TLS
in transit, encryption at rest, and — when ``replicas > 0`` — automatic failover across zones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings

NodeType = Literal[
    "cache.t4g.micro", "cache.t4g.small", "cache.t4g.medium", "cache.m7g.large", "cache.m7g.xlarge", "cache.r7g.large"
]


class CacheConfig(Settings):
    # Valkey: the Redis-protocol engine ElastiCache prices 20 % below Redis OSS (same clients, TLS, AUTH).
    engine: Literal["redis", "valkey"] = "redis"
    node_type: NodeType
    replicas: int = Field(ge=0, le=5)
    multi_az: bool
    engine_version: str = Field(default="7.1", pattern=r"^\d+\.\d+$")
    snapshot_retention_days: int = Field(default=0, ge=0, le=35)

    @model_validator(mode="after")
    def _check(self) -> CacheConfig:
        if self.multi_az and self.replicas < 1:
            raise ValueError("multiAz needs at least one replica (replicas >= 1)")
        return self


class Cache(PlatformComponent):
    module = "cache"

    def __init__(
        self,
        name: str,
        config: CacheConfig,
        vpc_id: pulumi.Input[str],
        vpc_cidr: str,
        subnet_ids: Sequence[pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        super().__init__(name, opts, protect_stateful)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets", subnet_ids=list(subnet_ids), description="Private subnets", opts=self.child()
        )
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-redis",
            vpc_id=vpc_id,
            description="Redis (TLS + AUTH) from inside the VPC",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=6379, to_port=6379, cidr_blocks=[vpc_cidr])
            ],
            opts=self.child(),
        )
        token = random.RandomPassword(
            f"{name}-auth", length=64, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.auth_token = pulumi.Output.secret(token.result)
        failover = config.replicas > 0
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            description="Real-time metrics (minute buckets) written by the stream",
            engine=config.engine,
            engine_version=config.engine_version,
            node_type=config.node_type,
            num_cache_clusters=1 + config.replicas,
            automatic_failover_enabled=failover,
            multi_az_enabled=config.multi_az,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            auth_token=self.auth_token,
            subnet_group_name=subnets.name,
            security_group_ids=[self.security_group.id],
            snapshot_retention_limit=config.snapshot_retention_days,
            apply_immediately=False,
            opts=self.child(stateful=True),
        )
        self.endpoint = self.group.primary_endpoint_address
        self.group_id = self.group.id
        self.register_outputs({"endpoint": self.endpoint})
