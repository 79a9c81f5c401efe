"""Streaming: the Spark Structured Streaming job as a spark-operator ``SparkApplication``.

Creates: one ``sparkoperator.k8s.io/v1beta2`` ``SparkApplication`` running the stream (Kafka →
Redis + lake + dead letters) in the ``analytics`` namespace under the ``stream`` service account
(IRSA), with driver/executor sizes from config, the Kafka and MSK IAM auth packages, S3A checkpoints
in the lake bucket, and ``restartPolicy: Always`` so the operator restarts a failed stream.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from infra.component import PlatformComponent, Settings

SECRET = "platform-secrets"  # infra/workloads.py's Secret
LAKE_EVENTS_PREFIX = "events"  # the stream's lake under the enriched bucket; Snowpipe's stage reads it


def lake_events_uri(bucket: pulumi.Input[str]) -> pulumi.Output[str]:
    """Where the stream writes enriched events (AA_LAKE_DIR): every reader of the lake takes this."""
    return pulumi.Output.concat("s3a://", bucket, "/", LAKE_EVENTS_PREFIX)


class StreamingConfig(Settings):
    spark_version: str = Field(default="4.3.0", pattern=r"^\d+\.\d+\.\d+$")
    main_file: str = "local:///app/pipelines/streaming/main.py"
    driver_cores: int = Field(ge=1, le=16)
    # Kubernetes CPU requests of the pods when below the Spark cores (``coreRequest``): a small
    # stream idles between triggers, so dev packs it onto small nodes; unset = the cores.
    driver_core_request: str | None = Field(default=None, pattern=r"^\d+m$")
    driver_memory: str = Field(pattern=r"^\d+[mg]$")
    executor_instances: int = Field(ge=1, le=100)
    executor_cores: int = Field(ge=1, le=16)
    executor_core_request: str | None = Field(default=None, pattern=r"^\d+m$")
    executor_memory: str = Field(pattern=r"^\d+[mg]$")
    shuffle_partitions: int = Field(default=4, ge=1)
    # Spark 4 / Scala 2.13, as the image's pyspark; the Kafka connector matches the local pom
    # (pipelines/local/spark-kafka-pom.xml: Maven Central has no 4.3.0 connector yet).
    packages: tuple[str, ...] = (
        "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0",
        "org.apache.spark:spark-avro_2.13:4.2.0",  # from_avro: the stream decodes records in the JVM
        "software.amazon.msk:aws-msk-iam-auth:2.2.0",
        "org.apache.hadoop:hadoop-aws:3.4.1",
    )


class Streaming(PlatformComponent):
    module = "streaming"

    def __init__(
        self,
        name: str,
        config: StreamingConfig,
        image: pulumi.Input[str],
        checkpoint_bucket: pulumi.Input[str],
        env: Mapping[str, pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        locations = {
            # read by pipelines/streaming/main.py when the application passes no arguments
            "AA_LAKE_DIR": lake_events_uri(checkpoint_bucket),
            "AA_CHECKPOINT_DIR": pulumi.Output.concat("s3a://", checkpoint_bucket, "/_checkpoints/stream"),
        }
        redis_host = env.get("AA_REDIS_HOST")
        redis = (
            [  # the password by reference (never a value in the manifest), then the URL built from it
                {"name": "AA_REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "AA_REDIS_PASSWORD"}}},
                {"name": "AA_REDIS_URL", "value": pulumi.Output.concat("rediss://:$(AA_REDIS_PASSWORD)@", redis_host, ":6379/0")},
            ]
            if redis_host is not None
            else []
        )  # fmt: skip
        env_list = [*redis, *({"name": k, "value": v} for k, v in sorted({**env, **locations}.items()))]
        self.application = k8s.apiextensions.CustomResource(
            f"{name}-stream",
            api_version="sparkoperator.k8s.io/v1beta2",
            kind="SparkApplication",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="stream", namespace="analytics"),
            spec={
                "type": "Python",
                "pythonVersion": "3",
                "mode": "cluster",
                "image": image,
                "mainApplicationFile": config.main_file,
                "sparkVersion": config.spark_version,
                "deps": {"packages": list(config.packages)},
                "sparkConf": {
                    "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
                    "spark.sql.streaming.checkpointLocation": pulumi.Output.concat(
                        "s3a://", checkpoint_bucket, "/_checkpoints/stream"
                    ),
                    "spark.hadoop.fs.s3a.aws.credentials.provider": (
                        "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"
                    ),
                    "spark.sql.streaming.stateStore.providerClass": (
                        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
                    ),
                    # as pipelines/streaming/job.build_spark sets them (the deduplication's cost per event)
                    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
                    "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
                },
                "restartPolicy": {
                    "type": "Always",
                    "onFailureRetryInterval": 30,
                    "onSubmissionFailureRetryInterval": 60,
                },
                "driver": {
                    "cores": config.driver_cores,
                    "memory": config.driver_memory,
                    "serviceAccount": "stream",
                    "env": env_list,
                    "labels": {"app": "stream"},
                    **({"coreRequest": config.driver_core_request} if config.driver_core_request else {}),
                },
                "executor": {
                    "instances": config.executor_instances,
                    "cores": config.executor_cores,
                    "memory": config.executor_memory,
                    "serviceAccount": "stream",
                    "env": env_list,
                    "labels": {"app": "stream"},
                    **({"coreRequest": config.executor_core_request} if config.executor_core_request else {}),
                },
            },
            opts=self.child(),
        )
        self.register_outputs({"application": "stream"})
