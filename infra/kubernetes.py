"""Kubernetes: the EKS cluster the collector, dashboard, Spark and batch jobs run on.

Creates: a KMS key for envelope encryption of Kubernetes secrets; the control-plane log group (with
retention); the cluster IAM role and the ``aws.eks.Cluster`` (private subnets, private endpoint,
public endpoint restricted to config CIDRs, control-plane logs, API access mode); a node IAM role
and one managed node group per config entry (``SPOT`` in dev) whose launch template tags instances,
volumes and ENIs and enforces IMDSv2; the IAM OIDC provider for IRSA; a ``kubernetes.Provider`` for
the cluster; the workloads' namespace; and Helm releases of the AWS Load Balancer Controller (with
its own IRSA role) and spark-operator. ``irsa_role`` creates a least-privilege role for one
workload's service account.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings

# Actions of the AWS Load Balancer Controller's published IAM policy (v2.x), without wildcards.
LB_CONTROLLER_READ_ACTIONS = (
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage", "ec2:DescribeCoipPools",
    "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools", "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
    "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
    "iam:ListServerCertificates", "iam:GetServerCertificate", "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
    "shield:DeleteProtection",
)  # fmt: skip
LB_CONTROLLER_WRITE_ACTIONS = (
    "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateSecurityGroup",
    "ec2:DeleteSecurityGroup", "ec2:CreateTags", "ec2:DeleteTags",
    "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:SetWebAcl",
    "elasticloadbalancing:ModifyListener", "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates", "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
)  # fmt: skip


class OfficeHoursConfig(Settings):
    """Scale a node group to zero outside working hours (dev): EC2 Auto Scaling scheduled actions."""

    days: Literal["MON-FRI", "MON-SAT", "MON-SUN"] = "MON-FRI"
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=1, le=24)
    time_zone: str = Field(default="Europe/Dublin", pattern=r"^[A-Za-z_]+/[A-Za-z_]+$")

    @model_validator(mode="after")
    def _order(self) -> OfficeHoursConfig:
        if self.start_hour >= self.end_hour:
            raise ValueError("officeHours: startHour must be before endHour")
        return self

    def hours_per_week(self) -> int:
        return (self.end_hour - self.start_hour) * {"MON-FRI": 5, "MON-SAT": 6, "MON-SUN": 7}[self.days]


class NodeGroupConfig(Settings):
    instance_types: tuple[str, ...] = Field(min_length=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    min_size: int = Field(ge=0)
    desired_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    disk_gb: int = Field(default=50, ge=20)
    labels: dict[str, str] = Field(default_factory=dict)
    office_hours: OfficeHoursConfig | None = None

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError("node group sizes must satisfy minSize <= desiredSize <= maxSize")
        return self


class HelmChartConfig(Settings):
    repository: str
    chart: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    namespace: str


class KubernetesConfig(Settings):
    version: Literal["1.31", "1.32", "1.33", "1.34"] = "1.33"
    public_access_cidrs: tuple[str, ...] = ()
    node_groups: dict[str, NodeGroupConfig] = Field(min_length=1)
    load_balancer_controller: HelmChartConfig = HelmChartConfig(
        repository="https://aws.github.io/eks-charts",
        chart="aws-load-balancer-controller",
        version="1.13.4",
        namespace="kube-system",
    )
    spark_operator: HelmChartConfig = HelmChartConfig(
        repository="https://kubeflow.github.io/spark-operator",
        chart="spark-operator",
        version="2.3.0",
        namespace="spark-operator",
    )
    control_plane_log_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365] = 30
    log_types: tuple[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"], ...] = (
        "api",
        "audit",
        "authenticator",
    )


def service_trust(service: str) -> str:
    """A role trust policy letting an AWS service assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def irsa_trust(oidc_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy letting exactly one Kubernetes service account assume the role."""
    host = issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{host}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name, "--region", region],
                        }
                    },
                }
            ],
        }
    )


class Kubernetes(PlatformComponent):
    module = "kubernetes"

    def __init__(
        self,
        name: str,
        config: KubernetesConfig,
        cluster_name: str,
        region: str,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        instance_tags: Mapping[str, str],
        namespace: str = "analytics",
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        """``instance_tags`` are the cost tags for node EC2 instances, volumes and ENIs."""
        super().__init__(name, opts, protect_stateful)
        secrets_key = aws.kms.Key(
            f"{name}-secrets", description="EKS secrets envelope encryption", enable_key_rotation=True,
            opts=self.child(stateful=True),
        )  # fmt: skip
        cluster_role = aws.iam.Role(
            f"{name}-cluster", assume_role_policy=service_trust("eks.amazonaws.com"), opts=self.child()
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster",
            role=cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=self.child(),
        )
        # EKS would create this group itself with no expiry; owning it sets the retention.
        control_plane_logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=config.control_plane_log_days,
            opts=self.child(),
        )
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=config.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=bool(config.public_access_cidrs),
                public_access_cidrs=list(config.public_access_cidrs) or None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn)
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            enabled_cluster_log_types=list(config.log_types),
            opts=self.child(depends_on=[cluster_policy, control_plane_logs]),
        )
        node_role = aws.iam.Role(
            f"{name}-nodes", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=self.child()
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{policy}", role=node_role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=self.child(),
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")
        ]  # fmt: skip
        self.node_groups: dict[str, aws.eks.NodeGroup] = {}
        for group, spec in config.node_groups.items():
            # EC2 instances and volumes of managed node groups are not Pulumi resources: they get
            # the cost tags from the launch template (provider default tags do not reach them).
            template = aws.ec2.LaunchTemplate(
                f"{name}-{group}",
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name="/dev/xvda",
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=spec.disk_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"
                        ),
                    )
                ],
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
                ),
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(instance_tags))
                    for kind in ("instance", "volume", "network-interface")
                ],
                opts=self.child(),
            )
            self.node_groups[group] = aws.eks.NodeGroup(
                f"{name}-{group}",
                cluster_name=self.cluster.name,
                node_role_arn=node_role.arn,
                subnet_ids=list(subnet_ids),
                instance_types=list(spec.instance_types),
                capacity_type=spec.capacity_type,
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)
                ),
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=spec.min_size, desired_size=spec.desired_size, max_size=spec.max_size
                ),
                labels={"workload": group, **spec.labels},
                # Office-hours groups are resized by their scheduled actions: not drift to undo.
                opts=pulumi.ResourceOptions.merge(
                    self.child(depends_on=attachments),
                    pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize", "scalingConfig.minSize"])
                    if spec.office_hours is not None
                    else None,
                ),
            )
            if spec.office_hours is not None:
                self._office_hours(f"{name}-{group}", self.node_groups[group], spec, spec.office_hours)
        self.oidc_issuer = self.cluster.identities.apply(lambda ids: (ids[0].oidcs or [])[0].issuer or "")
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=self.oidc_issuer, client_id_lists=["sts.amazonaws.com"], opts=self.child()
        )
        self.kubeconfig = pulumi.Output.all(self.cluster.endpoint, self.cluster.certificate_authority.data).apply(
            lambda a: kubeconfig(cluster_name, str(a[0]), str(a[1]), region)
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=self.child(depends_on=list(self.node_groups.values())),
        )
        self.cluster_name = self.cluster.name
        self._region = region

        lb_policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": list(LB_CONTROLLER_READ_ACTIONS), "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": list(LB_CONTROLLER_WRITE_ACTIONS),
                        "Resource": "*",
                        "Condition": {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}},
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["ec2:CreateSecurityGroup", "elasticloadbalancing:CreateLoadBalancer",
                                   "elasticloadbalancing:CreateTargetGroup", "ec2:CreateTags",
                                   "elasticloadbalancing:AddTags"],
                        "Resource": "*",
                        "Condition": {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}},
                    },
                    {"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
                     "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
                ],
            }
        )  # fmt: skip
        lbc = config.load_balancer_controller
        lb_role = self.irsa_role(
            "aws-load-balancer-controller", lbc.namespace, "aws-load-balancer-controller", lb_policy
        )
        self.load_balancer_controller = k8s.helm.v3.Release(
            f"{name}-lb-controller",
            chart=lbc.chart,
            version=lbc.version,
            namespace=lbc.namespace,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=lbc.repository),
            values={
                "clusterName": cluster_name,
                "region": region,
                "vpcId": vpc_id,
                "serviceAccount": {
                    "name": "aws-load-balancer-controller",
                    "annotations": {"eks.amazonaws.com/role-arn": lb_role.arn},
                },
            },
            opts=self.child(provider=self.provider),
        )
        # The workloads' namespace exists before spark-operator, whose chart creates RBAC in it.
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-{namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace),
            opts=self.child(provider=self.provider),
        )
        so = config.spark_operator
        self.spark_operator = k8s.helm.v3.Release(
            f"{name}-spark-operator",
            chart=so.chart,
            version=so.version,
            namespace=so.namespace,
            create_namespace=True,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=so.repository),
            values={"spark": {"jobNamespaces": [namespace]}, "webhook": {"enable": True}},
            opts=self.child(provider=self.provider, depends_on=[self.namespace]),
        )
        self.register_outputs({"cluster_name": self.cluster_name, "oidc_issuer": self.oidc_issuer})

    def _office_hours(
        self, name: str, group: aws.eks.NodeGroup, spec: NodeGroupConfig, hours: OfficeHoursConfig
    ) -> None:
        """Scheduled actions on the group's Auto Scaling group: up at start_hour, to zero at end_hour."""
        asg = group.resources.apply(lambda rs: rs[0].autoscaling_groups[0].name if rs else "")  # type: ignore[index, union-attr]
        end_hour = hours.end_hour % 24
        for action, hour, sizes in (
            ("up", hours.start_hour, (spec.min_size, spec.desired_size, spec.max_size)),
            ("down", end_hour, (0, 0, spec.max_size)),
        ):
            aws.autoscaling.Schedule(
                f"{name}-{action}",
                scheduled_action_name=f"office-hours-{action}",
                autoscaling_group_name=asg,  # type: ignore[arg-type]
                recurrence=f"0 {hour} * * {hours.days}",
                time_zone=hours.time_zone,
                min_size=sizes[0],
                desired_capacity=sizes[1],
                max_size=sizes[2],
                opts=self.child(),
            )

    def irsa_role(
        self, workload: str, namespace: str, service_account: str, policy: pulumi.Input[str] | None
    ) -> aws.iam.Role:
        """An IAM role only ``namespace/service_account`` can assume, with one inline policy."""
        trust = pulumi.Output.all(self.oidc_provider.arn, self.oidc_issuer).apply(
            lambda a: irsa_trust(str(a[0]), str(a[1]), namespace, service_account)
        )
        role = aws.iam.Role(f"irsa-{workload}", assume_role_policy=trust, opts=self.child())
        if policy is not None:
            aws.iam.RolePolicy(f"irsa-{workload}", role=role.id, policy=policy, opts=self.child())
        return role


def policy_document(statements: Sequence[Mapping[str, object]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
