"""Registry: the AWS Glue Schema Registry holding the event contracts.

Creates: one ``aws.glue.Registry`` and one ``aws.glue.Schema`` per ``schemas/*.avsc`` (data format
AVRO, compatibility from config, BACKWARD by default). The schema name is the event type (the file
stem), the name ``pipelines.contracts.registry`` looks up. A schema change is a reviewed
``pulumi up``: Glue registers the new definition as a new version and rejects incompatible ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field

from infra.component import PlatformComponent, Settings
from infra.contracts import AvroContract


class RegistryConfig(Settings):
    name: str = Field(default="affiliate-analytics", pattern=r"^[A-Za-z0-9_$#.-]{1,255}$")
    compatibility: Literal["BACKWARD", "BACKWARD_ALL", "FULL", "FULL_ALL"] = "BACKWARD"


class Registry(PlatformComponent):
    module = "registry"

    def __init__(
        self,
        name: str,
        config: RegistryConfig,
        contracts: Sequence[AvroContract],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        self.registry = aws.glue.Registry(
            f"{name}-registry",
            registry_name=config.name,
            description="Avro contracts of the affiliate-analytics events (schemas/*.avsc)",
            opts=self.child(),
        )
        self.schemas: dict[str, aws.glue.Schema] = {}
        for contract in contracts:
            self.schemas[contract.event_type] = aws.glue.Schema(
                f"{name}-{contract.event_type}",
                schema_name=contract.event_type,
                registry_arn=self.registry.arn,
                data_format="AVRO",
                compatibility=config.compatibility,
                schema_definition=contract.definition,
                description=f"{contract.record_name} (sha256 {contract.sha256[:12]})",
                opts=self.child(),
            )
        self.registry_name = self.registry.registry_name
        self.registry_arn = self.registry.arn
        self.register_outputs({"registry_arn": self.registry_arn, "schemas": sorted(self.schemas)})
