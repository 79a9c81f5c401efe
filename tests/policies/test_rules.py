"""Each policy rule with a passing and a violating resource, plus the CrossGuard wrappers."""

import json
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies import pack
from policies.rules import aws, platform
from policies.rules.model import Resource

TAGS = {"cost-center": "analytics", "environment": "dev", "component": "lake", "owner": "data", "managed-by": "pulumi"}
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t"}


def res(typ: str, props: dict, *, stack: str = "dev", name: str = "r", protect: bool = False, provider=None, deps=None):
    return Resource(
        typ, name, f"urn:pulumi:{stack}::affiliate-analytics::{typ}::{name}", props, provider or {}, protect, deps or {}
    )


def test_cost_tags_merge_provider_defaults_and_name_what_is_missing():
    provider = {"defaultTags": json.dumps({"tags": {k: v for k, v in TAGS.items() if k != "component"}})}
    assert aws.check_cost_tags(res("aws:s3/bucket:Bucket", {"tags": {"component": "lake"}}, provider=provider)) == []
    assert aws.check_cost_tags(res("aws:s3/bucket:Bucket", {}, name="raw", provider=provider)) == [
        "aws:s3/bucket:Bucket 'raw' lacks cost tag(s) component: set them in the provider's default tags "
        "(stacks/: tagging) or on the resource"
    ]
    assert aws.check_cost_tags(res("aws:s3/bucketPolicy:BucketPolicy", {})) == []  # not taggable


MSK_OK = {
    "encryptionInfo": {
        "encryptionAtRestKmsKeyArn": "arn:kms",
        "encryptionInTransit": {"clientBroker": "TLS", "inCluster": True},
    },
    "clientAuthentication": {"sasl": {"iam": True}, "unauthenticated": False},
}


def test_msk_requires_tls_kms_and_iam_auth():
    assert aws.check_msk(res("aws:msk/cluster:Cluster", MSK_OK)) == []
    bad = {
        "encryptionInfo": {"encryptionInTransit": {"clientBroker": "TLS_PLAINTEXT"}},
        "clientAuthentication": {"unauthenticated": True},
    }
    msgs = aws.check_msk(res("aws:msk/cluster:Cluster", bad, name="kafka"))
    assert len(msgs) == 4
    assert msgs[0] == (
        "aws:msk/cluster:Cluster 'kafka': client-broker encryption must be TLS "
        "(encryptionInfo.encryptionInTransit.clientBroker)"
    )


def test_elasticache_requires_tls_auth_and_encryption_at_rest():
    ok = {"transitEncryptionEnabled": True, "atRestEncryptionEnabled": True, "authToken": SECRET}
    assert aws.check_elasticache(res("aws:elasticache/replicationGroup:ReplicationGroup", ok)) == []
    msgs = aws.check_elasticache(
        res("aws:elasticache/replicationGroup:ReplicationGroup", {"transitEncryptionEnabled": True})
    )
    assert [m.split(": ", 1)[1] for m in msgs] == [
        "enable encryption at rest (atRestEncryptionEnabled=true)",
        "require AUTH (authToken from a Pulumi secret, or RBAC userGroupIds)",
    ]


def test_iam_rejects_wildcard_admin_and_admin_attachments():
    narrow = json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]})
    admin = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    assert aws.check_iam_wildcards(res("aws:iam/rolePolicy:RolePolicy", {"policy": narrow})) == []
    assert len(aws.check_iam_wildcards(res("aws:iam/rolePolicy:RolePolicy", {"policy": admin}))) == 1
    attach = res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        name="a",
    )
    assert aws.check_no_admin_attachment(attach) == [
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment 'a': attaches AdministratorAccess; grant "
        "least-privilege policies instead"
    ]


def test_security_groups_allow_only_443_from_the_world():
    ok = {
        "ingress": [
            {"fromPort": 443, "toPort": 443, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]},
            {"fromPort": 9098, "toPort": 9098, "protocol": "tcp", "cidrBlocks": ["10.0.0.0/16"]},
        ]
    }
    assert aws.check_security_group(res("aws:ec2/securityGroup:SecurityGroup", ok)) == []
    bad = {"ingress": [{"fromPort": 22, "toPort": 22, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}]}
    assert len(aws.check_security_group(res("aws:ec2/securityGroup:SecurityGroup", bad))) == 1


def _bucket_set(*, tls=True, public=True, enc=True, lifecycle=True, versioning=True, component="lake"):
    b = res("aws:s3/bucket:Bucket", {"tags": {**TAGS, "component": component}}, name="lake")
    dep = {"bucket": [b.urn]}
    out = [b]
    if enc:
        out.append(
            res(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
                deps=dep,
            )
        )
    if public:
        out.append(
            res(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                dict.fromkeys(
                    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
                ),
                deps=dep,
            )
        )
    if tls:
        policy = {
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "s3:*",
                    "Principal": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ]
        }
        out.append(res("aws:s3/bucketPolicy:BucketPolicy", {"policy": json.dumps(policy)}, deps=dep))
    if lifecycle:
        out.append(
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                {"rules": [{"transitions": [{"days": 30, "storageClass": "STANDARD_IA"}]}]},
                deps=dep,
            )
        )
    if versioning:
        out.append(
            res(
                "aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Enabled"}}, deps=dep
            )
        )
    return out


@pytest.mark.parametrize(
    ("missing", "rule", "message"),
    [
        ("enc", aws.check_s3_encryption, "no default encryption"),
        ("public", aws.check_s3_public_access, "public access is not fully blocked"),
        ("tls", aws.check_s3_tls_only, "no TLS-only bucket policy"),
        ("lifecycle", aws.check_s3_lifecycle, "data bucket without lifecycle tiers"),
        ("versioning", aws.check_s3_versioning, "lake bucket without versioning"),
    ],
)
def test_s3_stack_rules_pass_a_complete_bucket_and_name_what_is_missing(missing, rule, message):
    assert rule(_bucket_set()) == []
    kwargs: dict[str, Any] = {missing: False}
    msgs = rule(_bucket_set(**kwargs))
    assert len(msgs) == 1
    assert msgs[0].startswith(f"aws:s3/bucket:Bucket 'lake': {message}")


def test_snowflake_time_travel_range_per_environment():
    db = "snowflake:index/database:Database"
    assert platform.check_retention(res(db, {"dataRetentionTimeInDays": 1}, stack="dev")) == []
    assert platform.check_retention(res(db, {"dataRetentionTimeInDays": 30}, stack="prod")) == []
    assert platform.check_retention(res(db, {"dataRetentionTimeInDays": 7}, stack="dev", name="RAW")) == [
        "snowflake:index/database:Database 'RAW': time travel dataRetentionTimeInDays=7 is outside 0-1 days "
        "allowed in stack 'dev'; set warehouse.retentionDays in Pulumi.dev.yaml"
    ]


def test_snowflake_warehouses_auto_suspend_and_have_a_monitor():
    wh = "snowflake:index/warehouse:Warehouse"
    assert platform.check_warehouse(res(wh, {"autoSuspend": 60, "resourceMonitor": "RM"})) == []
    assert len(platform.check_warehouse(res(wh, {"autoSuspend": 3600}))) == 2


def test_no_privileged_role_for_service_users():
    g = "snowflake:index/grantAccountRole:GrantAccountRole"
    assert platform.check_privileged_grants(res(g, {"roleName": "TRANSFORMER", "userName": "SVC"})) == []
    assert len(platform.check_privileged_grants(res(g, {"roleName": "ACCOUNTADMIN", "userName": "SVC"}))) == 1


def test_every_pii_class_of_the_schemas_needs_a_masking_policy():
    classes = platform.pii_classes_in_schemas()
    assert classes == {"ip_hash", "visitor_id", "geo", "free_text"}
    mp = "snowflake:index/maskingPolicy:MaskingPolicy"
    full = [res(mp, {"name": f"MASK_{c.upper()}_VARCHAR"}, name=c) for c in classes]
    assert platform.check_pii_masking(full) == []
    partial = [r for r in full if r.name != "geo"]
    assert platform.check_pii_masking(partial) == [
        "PII class 'geo' from schemas/ has no masking policy MASK_GEO_*; add it in infra/warehouse.py"
    ]


def test_kubernetes_workloads_need_requests_limits_and_no_literal_secrets():
    good = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "collector",
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "env": [
                                {"name": "IP_HASH_SALT", "valueFrom": {"secretKeyRef": {"name": "s", "key": "salt"}}}
                            ],
                        }
                    ]
                }
            }
        }
    }
    dep = "kubernetes:apps/v1:Deployment"
    assert platform.check_k8s_resources(res(dep, good)) == []
    assert platform.check_k8s_secrets(res(dep, good)) == []
    bad = {
        "spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "DB_PASSWORD", "value": "x"}]}]}}}
    }
    assert platform.check_k8s_resources(res(dep, bad, name="d")) == [
        "kubernetes:apps/v1:Deployment 'd': container 'c' lacks requests for cpu and memory",
        "kubernetes:apps/v1:Deployment 'd': container 'c' lacks limits for cpu and memory",
    ]
    assert len(platform.check_k8s_secrets(res(dep, bad))) == 1
    secret = "kubernetes:core/v1:Secret"
    assert platform.check_k8s_secrets(res(secret, {"stringData": {"salt": SECRET}})) == []
    assert len(platform.check_k8s_secrets(res(secret, {"stringData": {"salt": "plain"}}))) == 1


def test_a_whole_secret_in_envfrom_or_a_volume_without_items_is_refused():
    def pod(container: dict, volumes: list | None = None) -> dict:
        return {"spec": {"template": {"spec": {"containers": [{"name": "c", **container}], "volumes": volumes or []}}}}

    dep = "kubernetes:apps/v1:Deployment"
    by_key = pod(
        {
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "env": [{"name": "SALT", "valueFrom": {"secretKeyRef": {"name": "s", "key": "salt"}}}],
        },
        [{"name": "key", "secret": {"secretName": "s", "items": [{"key": "k", "path": "key.p8"}]}}],
    )
    assert platform.check_k8s_secret_scope(res(dep, by_key)) == []
    bulk = pod({"envFrom": [{"secretRef": {"name": "s"}}]}, [{"name": "all", "secret": {"secretName": "s"}}])
    assert platform.check_k8s_secret_scope(res(dep, bulk, name="d")) == [
        "kubernetes:apps/v1:Deployment 'd': container 'c' takes every key of Secret 's' through envFrom; "
        "reference the keys it uses with valueFrom.secretKeyRef",
        "kubernetes:apps/v1:Deployment 'd': volume 'all' mounts every key of Secret 's'; list the keys it needs in items",
    ]
    assert {r.name: r.level for r in pack.RULES}["k8s-secrets-by-key"] == "mandatory"
    spark = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"
    app = {"spec": {"driver": {"envFrom": [{"secretRef": {"name": "s"}}]}, "executor": {"env": []}}}
    assert platform.check_k8s_secret_scope(res(spark, app, name="stream")) == [
        f"{spark} 'stream': container 'driver' takes every key of Secret 's' through envFrom; "
        "reference the keys it uses with valueFrom.secretKeyRef"
    ]
    assert "k8s-secrets-by-key" in [r.name for r in pack.RULES if r.applies(res(spark, app))]


def test_sizes_are_mandatory_in_dev_and_advisory_in_prod():
    rules = {r.name: r for r in pack.RULES}
    ng = "aws:eks/nodeGroup:NodeGroup"
    big = {"instanceTypes": ["m7g.16xlarge"]}
    assert rules["allowed-sizes-dev"].level == "mandatory"
    assert rules["allowed-sizes-prod"].level == "advisory"
    assert len(rules["allowed-sizes-dev"].check(res(ng, big, stack="dev"))) == 1
    assert rules["allowed-sizes-dev"].check(res(ng, big, stack="prod")) == []
    assert rules["allowed-sizes-dev"].check(res(ng, {"instanceTypes": ["t3.large"]}, stack="dev")) == []


def test_stateful_prod_resources_must_be_protected():
    b = "aws:s3/bucket:Bucket"
    assert platform.check_protected(res(b, {}, stack="prod", protect=True)) == []
    assert platform.check_protected(res(b, {}, stack="dev")) == []
    assert len(platform.check_protected(res(b, {}, stack="prod"))) == 1


def _opts():
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=False,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def test_crossguard_wrappers_report_violations():
    policies = {p.name: p for p in pack.policies()}
    assert len(policies) == len(pack.RULES) + len(pack.STACK_RULES)
    msk = policies["msk-encryption-and-iam-auth"]
    assert isinstance(msk, ResourceValidationPolicy)
    seen: list[str] = []
    args = ResourceValidationArgs(
        "aws:msk/cluster:Cluster",
        {"clientAuthentication": {"unauthenticated": True}},
        "urn:pulumi:dev::p::aws:msk/cluster:Cluster::k",
        "k",
        _opts(),
        None,
        None,
    )
    msk.validate(args, lambda message, urn=None: seen.append(message))  # type: ignore[arg-type]
    assert "unauthenticated access must be off" in " ".join(seen)
    stack_policy = policies["s3-versioning"]
    assert isinstance(stack_policy, StackValidationPolicy)
    bucket = PolicyResource(
        "aws:s3/bucket:Bucket",
        {"tags": {"component": "lake"}},
        "urn:pulumi:dev::p::b::lake",
        "lake",
        _opts(),
        None,
        None,
        [],
        {},
    )
    stack_seen: list[str] = []
    stack_policy.validate(StackValidationArgs([bucket], None), lambda m, urn=None: stack_seen.append(m))  # type: ignore[arg-type]
    assert stack_seen == [
        "aws:s3/bucket:Bucket 'lake': lake bucket without versioning; add BucketVersioning status=Enabled"
    ]


def test_a_path_to_a_mounted_secret_is_not_a_literal_secret():
    dep = "kubernetes:apps/v1:Deployment"
    spec = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "d",
                            "env": [
                                {
                                    "name": "AA_DASHBOARD_SNOWFLAKE_PRIVATE_KEY_PATH",
                                    "value": "/var/run/secrets/snowflake/key.p8",
                                }
                            ],
                        }
                    ]
                }
            }
        }
    }
    assert platform.check_k8s_secrets(res(dep, spec)) == []


def _trail(prefixes: list[str], *, read_only: bool = False, validation: bool = True) -> Resource:
    fields = [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
        {"field": "resources.ARN", "startsWiths": prefixes},
    ]
    if read_only:
        fields.append({"field": "readOnly", "equals": ["true"]})
    props = {"advancedEventSelectors": [{"fieldSelectors": fields}], "enableLogFileValidation": validation}
    return res("aws:cloudtrail/trail:Trail", {**props, "kmsKeyId": "arn:aws:kms:::key/audit"}, name="lake-data-events")


def test_lake_event_buckets_need_cloudtrail_data_events_for_reads_and_writes():
    def bucket(name: str) -> Resource:
        return res("aws:s3/bucket:Bucket", {"arn": f"arn:aws:s3:::{name}", "tags": {"component": "lake"}}, name=name)

    buckets = [bucket("lake-raw"), bucket("lake-enriched"), bucket("lake-artifacts"), bucket("lake-audit")]
    covered = _trail(["arn:aws:s3:::lake-raw/", "arn:aws:s3:::lake-enriched/"])
    assert aws.check_lake_data_events([*buckets, covered]) == []  # artifacts and the audit bucket hold no events
    message = (
        "aws:s3/bucket:Bucket 'lake-enriched': no CloudTrail data events (object reads and writes) on its objects; "
        "keep lake.cloudTrailDataEvents on (infra/lake.py adds the bucket to the trail's selector)"
    )
    assert aws.check_lake_data_events([*buckets, _trail(["arn:aws:s3:::lake-raw/"])]) == [message]
    reads_only = _trail(["arn:aws:s3:::lake-raw/", "arn:aws:s3:::lake-enriched/"], read_only=True)
    assert len(aws.check_lake_data_events([*buckets, reads_only])) == 2  # writes must be recorded too
    unvalidated = _trail(["arn:aws:s3:::lake-raw/", "arn:aws:s3:::lake-enriched/"], validation=False)
    assert aws.check_lake_data_events([*buckets, unvalidated]) == [
        "aws:cloudtrail/trail:Trail 'lake-data-events': audit trail needs enableLogFileValidation=true and a KMS key "
        "(kmsKeyId)"
    ]
