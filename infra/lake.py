"""Lake: the S3 buckets of the platform.

Creates: a KMS key (rotation on) and buckets ``raw`` (raw event archive), ``enriched`` (the
stream's Parquet, partitioned by event type / date / hour, read by Snowpipe), ``dead-letter``,
``artifacts`` (content-addressed deploy artifacts) and ``access-logs`` (S3 server access logs).
Every bucket: versioning, default encryption (SSE-KMS with bucket keys; SSE-S3 for the access-log
bucket, which S3 server access logging requires), all four public-access blocks, bucket-owner-
enforced ownership, a TLS-only bucket policy and an abort-incomplete-multipart-upload rule.
Event buckets get one lifecycle rule per event type: Standard → Standard-IA → Glacier Instant
Retrieval → Deep Archive → expiry after the schema's ``retention_days`` (tiers at or after the
expiry are dropped). With ``replication.enabled`` the raw and enriched buckets are replicated to
KMS-encrypted replicas in a second region.

Access audit (``cloudTrailDataEvents``, on by default): a CloudTrail trail recording S3 object-level
reads and writes on the event buckets (raw, enriched, dead-letter; not the stream's checkpoints)
into a dedicated ``audit`` bucket — its own KMS key that only CloudTrail may encrypt with, log-file
validation, a policy that lets only this trail write and nobody delete log objects (lifecycle
expiry after ``auditLogDays`` is the only deletion). runbooks/access-review.md queries it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings

BUCKETS = ("raw", "enriched", "dead-letter", "artifacts", "access-logs")
EVENT_BUCKETS = ("raw", "enriched")
REPLICATED_BUCKETS = ("raw", "enriched")
# The quality monitor's durable hourly ledger in the enriched bucket (pipelines/quality/store.py):
# written by the quality CronJob, read by Snowflake as TRANSFORMED.QUALITY.LEDGER (an external table).
QUALITY_LEDGER_PREFIX = "quality/ledger"


class TiersConfig(Settings):
    standard_ia_days: int = Field(default=30, ge=30)
    glacier_ir_days: int = Field(default=90, ge=1)
    deep_archive_days: int = Field(default=365, ge=1)

    @model_validator(mode="after")
    def _increasing(self) -> TiersConfig:
        if not self.standard_ia_days < self.glacier_ir_days < self.deep_archive_days:
            raise ValueError("tiers must increase: standardIaDays < glacierIrDays < deepArchiveDays")
        return self


class ReplicationConfig(Settings):
    enabled: bool = False
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @model_validator(mode="after")
    def _region_when_enabled(self) -> ReplicationConfig:
        if self.enabled and not self.region:
            raise ValueError("region is required when replication is enabled")
        return self


class LakeConfig(Settings):
    tiers: TiersConfig = TiersConfig()
    event_prefix: str = Field(default="events/event_type={event_type}/", pattern=r"\{event_type\}")
    abort_incomplete_upload_days: int = Field(default=7, ge=1, le=30)
    noncurrent_version_days: int = Field(default=30, ge=1)
    access_log_days: int = Field(default=365, ge=1)
    dead_letter_days: int | None = Field(default=None, ge=1)
    force_destroy: bool = False
    replication: ReplicationConfig = ReplicationConfig()
    cloud_trail_data_events: bool = True
    audit_log_days: int = Field(default=400, ge=90)
    # the stream's per-batch bookkeeping beside the events (_commits/, _ledger/: one small file per
    # micro-batch each); needed for recent batches only (retries, checkpoint repair, the Redis TTL)
    stream_bookkeeping_days: int = Field(default=14, ge=3)


@dataclass(frozen=True)
class Transition:
    days: int
    storage_class: str


def tiers_before(tiers: TiersConfig, expire_after_days: int | None) -> list[Transition]:
    """The lifecycle transitions that happen strictly before expiry."""
    all_tiers = [
        Transition(tiers.standard_ia_days, "STANDARD_IA"),
        Transition(tiers.glacier_ir_days, "GLACIER_IR"),
        Transition(tiers.deep_archive_days, "DEEP_ARCHIVE"),
    ]
    if expire_after_days is None:
        return all_tiers
    return [t for t in all_tiers if t.days < expire_after_days]


def tls_only_statement(bucket_arn: str) -> dict[str, object]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


class SecureBucket:
    """A bucket with versioning, encryption, public-access blocks and ownership controls."""

    def __init__(
        self,
        owner: PlatformComponent,
        name: str,
        kms_key: aws.kms.Key | None,
        force_destroy: bool,
        provider: pulumi.ProviderResource | None = None,
        bucket_name: str | None = None,
    ) -> None:
        """``bucket_name`` fixes the S3 name (e.g. the Pulumi state bucket); default: generated."""
        opts = owner.child(provider=provider)
        self.name = name
        self.bucket = aws.s3.Bucket(
            name, bucket=bucket_name, force_destroy=force_destroy, opts=owner.child(provider=provider, stateful=True)
        )
        self.versioning = aws.s3.BucketVersioning(
            name,
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=opts,
        )
        if kms_key is not None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=kms_key.arn
            )
        else:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=kms_key is not None,
                )
            ],
            opts=opts,
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        )


class Lake(PlatformComponent):
    module = "lake"

    def __init__(
        self,
        name: str,
        config: LakeConfig,
        retention_days: Mapping[str, int],
        replica_provider: pulumi.ProviderResource | None = None,
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        """``retention_days`` maps event type to the schema's ``retention_days`` (``dead_letter`` too)."""
        super().__init__(name, opts, protect_stateful)
        if config.replication.enabled and replica_provider is None:
            raise ValueError("lake replication is enabled but no replica-region provider was given")
        self.kms_key = aws.kms.Key(
            f"{name}-key",
            description="SSE-KMS key of the data lake buckets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=self.child(stateful=True),
        )
        aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/{name}-lake", target_key_id=self.kms_key.key_id, opts=self.child()
        )

        self.buckets: dict[str, aws.s3.Bucket] = {}
        secure: dict[str, SecureBucket] = {}
        for kind in BUCKETS:
            key = None if kind == "access-logs" else self.kms_key
            secure[kind] = SecureBucket(self, f"{name}-{kind}", key, config.force_destroy)
            self.buckets[kind] = secure[kind].bucket

        logs = self.buckets["access-logs"]
        self._bucket_policy(
            secure["access-logs"],
            others=[self.buckets[k].arn for k in BUCKETS if k != "access-logs"],
            extra=lambda arn, sources: [
                {
                    "Sid": "S3ServerAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{arn}/*",
                    "Condition": {"ArnLike": {"aws:SourceArn": sources}},
                }
            ],
        )
        for kind in BUCKETS:
            if kind == "access-logs":
                continue
            self._bucket_policy(secure[kind])
            aws.s3.BucketLogging(
                f"{name}-{kind}",
                bucket=self.buckets[kind].id,
                target_bucket=logs.id,
                target_prefix=f"{kind}/",
                opts=self.child(),
            )

        abort = aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=config.abort_incomplete_upload_days
        )
        noncurrent = aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=config.noncurrent_version_days
        )

        def housekeeping() -> aws.s3.BucketLifecycleConfigurationRuleArgs:
            return aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="housekeeping",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                abort_incomplete_multipart_upload=abort,
                noncurrent_version_expiration=noncurrent,
            )

        def expiring(rule_id: str, prefix: str, days: int | None) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
            return aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=rule_id,
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                transitions=[
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=t.days, storage_class=t.storage_class)
                    for t in tiers_before(config.tiers, days)
                ],
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days) if days else None,
            )

        event_types = sorted(t for t in retention_days if t != "dead_letter")
        event_rules: dict[str, list[aws.s3.BucketLifecycleConfigurationRuleArgs]] = {}
        for kind in EVENT_BUCKETS:
            rules = [housekeeping()] + [
                expiring(
                    f"tier-{event_type}",
                    config.event_prefix.format(event_type=event_type),
                    retention_days[event_type],
                )
                for event_type in event_types
            ]
            base = config.event_prefix[: config.event_prefix.split("{", 1)[0].rfind("/") + 1]  # "events/"
            rules += [
                expiring(f"expire-{folder.strip('_')}", f"{base}{folder}/", config.stream_bookkeeping_days)
                for folder in ("_commits", "_ledger")
            ]
            self._lifecycle(secure[kind], rules)
            event_rules[kind] = rules
        dead_letter_days = config.dead_letter_days or retention_days.get("dead_letter")
        self._lifecycle(secure["dead-letter"], [housekeeping(), expiring("tier-all", "", dead_letter_days)])
        self._lifecycle(secure["artifacts"], [housekeeping()])
        self._lifecycle(secure["access-logs"], [housekeeping(), expiring("tier-all", "", config.access_log_days)])

        self.replicas: dict[str, aws.s3.Bucket] = {}
        if config.replication.enabled and replica_provider is not None:
            self._replicate(name, config, secure, replica_provider, event_rules)

        self.trail: aws.cloudtrail.Trail | None = None
        self.audit_bucket: aws.s3.Bucket | None = None
        if config.cloud_trail_data_events:
            self._audit_trail(name, config, logs)

        self.bucket_names = {kind: bucket.bucket for kind, bucket in self.buckets.items()}
        self.bucket_arns = {kind: bucket.arn for kind, bucket in self.buckets.items()}
        self.register_outputs({"bucket_names": self.bucket_names, "kms_key_arn": self.kms_key.arn})

    def _audit_trail(self, name: str, config: LakeConfig, access_logs: aws.s3.Bucket) -> None:
        """CloudTrail S3 data events of the event buckets into a locked-down audit bucket."""
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        trail_name = f"{name}-data-events"
        trail_arn = pulumi.Output.concat(
            "arn:aws:cloudtrail:", region.region, ":", identity.account_id, ":trail/", trail_name
        )
        key = aws.kms.Key(
            f"{name}-audit-key",
            description="SSE-KMS key of the CloudTrail audit bucket",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(identity.account_id, trail_arn).apply(
                lambda a: json.dumps(audit_key_policy(str(a[0]), str(a[1])))
            ),
            opts=self.child(stateful=True),
        )
        audit = SecureBucket(self, f"{name}-audit", key, config.force_destroy)
        self.audit_bucket = audit.bucket
        self._bucket_policy(
            audit,
            others=[trail_arn],
            extra=lambda arn, rest: audit_bucket_statements(arn, rest[0]),
        )
        aws.s3.BucketLogging(
            f"{name}-audit", bucket=audit.bucket.id, target_bucket=access_logs.id, target_prefix="audit/",
            opts=self.child(),
        )  # fmt: skip
        self._lifecycle(
            audit,
            [
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="tier-all",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=t.days, storage_class=t.storage_class
                        )
                        for t in tiers_before(config.tiers, config.audit_log_days)
                    ],
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=config.audit_log_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=config.noncurrent_version_days
                    ),
                )
            ],
        )
        watched = [self.buckets[k].arn for k in AUDITED_BUCKETS]
        checkpoints = self.buckets["enriched"].arn
        self.trail = aws.cloudtrail.Trail(
            f"{name}-data-events",
            name=trail_name,
            s3_bucket_name=audit.bucket.id,
            s3_key_prefix="cloudtrail",
            kms_key_id=key.arn,
            enable_log_file_validation=True,
            include_global_service_events=False,
            is_multi_region_trail=False,
            advanced_event_selectors=[
                aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                    name="Object-level reads and writes on the lake's event buckets",
                    field_selectors=[
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=["Data"]
                        ),
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="resources.type", equals=["AWS::S3::Object"]
                        ),
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="resources.ARN",
                            starts_withs=[pulumi.Output.concat(arn, "/") for arn in watched],
                            not_starts_withs=[pulumi.Output.concat(checkpoints, "/_checkpoints/")],
                        ),
                    ],
                )
            ],
            opts=self.child(depends_on=[audit.public_access_block]),
        )

    def _bucket_policy(
        self,
        secure: SecureBucket,
        others: Sequence[pulumi.Output[str]] = (),
        extra: Callable[[str, list[str]], list[dict[str, object]]] | None = None,
        provider: pulumi.ProviderResource | None = None,
    ) -> None:
        """TLS-only bucket policy; ``extra`` adds statements given the bucket ARN and ``others``' ARNs."""

        def document(arns: list[str]) -> str:
            arn, rest = arns[0], arns[1:]
            statements = [tls_only_statement(arn), *(extra(arn, rest) if extra else [])]
            return json.dumps({"Version": "2012-10-17", "Statement": statements})

        aws.s3.BucketPolicy(
            secure.name,
            bucket=secure.bucket.id,
            policy=pulumi.Output.all(secure.bucket.arn, *others).apply(document),
            opts=self.child(depends_on=[secure.public_access_block], provider=provider),
        )

    def _lifecycle(
        self,
        secure: SecureBucket,
        rules: list[aws.s3.BucketLifecycleConfigurationRuleArgs],
        provider: pulumi.ProviderResource | None = None,
    ) -> None:
        aws.s3.BucketLifecycleConfiguration(
            secure.name,
            bucket=secure.bucket.id,
            rules=rules,
            opts=self.child(depends_on=[secure.versioning], provider=provider),
        )

    def _replicate(
        self,
        name: str,
        config: LakeConfig,
        secure: dict[str, SecureBucket],
        provider: pulumi.ProviderResource,
        rules: Mapping[str, list[aws.s3.BucketLifecycleConfigurationRuleArgs]],
    ) -> None:
        replication = Replication(self, name, "lake", self.kms_key.arn, provider)
        for kind in REPLICATED_BUCKETS:
            replica = SecureBucket(self, f"{name}-{kind}-replica", replication.key, config.force_destroy, provider)
            self._bucket_policy(replica, provider=provider)
            self._lifecycle(replica, rules[kind], provider)  # replicas expire with their sources
            self.replicas[kind] = replica.bucket
            source = secure[kind]
            replication.replicate(
                kind, "lake-dr", source.bucket, source.versioning, replica.bucket, replica.versioning, "STANDARD_IA"
            )


class Replication:
    """Cross-region replication of a component's KMS-encrypted, versioned buckets: one replica key
    (in the replica region) and one role for the component, then one replication rule per bucket.
    Resource names: ``<name>-replica-key``, ``<name>-replication``, ``<name>-replication-<kind>``
    (the role's policy) and ``<name>-<kind>`` (the replication configuration)."""

    def __init__(
        self,
        owner: PlatformComponent,
        name: str,
        what: str,
        source_key_arn: pulumi.Input[str],
        provider: pulumi.ProviderResource,
    ) -> None:
        self.owner, self.name, self.source_key_arn = owner, name, source_key_arn
        self.key = aws.kms.Key(
            f"{name}-replica-key",
            description=f"SSE-KMS key of the {what} replicas",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=owner.child(provider=provider, stateful=True),
        )
        self.role = aws.iam.Role(
            f"{name}-replication",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            opts=owner.child(),
        )

    def replicate(
        self,
        kind: str,
        rule_id: str,
        source: aws.s3.Bucket,
        source_versioning: pulumi.Resource,
        replica: aws.s3.Bucket,
        replica_versioning: pulumi.Resource,
        storage_class: str | None = None,
    ) -> None:
        policy = pulumi.Output.all(source.arn, replica.arn, self.source_key_arn, self.key.arn).apply(
            lambda a: json.dumps(_replication_policy(*[str(x) for x in a]))
        )
        role_policy = aws.iam.RolePolicy(
            f"{self.name}-replication-{kind}", role=self.role.id, policy=policy, opts=self.owner.child()
        )
        aws.s3.BucketReplicationConfig(
            f"{self.name}-{kind}",
            bucket=source.id,
            role=self.role.arn,
            rules=[
                aws.s3.BucketReplicationConfigRuleArgs(
                    id=rule_id,
                    status="Enabled",
                    filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                    delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Enabled"
                    ),
                    source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                        sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                            status="Enabled"
                        )
                    ),
                    destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=replica.arn,
                        storage_class=storage_class,
                        encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                            replica_kms_key_id=self.key.arn
                        ),
                    ),
                )
            ],
            opts=self.owner.child(depends_on=[source_versioning, replica_versioning, role_policy]),
        )


AUDITED_BUCKETS = ("raw", "enriched", "dead-letter")


def audit_key_policy(account_id: str, trail_arn: str) -> dict[str, object]:
    """The account administers the audit key; CloudTrail may only encrypt with it for this trail."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudTrailEncryptsThisTrail",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
        ],
    }


def audit_bucket_statements(bucket_arn: str, trail_arn: str) -> list[dict[str, object]]:
    """Only this trail writes the audit bucket; nobody deletes its objects (lifecycle expiry does)."""
    source = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": source,
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/cloudtrail/*",
            "Condition": source,
        },
        {
            "Sid": "DenyLogDeletion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": f"{bucket_arn}/*",
        },
    ]


def _replication_policy(source: str, destination: str, source_key: str, replica_key: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": source,
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                ],
                "Resource": f"{source}/*",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                "Resource": f"{destination}/*",
            },
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": source_key},
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": replica_key},
        ],
    }
