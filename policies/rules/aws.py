"""AWS rules: cost tags, S3, MSK, ElastiCache, IAM, security groups."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from policies.rules.model import REQUIRED_TAGS, Resource, Rule, StackRule, effective_tags

# Types whose AWS SDK class takes ``tags`` (the ones this platform creates, and their neighbours).
TAGGABLE = {
    "aws:s3/bucket:Bucket",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:ec2/instance:Instance",
    "aws:msk/cluster:Cluster",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:elasticache/subnetGroup:SubnetGroup",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:iam/role:Role",
    "aws:iam/policy:Policy",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:kms/key:Key",
    "aws:sns/topic:Topic",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:glue/registry:Registry",
    "aws:glue/schema:Schema",
    "aws:ecr/repository:Repository",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:lb/targetGroup:TargetGroup",
    "aws:cloudfront/distribution:Distribution",
    "aws:cloudtrail/trail:Trail",
    "aws:sqs/queue:Queue",
    "aws:emrserverless/application:Application",
    "aws:secretsmanager/secret:Secret",
    "aws:acm/certificate:Certificate",
}
BUCKET = "aws:s3/bucket:Bucket"
DATA_COMPONENTS = ("lake",)
NOT_DATA = ("artifacts", "access-logs", "state")  # buckets of a data component that hold no event data
NOT_DATA = ("artifacts", "access-logs", "state")  # buckets of a data component that hold no event data
VERSIONED_COMPONENTS = ("lake", "artifacts", "state")


def _is_taggable(res: Resource) -> bool:
    return res.type in TAGGABLE or (res.type.startswith("aws:") and ("tags" in res.props or "tagsAll" in res.props))


def check_cost_tags(res: Resource) -> list[str]:
    if not _is_taggable(res):
        return []
    tags = effective_tags(res)
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
    if not missing:
        return []
    return [
        f"{res.label} lacks cost tag(s) {', '.join(missing)}: set them in the provider's default tags "
        "(stacks/: tagging) or on the resource"
    ]


def check_msk(res: Resource) -> list[str]:
    out: list[str] = []
    if res.get("encryptionInfo.encryptionInTransit.clientBroker", "TLS") != "TLS":
        out.append(
            f"{res.label}: client-broker encryption must be TLS (encryptionInfo.encryptionInTransit.clientBroker)"
        )
    if res.get("encryptionInfo.encryptionInTransit.inCluster", True) is not True:
        out.append(f"{res.label}: in-cluster encryption must be on (encryptionInTransit.inCluster=true)")
    if not res.get("encryptionInfo.encryptionAtRestKmsKeyArn"):
        out.append(f"{res.label}: encrypt at rest with a customer KMS key (encryptionInfo.encryptionAtRestKmsKeyArn)")
    if res.get("clientAuthentication.sasl.iam") is not True:
        out.append(f"{res.label}: enable IAM client authentication (clientAuthentication.sasl.iam=true)")
    if res.get("clientAuthentication.unauthenticated") is True:
        out.append(f"{res.label}: unauthenticated access must be off (clientAuthentication.unauthenticated=false)")
    return out


def check_elasticache(res: Resource) -> list[str]:
    out: list[str] = []
    if res.get("transitEncryptionEnabled") is not True:
        out.append(f"{res.label}: enable TLS (transitEncryptionEnabled=true)")
    if res.get("atRestEncryptionEnabled") is not True:
        out.append(f"{res.label}: enable encryption at rest (atRestEncryptionEnabled=true)")
    if not res.props.get("authToken") and not res.props.get("userGroupIds"):
        out.append(f"{res.label}: require AUTH (authToken from a Pulumi secret, or RBAC userGroupIds)")
    return out


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    stmts = document.get("Statement", [])
    return [s for s in (stmts if isinstance(stmts, list) else [stmts]) if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []


def check_iam_wildcards(res: Resource) -> list[str]:
    docs: list[Any] = []
    if res.type in (
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    ):
        docs.append(res.props.get("policy"))
    if res.type == "aws:iam/role:Role":
        docs += [p.get("policy") for p in res.props.get("inlinePolicies") or [] if isinstance(p, Mapping)]
    out: list[str] = []
    for doc in docs:
        for s in _statements(doc):
            actions = _as_list(s.get("Action"))
            resources = _as_list(s.get("Resource"))
            if s.get("Effect") == "Allow" and any(a in ("*", "*:*") for a in actions) and "*" in resources:
                out.append(
                    f"{res.label}: a statement allows every action on every resource; name the actions "
                    "and resources it needs"
                )
    return out


def check_no_admin_attachment(res: Resource) -> list[str]:
    arn = str(res.props.get("policyArn", ""))
    if arn.endswith(":policy/AdministratorAccess") or arn.endswith(":policy/PowerUserAccess"):
        return [f"{res.label}: attaches {arn.rsplit('/', 1)[-1]}; grant least-privilege policies instead"]
    return []


def _world(cidrs: Any) -> bool:
    return any(c in ("0.0.0.0/0", "::/0") for c in _as_list(cidrs))


def check_security_group(res: Resource) -> list[str]:
    rules: list[Mapping[str, Any]] = []
    if res.type == "aws:ec2/securityGroup:SecurityGroup":
        rules = [r for r in res.props.get("ingress") or [] if isinstance(r, Mapping)]
    elif res.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and res.props.get("type") == "ingress":
        rules = [res.props]
    elif res.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        rules = [{**res.props, "cidrBlocks": [res.props.get("cidrIpv4"), res.props.get("cidrIpv6")]}]
    out: list[str] = []
    for r in rules:
        if not (_world(r.get("cidrBlocks")) or _world(r.get("ipv6CidrBlocks"))):
            continue
        from_port, to_port = r.get("fromPort"), r.get("toPort")
        if not (from_port == to_port == 443 and str(r.get("protocol", "tcp")).lower() in ("tcp", "6")):
            out.append(
                f"{res.label}: ingress {from_port}-{to_port} is open to the world; only the load "
                "balancer's 443 may be, restrict the CIDR or reference a security group"
            )
    return out


# ---------------------------------------------------------------- S3, stack level


def _children(resources: list[Resource], child_type: str, bucket: Resource) -> list[Resource]:
    found = []
    for r in resources:
        if r.type != child_type:
            continue
        deps = r.dependencies.get("bucket", [])
        if bucket.urn in deps or (r.props.get("bucket") and r.props.get("bucket") == bucket.props.get("bucket")):
            found.append(r)
    return found


def _buckets(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r.type == BUCKET]


def check_s3_encryption(resources: list[Resource]) -> list[str]:
    out = []
    for b in _buckets(resources):
        cfgs = _children(
            resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", b
        )
        algos = {
            str(rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm"))
            for c in cfgs
            for rule in c.props.get("rules") or []
            if isinstance(rule, Mapping)
        }
        if not algos & {"aws:kms", "aws:kms:dsse", "AES256"}:
            out.append(f"{b.label}: no default encryption; add a BucketServerSideEncryptionConfiguration (aws:kms)")
    return out


def check_s3_public_access(resources: list[Resource]) -> list[str]:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    out = []
    for b in _buckets(resources):
        blocks = _children(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", b)
        if not any(all(p.props.get(k) is True for k in keys) for p in blocks):
            out.append(
                f"{b.label}: public access is not fully blocked; add a BucketPublicAccessBlock with "
                f"{', '.join(keys)} = true"
            )
    return out


def check_s3_tls_only(resources: list[Resource]) -> list[str]:
    out = []
    for b in _buckets(resources):
        ok = False
        for p in _children(resources, "aws:s3/bucketPolicy:BucketPolicy", b):
            for s in _statements(p.props.get("policy")):
                cond = s.get("Condition") or {}
                bool_cond = cond.get("Bool", {}) if isinstance(cond, Mapping) else {}
                if s.get("Effect") == "Deny" and str(bool_cond.get("aws:SecureTransport")).lower() == "false":
                    ok = True
        if not ok:
            out.append(f"{b.label}: no TLS-only bucket policy; deny requests with aws:SecureTransport=false")
    return out


def _component(b: Resource) -> str:
    return effective_tags(b).get("component", "")


def check_s3_lifecycle(resources: list[Resource]) -> list[str]:
    out = []
    for b in _buckets(resources):
        if _component(b) not in DATA_COMPONENTS or any(n in b.name for n in NOT_DATA):
            continue
        cfgs = _children(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", b)
        rules = [rule for c in cfgs for rule in c.props.get("rules") or [] if isinstance(rule, Mapping)]
        if not any(rule.get("transitions") or rule.get("expiration") for rule in rules):
            out.append(
                f"{b.label}: data bucket without lifecycle tiers; add transitions (IA, Glacier IR, Deep "
                "Archive) or an expiration in a BucketLifecycleConfiguration"
            )
    return out


def check_s3_versioning(resources: list[Resource]) -> list[str]:
    out = []
    for b in _buckets(resources):
        if _component(b) not in VERSIONED_COMPONENTS:
            continue
        vs = _children(resources, "aws:s3/bucketVersioning:BucketVersioning", b)
        if not any((v.props.get("versioningConfiguration") or {}).get("status") == "Enabled" for v in vs):
            out.append(f"{b.label}: {_component(b)} bucket without versioning; add BucketVersioning status=Enabled")
    return out


TRAIL = "aws:cloudtrail/trail:Trail"
NOT_AUDITED = (*NOT_DATA, "audit", "replica")  # replicas live in the DR region: the trail is regional


def _data_event_prefixes(trail: Resource) -> list[str]:
    """Object ARN prefixes a trail records reads and writes for (data events, no readOnly filter)."""
    prefixes: list[str] = []
    for selector in trail.get("advancedEventSelectors") or []:
        fields = {str(f.get("field")): f for f in selector.get("fieldSelectors") or [] if isinstance(f, Mapping)}
        if (fields.get("eventCategory") or {}).get("equals") != ["Data"] or "readOnly" in fields:
            continue
        if "AWS::S3::Object" not in ((fields.get("resources.type") or {}).get("equals") or []):
            continue
        prefixes += [str(p) for p in (fields.get("resources.ARN") or {}).get("startsWiths") or []]
    return prefixes


def check_lake_data_events(resources: list[Resource]) -> list[str]:
    """Every lake event bucket's object reads and writes go to a validated, KMS-encrypted trail."""
    out: list[str] = []
    trails = [t for t in resources if t.type == TRAIL]
    for t in trails:
        if t.props.get("enableLogFileValidation") is not True or not t.props.get("kmsKeyId"):
            out.append(f"{t.label}: audit trail needs enableLogFileValidation=true and a KMS key (kmsKeyId)")
    covered = [p for t in trails for p in _data_event_prefixes(t)]
    for b in _buckets(resources):
        if _component(b) not in DATA_COMPONENTS or any(n in b.name for n in NOT_AUDITED):
            continue
        arn = b.props.get("arn")
        if not isinstance(arn, str) or not arn:
            continue  # not known before the bucket exists (first preview)
        if not any(arn + "/" == p or (arn + "/").startswith(p) for p in covered):
            out.append(
                f"{b.label}: no CloudTrail data events (object reads and writes) on its objects; keep "
                "lake.cloudTrailDataEvents on (infra/lake.py adds the bucket to the trail's selector)"
            )
    return out


RULES = [
    Rule(
        "required-cost-tags",
        "Every taggable AWS resource carries the five cost tags.",
        "mandatory",
        check_cost_tags,
        ("aws:",),
    ),
    Rule(
        "msk-encryption-and-iam-auth",
        "MSK: TLS in transit and in cluster, KMS at rest, IAM auth, no unauthenticated access.",
        "mandatory",
        check_msk,
        ("aws:msk/cluster:Cluster",),
    ),
    Rule(
        "elasticache-tls-auth-at-rest",
        "ElastiCache: TLS, AUTH and encryption at rest.",
        "mandatory",
        check_elasticache,
        ("aws:elasticache/replicationGroup:ReplicationGroup",),
    ),
    Rule("iam-no-wildcard-admin", "IAM: no Action * on Resource *.", "mandatory", check_iam_wildcards, ("aws:iam/",)),
    Rule(
        "iam-no-admin-attachment",
        "IAM: no AdministratorAccess/PowerUserAccess attachments.",
        "mandatory",
        check_no_admin_attachment,
        ("aws:iam/",),
    ),
    Rule(
        "sg-no-world-ingress",
        "Security groups: no world ingress except 443.",
        "mandatory",
        check_security_group,
        ("aws:ec2/securityGroup", "aws:vpc/securityGroupIngressRule"),
    ),
]
STACK_RULES = [
    StackRule("s3-encryption", "S3: default encryption on every bucket.", "mandatory", check_s3_encryption),
    StackRule("s3-block-public-access", "S3: all public access blocked.", "mandatory", check_s3_public_access),
    StackRule("s3-tls-only", "S3: bucket policy denies non-TLS requests.", "mandatory", check_s3_tls_only),
    StackRule("s3-lifecycle-tiers", "S3: lifecycle tiers on data buckets.", "mandatory", check_s3_lifecycle),
    StackRule(
        "s3-versioning", "S3: versioning on lake, artifacts and state buckets.", "mandatory", check_s3_versioning
    ),
    StackRule(
        "lake-data-events-audited",
        "CloudTrail records object reads and writes on the lake's event buckets (validated, KMS).",
        "mandatory",
        check_lake_data_events,
    ),
]
