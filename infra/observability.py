"""Observability: alert routing and the alarms that page someone.

Creates: an SNS topic per severity (``critical``, ``warning``; KMS-encrypted with the AWS-managed
SNS key) with e-mail subscriptions from config, and CloudWatch alarms on MSK disk use and
under-replicated partitions, consumer lag of the stream's group, collector 5xx rate and p99
latency (ALB target metrics), Redis memory, and Snowpipe load errors (a custom metric the quality
monitor publishes). Thresholds come from config; every alarm also notifies on recovery.

Where the workloads' nodes keep office hours (dev), ``mute_off_hours`` silences the alarms on what
is switched off (consumer lag, collector 5xx and latency) with two EventBridge Scheduler schedules
that disable the alarms' actions when the nodes go down and enable them again an hour after they
come up (the stream needs the hour to work off the night's backlog): no page every night.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from pydantic import Field

from infra.component import PlatformComponent, Settings
from infra.kubernetes import OfficeHoursConfig, policy_document, service_trust

WORKLOAD_ALARMS = ("stream-consumer-lag", "collector-5xx", "collector-latency-p99")  # off with the nodes
CATCH_UP_HOURS = 1  # after the nodes are up, before the muted alarms page again

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


class ThresholdsConfig(Settings):
    msk_disk_percent: float = Field(default=80, gt=0, le=100)
    consumer_lag_seconds: float = Field(default=120, gt=0)
    collector_errors_per_minute: float = Field(default=5, ge=0)
    collector_p99_seconds: float = Field(default=0.5, gt=0)
    redis_memory_percent: float = Field(default=80, gt=0, le=100)
    snowpipe_errors: float = Field(default=1, ge=0)


class ObservabilityConfig(Settings):
    alert_emails: tuple[str, ...] = Field(default=(), max_length=10)
    log_retention_days: int = 30
    thresholds: ThresholdsConfig = ThresholdsConfig()
    stream_consumer_group: str = "stream"
    metric_namespace: str = "AffiliateAnalytics"


@dataclass(frozen=True)
class Targets:
    """What the alarms watch: resource identifiers from the other components."""

    msk_cluster_name: pulumi.Input[str]
    broker_count: int
    redis_group_id: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str] | None = None


class Observability(PlatformComponent):
    module = "observability"

    def __init__(
        self,
        name: str,
        config: ObservabilityConfig,
        targets: Targets,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        if config.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"observability.logRetentionDays must be one of {LOG_RETENTION_DAYS}")
        self.topics: dict[str, aws.sns.Topic] = {}
        for severity in ("critical", "warning"):
            topic = aws.sns.Topic(f"{name}-{severity}", kms_master_key_id="alias/aws/sns", opts=self.child())
            for i, email in enumerate(config.alert_emails):
                aws.sns.TopicSubscription(
                    f"{name}-{severity}-{i}", topic=topic.arn, protocol="email", endpoint=email, opts=self.child()
                )
            self.topics[severity] = topic
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-workloads", retention_in_days=config.log_retention_days, opts=self.child()
        )
        t = self._thresholds = config.thresholds
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for broker in range(1, targets.broker_count + 1):
            self._alarm(
                f"msk-disk-broker-{broker}",
                "critical",
                "AWS/Kafka",
                "KafkaDataLogsDiskUsed",
                "Maximum",
                t.msk_disk_percent,
                {"Cluster Name": targets.msk_cluster_name, "Broker ID": str(broker)},
            )
        self._alarm(
            "msk-under-replicated",
            "critical",
            "AWS/Kafka",
            "UnderReplicatedPartitions",
            "Maximum",
            0,
            {"Cluster Name": targets.msk_cluster_name},
        )
        self._alarm(
            "stream-consumer-lag",
            "warning",
            "AWS/Kafka",
            "EstimatedMaxTimeLag",
            "Maximum",
            t.consumer_lag_seconds,
            {"Cluster Name": targets.msk_cluster_name, "Consumer Group": config.stream_consumer_group},
        )
        self._alarm(
            "redis-memory",
            "warning",
            "AWS/ElastiCache",
            "DatabaseMemoryUsagePercentage",
            "Maximum",
            t.redis_memory_percent,
            {"ReplicationGroupId": targets.redis_group_id},
        )
        self._alarm(
            "snowpipe-errors",
            "warning",
            config.metric_namespace,
            "SnowpipeLoadErrors",
            "Sum",
            t.snowpipe_errors,
            {},
            missing="notBreaching",
        )
        if targets.alb_arn_suffix is not None:
            self.watch_load_balancer(targets.alb_arn_suffix)
        self.topic_arns = {k: v.arn for k, v in self.topics.items()}
        self.register_outputs({"topic_arns": self.topic_arns})

    def watch_load_balancer(self, alb_arn_suffix: pulumi.Input[str]) -> None:
        """The collector's ALB alarms. A separate step because the load balancer is created by the
        workloads' Ingress, which is built after this component (it needs the alert topics)."""
        t = self._thresholds
        self._alarm(
            "collector-5xx",
            "critical",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            "Sum",
            t.collector_errors_per_minute,
            {"LoadBalancer": alb_arn_suffix},
            missing="notBreaching",
        )
        self._alarm(
            "collector-latency-p99",
            "warning",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            None,
            t.collector_p99_seconds,
            {"LoadBalancer": alb_arn_suffix},
            extended="p99",
        )

    def mute_off_hours(self, hours: OfficeHoursConfig, keys: Sequence[str] = WORKLOAD_ALARMS) -> None:
        """Disable the actions of ``keys``' alarms when the nodes go down (end_hour on office days),
        enable them ``CATCH_UP_HOURS`` after the nodes come up; weekends stay muted."""
        names = [self.alarms[k].name for k in keys if k in self.alarms]
        arns = [self.alarms[k].arn for k in keys if k in self.alarms]
        role = aws.iam.Role(
            "observability-alarm-mute",
            assume_role_policy=service_trust("scheduler.amazonaws.com"),
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            "observability-alarm-mute",
            role=role.id,
            policy=pulumi.Output.all(*arns).apply(
                lambda a: policy_document(
                    [
                        {
                            "Effect": "Allow",
                            "Action": ["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions"],
                            "Resource": sorted(str(x) for x in a),
                        }
                    ]
                )
            ),
            opts=self.child(),
        )
        days = hours.days.replace("MON-SUN", "*")
        for action, hour in (("disable", hours.end_hour % 24), ("enable", hours.start_hour + CATCH_UP_HOURS)):
            aws.scheduler.Schedule(
                f"observability-alarms-{action}",
                description=f"{action} the actions of the alarms on workloads that keep office hours",
                schedule_expression=f"cron(0 {hour} ? * {days} *)",
                schedule_expression_timezone=hours.time_zone,
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=f"arn:aws:scheduler:::aws-sdk:cloudwatch:{action}AlarmActions",
                    role_arn=role.arn,
                    input=pulumi.Output.all(*names).apply(lambda n: json.dumps({"AlarmNames": [str(x) for x in n]})),
                ),
                opts=self.child(),
            )

    def _alarm(
        self,
        key: str,
        severity: str,
        namespace: str,
        metric: str,
        statistic: str | None,
        threshold: float,
        dimensions: dict[str, pulumi.Input[str]],
        missing: str = "notBreaching",
        extended: str | None = None,
    ) -> None:
        topic = self.topics[severity].arn
        self.alarms[key] = aws.cloudwatch.MetricAlarm(
            f"alarm-{key}",
            alarm_description=f"{severity}: {metric} over {threshold}",
            namespace=namespace,
            metric_name=metric,
            statistic=statistic,
            extended_statistic=extended,
            dimensions=dimensions or None,
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            threshold=threshold,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data=missing,
            alarm_actions=[topic],
            ok_actions=[topic],
            opts=self.child(),
        )
