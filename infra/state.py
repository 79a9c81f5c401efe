"""State: the platform's own state — the Pulumi state backend and the configuration backups.

Creates: a KMS key (rotation on); the Pulumi state backend bucket under a fixed name (it must be
known before any stack can be read: ``pulumi login s3://<stateBucket>``) and the configuration
backup bucket (``python -m pipelines.ops.backup export`` writes there from the ``backup`` CronJob).
Both: versioning (a deleted or overwritten checkpoint of the state stays recoverable as a
noncurrent version), SSE-KMS with bucket keys, all four public-access blocks, bucket-owner-enforced
ownership, a TLS-only bucket policy, noncurrent versions kept ``noncurrentVersionDays``, backups
expiring after ``backupRetentionDays``. With ``replication.enabled`` both are replicated (delete
markers included) to KMS-encrypted replicas in the DR region, so a region loss keeps the stack
state and the last backups.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
from pydantic import Field

from infra.component import PlatformComponent, Settings
from infra.lake import Replication, ReplicationConfig, SecureBucket, tls_only_statement

BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class StateConfig(Settings):
    """``affiliate-analytics:state`` in the stack file."""

    state_bucket: str = Field(pattern=BUCKET_NAME, description="Pulumi backend bucket (fixed name)")
    backup_bucket: str = Field(pattern=BUCKET_NAME, description="configuration backups (fixed name)")
    noncurrent_version_days: int = Field(default=90, ge=7)
    backup_retention_days: int = Field(default=90, ge=7)
    force_destroy: bool = False
    replication: ReplicationConfig = ReplicationConfig()


class _Bucket(SecureBucket):
    """The lake's secure bucket with a fixed name, a TLS-only policy and housekeeping rules."""

    def __init__(
        self,
        owner: State,
        name: str,
        bucket: str,
        key: aws.kms.Key,
        force: bool,
        provider: pulumi.ProviderResource | None = None,
    ) -> None:
        super().__init__(owner, name, key, force, provider, bucket_name=bucket)
        aws.s3.BucketPolicy(
            name,
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(arn)]})
            ),
            opts=owner.child(depends_on=[self.public_access_block], provider=provider),
        )

    def lifecycle(
        self,
        owner: State,
        noncurrent_days: int,
        expire_days: int | None,
        provider: pulumi.ProviderResource | None = None,
    ) -> None:
        aws.s3.BucketLifecycleConfiguration(
            self.name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="housekeeping",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=noncurrent_days
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days)
                    if expire_days
                    else None,
                )
            ],
            opts=owner.child(depends_on=[self.versioning], provider=provider),
        )


class State(PlatformComponent):
    module = "state"

    def __init__(
        self,
        name: str,
        config: StateConfig,
        replica_provider: pulumi.ProviderResource | None = None,
        opts: pulumi.ResourceOptions | None = None,
        protect_stateful: bool = False,
    ) -> None:
        super().__init__(name, opts, protect_stateful)
        if config.replication.enabled and replica_provider is None:
            raise ValueError("state.replication is enabled but no replica-region provider was given")
        self.kms_key = aws.kms.Key(
            f"{name}-key",
            description="SSE-KMS key of the Pulumi state and configuration backup buckets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=self.child(stateful=True),
        )
        aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/{name}-state", target_key_id=self.kms_key.key_id, opts=self.child()
        )
        days = config.noncurrent_version_days
        state = _Bucket(self, f"{name}-pulumi", config.state_bucket, self.kms_key, config.force_destroy)
        state.lifecycle(self, days, None)  # the current state never expires
        backups = _Bucket(self, f"{name}-backups", config.backup_bucket, self.kms_key, config.force_destroy)
        backups.lifecycle(self, days, config.backup_retention_days)
        self.state_bucket = state.bucket
        self.backup_bucket = backups.bucket
        self.replicas: dict[str, aws.s3.Bucket] = {}
        if config.replication.enabled and replica_provider is not None:
            replication = Replication(self, name, "state and backup", self.kms_key.arn, replica_provider)
            for kind, source, expire in (
                ("pulumi", state, None),
                ("backups", backups, config.backup_retention_days),
            ):
                region = config.replication.region
                replica = _Bucket(
                    self,
                    f"{name}-{kind}-replica",
                    f"{config.state_bucket if kind == 'pulumi' else config.backup_bucket}-{region}",
                    replication.key,
                    config.force_destroy,
                    replica_provider,
                )
                replica.lifecycle(self, days, expire, replica_provider)
                self.replicas[kind] = replica.bucket
                replication.replicate(
                    kind, "state-dr", source.bucket, source.versioning, replica.bucket, replica.versioning
                )
        self.register_outputs({"state_bucket": self.state_bucket.bucket, "backup_bucket": self.backup_bucket.bucket})
