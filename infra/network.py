"""Network: the VPC every other component runs in.

Creates: a VPC across the configured availability zones with one public and one private subnet
per zone, an internet gateway, the private subnets' way out — ``nat_gateways`` NAT gateways (each
with an Elastic IP; private route tables share them round-robin) or, with ``natGateways: 0``, one
NAT instance (``natInstance``: a small Graviton EC2 instance on Amazon Linux 2023 that masquerades
the VPC's traffic; the dev choice, ~$3/month instead of ~$35 per gateway, at the price of a single
point of failure and no managed scaling) — an S3 gateway endpoint on the private route tables and
interface endpoints (Glue, STS, ECR, CloudWatch Logs/metrics, ...) so data paths avoid the NAT
(dev lists none: at its volume the endpoints' hourly price exceeds what they save).
Subnets carry the ``kubernetes.io/role/*elb`` tags the AWS Load Balancer Controller needs.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings

INTERFACE_ENDPOINTS = ("glue", "sts", "ecr.api", "ecr.dkr", "logs", "monitoring", "kafka", "elasticache")


class NatInstanceConfig(Settings):
    """One NAT instance instead of NAT gateways (dev): Graviton, IMDSv2, encrypted root volume."""

    instance_type: Literal["t4g.nano", "t4g.micro", "t4g.small"] = "t4g.nano"
    # Public SSM parameter naming the current Amazon Linux 2023 arm64 image.
    ami_parameter: str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    root_volume_gb: int = Field(default=8, ge=8, le=30)


# Turns an Amazon Linux 2023 instance into a NAT: forward packets, masquerade the VPC behind the
# instance's public address (persisted across reboots with a systemd unit).
NAT_USER_DATA = """#!/bin/bash
set -euo pipefail
dnf install -y nftables
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-nat.conf
sysctl --system
cat > /etc/nftables/nat.nft <<'NFT'
table ip nat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {cidr} oifname != "lo" masquerade
  }}
}}
NFT
echo 'include "/etc/nftables/nat.nft"' >> /etc/sysconfig/nftables.conf
systemctl enable --now nftables
"""


class NetworkConfig(Settings):
    cidr: str = Field(pattern=r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/(1[6-9]|2[0-1])$")
    availability_zones: tuple[str, ...] = Field(min_length=2, max_length=3)
    nat_gateways: int = Field(ge=0, le=3)
    nat_instance: NatInstanceConfig | None = None
    interface_endpoints: tuple[str, ...] = ("glue", "sts", "ecr.api", "ecr.dkr", "logs", "monitoring")

    @model_validator(mode="after")
    def _check(self) -> NetworkConfig:
        ipaddress.ip_network(self.cidr)  # raises ValueError with the bad value
        if self.nat_gateways == 0 and self.nat_instance is None:
            raise ValueError("natGateways is 0: set natInstance (e.g. {instanceType: t4g.nano}) for egress")
        if self.nat_gateways > 0 and self.nat_instance is not None:
            raise ValueError("set either natGateways > 0 or natInstance, not both")
        if self.nat_gateways > len(self.availability_zones):
            raise ValueError(
                f"natGateways ({self.nat_gateways}) must not exceed the number of availabilityZones "
                f"({len(self.availability_zones)})"
            )
        unknown = sorted(set(self.interface_endpoints) - set(INTERFACE_ENDPOINTS))
        if unknown:
            raise ValueError(f"interfaceEndpoints {unknown} unknown; allowed: {', '.join(INTERFACE_ENDPOINTS)}")
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise ValueError("availabilityZones must be distinct")
        return self


def subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) subnet CIDRs, one of each per zone.

    Private subnets get the large blocks because EKS pods take VPC addresses: the range is cut in
    eighths, private subnet ``i`` is eighth ``i`` and public subnet ``i`` a quarter of the last eighth.
    """
    net = ipaddress.ip_network(cidr)
    eighths = list(net.subnets(prefixlen_diff=3))
    private = [str(eighths[i]) for i in range(zones)]
    public = [str(s) for s in list(eighths[7].subnets(prefixlen_diff=2))[:zones]]
    return public, private


class Network(PlatformComponent):
    module = "network"

    def __init__(
        self,
        name: str,
        config: NetworkConfig,
        region: str,
        cluster_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        for zone in config.availability_zones:
            if not zone.startswith(region):
                raise ValueError(f"availability zone {zone!r} is not in region {region!r}")
        public_cidrs, private_cidrs = subnet_cidrs(config.cidr, len(config.availability_zones))

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=self.child(),
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, opts=self.child())
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            opts=self.child(),
        )
        cluster_tag = f"kubernetes.io/cluster/{cluster_name}"
        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        for i, zone in enumerate(config.availability_zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=public_cidrs[i],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1", cluster_tag: "shared"},
                opts=self.child(),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_rt.id, opts=self.child()
            )
            self.public_subnets.append(public)
            self.private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{zone}",
                    vpc_id=self.vpc.id,
                    availability_zone=zone,
                    cidr_block=private_cidrs[i],
                    tags={
                        "Name": f"{name}-private-{zone}",
                        "kubernetes.io/role/internal-elb": "1",
                        cluster_tag: "shared",
                    },
                    opts=self.child(),
                )
            )

        nats: list[aws.ec2.NatGateway] = []
        for i in range(config.nat_gateways):
            zone = config.availability_zones[i]
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=self.child())
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.id,
                    subnet_id=self.public_subnets[i].id,
                    connectivity_type="public",
                    opts=self.child(depends_on=[igw]),
                )
            )

        self.nat_instance: aws.ec2.Instance | None = None
        if config.nat_instance is not None:
            self.nat_instance = self._nat_instance(name, config, config.nat_instance)

        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for i, zone in enumerate(config.availability_zones):
            route = (
                aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % len(nats)].id)
                if nats
                else aws.ec2.RouteTableRouteArgs(
                    cidr_block="0.0.0.0/0",
                    network_interface_id=self.nat_instance.primary_network_interface_id if self.nat_instance else None,
                )
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=self.vpc.id,
                routes=[route],
                opts=self.child(),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}",
                subnet_id=self.private_subnets[i].id,
                route_table_id=rt.id,
                opts=self.child(),
            )
            self.private_route_tables.append(rt)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in self.private_route_tables],
            opts=self.child(),
        )
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to the interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443, cidr_blocks=[config.cidr])
            ],
            opts=self.child(),
        )
        for service in config.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[self.endpoint_security_group.id],
                opts=self.child(),
            )

        self.vpc_id = self.vpc.id
        self.cidr = config.cidr
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in self.private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in self.public_subnets])
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

    def _nat_instance(self, name: str, config: NetworkConfig, spec: NatInstanceConfig) -> aws.ec2.Instance:
        """A NAT instance in the first public subnet: traffic from the VPC only, out to anywhere."""
        group = aws.ec2.SecurityGroup(
            f"{name}-nat",
            vpc_id=self.vpc.id,
            description="NAT instance: forwards traffic from inside the VPC",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="from the VPC", protocol="-1", from_port=0, to_port=0, cidr_blocks=[config.cidr]
                )
            ],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
            opts=self.child(),
        )
        ami = aws.ssm.get_parameter_output(name=spec.ami_parameter, opts=pulumi.InvokeOutputOptions(parent=self))
        return aws.ec2.Instance(
            f"{name}-nat",
            ami=ami.value,
            instance_type=spec.instance_type,
            subnet_id=self.public_subnets[0].id,
            associate_public_ip_address=True,
            source_dest_check=False,
            vpc_security_group_ids=[group.id],
            user_data=NAT_USER_DATA.format(cidr=config.cidr),
            user_data_replace_on_change=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_endpoint="enabled", http_tokens="required"),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_size=spec.root_volume_gb, volume_type="gp3", encrypted=True
            ),
            tags={"Name": f"{name}-nat"},
            opts=self.child(),
        )
