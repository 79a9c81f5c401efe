"""Workloads: everything that runs in the cluster's ``analytics`` namespace.

Creates (in the namespace the ``Kubernetes`` component made): one service account per workload annotated with its IRSA role; Kubernetes
Secrets from Pulumi secrets (Redis AUTH token, IP-hash salt, Snowflake service-user keys); a
ConfigMap with the platform endpoints; the collector (Deployment, Service, HPA, PodDisruptionBudget
and an ALB Ingress serving ``/v1/*`` and ``/r``); the dashboard (Deployment, Service); the topic-sync
Job (named after the hash of ``topics.yaml`` so a change re-runs it; the topic map is mounted from a
ConfigMap); RBAC letting the Spark driver manage its executors; and the batch ETL/dbt runner, quality monitor
and configuration backup CronJobs. Images and commands come
from config, so the topic-sync command can gain flags without code changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings
from infra.contracts import TopicMap
from infra.lake import QUALITY_LEDGER_PREFIX
from infra.streaming import lake_events_uri

NAMESPACE = "analytics"
SNOWFLAKE_KEY_DIR = "/var/run/secrets/snowflake"
SNOWFLAKE_KEY_SECRETS = {"etl": "SNOWFLAKE_TRANSFORMER_PRIVATE_KEY", "quality": "SNOWFLAKE_MONITOR_PRIVATE_KEY"}
WORKLOADS = ("collector", "dashboard", "stream", "etl", "quality", "topic-sync", "backup")


class ResourcesConfig(Settings):
    cpu: str = Field(pattern=r"^\d+(\.\d+)?m?$")
    memory: str = Field(pattern=r"^\d+(Mi|Gi)$")

    def cpu_limit(self) -> str:
        """Twice the request: bursts are allowed, a runaway pod cannot starve its node."""
        millicores = int(self.cpu[:-1]) if self.cpu.endswith("m") else int(float(self.cpu) * 1000)
        return f"{2 * millicores}m"

    def spec(self) -> k8s.core.v1.ResourceRequirementsArgs:
        return k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": self.cpu, "memory": self.memory},
            limits={"cpu": self.cpu_limit(), "memory": self.memory},
        )


class CollectorConfig(Settings):
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    target_cpu_percent: int = Field(default=60, ge=10, le=95)
    resources: ResourcesConfig
    command: tuple[str, ...] = ("python", "-m", "pipelines.collector")


class OidcConfig(Settings):
    """The identity provider the dashboard's load balancer authenticates users against."""

    issuer: str = Field(pattern=r"^https://")
    authorization_endpoint: str = Field(pattern=r"^https://")
    token_endpoint: str = Field(pattern=r"^https://")
    user_info_endpoint: str = Field(pattern=r"^https://")
    client_id: str = Field(min_length=1)
    scope: str = "openid email"
    session_timeout_s: int = Field(default=3600, ge=60, le=604_800)


class DashboardConfig(Settings):
    replicas: int = Field(ge=1)
    resources: ResourcesConfig
    command: tuple[str, ...] = ("python", "-m", "pipelines.dashboard")
    # With oidc set, an internet-facing ALB authenticates every request (OIDC) before the app;
    # without it the dashboard stays cluster-internal (kubectl port-forward).
    oidc: OidcConfig | None = None


class CronConfig(Settings):
    schedule: str = Field(pattern=r"^(\S+\s+){4}\S+$")
    command: tuple[str, ...] = Field(min_length=1)
    resources: ResourcesConfig


class TopicSyncConfig(Settings):
    command: tuple[str, ...] = ("python", "-m", "pipelines.contracts.topics", "sync")
    extra_args: tuple[str, ...] = ()
    resources: ResourcesConfig = ResourcesConfig(cpu="100m", memory="256Mi")


class WorkloadsConfig(Settings):
    collector: CollectorConfig
    dashboard: DashboardConfig
    etl: CronConfig
    quality: CronConfig
    backup: CronConfig | None = None  # configuration backups (python -m pipelines.ops.backup export)
    topic_sync: TopicSyncConfig = TopicSyncConfig()
    certificate_arn: str | None = Field(default=None, pattern=r"^arn:aws:acm:")

    @model_validator(mode="after")
    def _oidc_needs_https(self) -> WorkloadsConfig:
        if self.dashboard.oidc is not None and not self.certificate_arn:
            raise ValueError("workloads.dashboard.oidc needs workloads.certificateArn: ALB OIDC works on HTTPS only")
        return self


@dataclass(frozen=True)
class WorkloadInputs:
    """Values from other components that the workloads need."""

    image: pulumi.Input[str]
    role_arns: Mapping[str, pulumi.Input[str]]
    settings: Mapping[str, pulumi.Input[str]]
    secrets: Mapping[str, pulumi.Input[str]]
    topics: TopicMap
    replication_factor: int
    min_insync_replicas: int
    dashboard_oidc_client_secret: pulumi.Input[str] | None = None
    # the explorer's read-only Snowflake connection: account, user, role, warehouse, database
    dashboard_snowflake: Mapping[str, pulumi.Input[str]] | None = None
    dashboard_private_key: pulumi.Input[str] | None = None
    # the quality monitor's alert topics by severity (critical, warning): the observability SNS topics
    alert_topic_arns: Mapping[str, pulumi.Input[str]] | None = None
    # Snowflake logins of the batch runner ("etl": TRANSFORMER_SVC) and the quality monitor ("quality":
    # MONITOR_SVC): account, user, role, warehouse; the private key is the platform secret named in
    # SNOWFLAKE_KEY_SECRETS, mounted as a file (never an env value) at SNOWFLAKE_KEY_DIR/key.p8
    snowflake_logins: Mapping[str, Mapping[str, pulumi.Input[str]]] | None = None


class Workloads(PlatformComponent):
    module = "workloads"

    def __init__(
        self,
        name: str,
        config: WorkloadsConfig,
        inputs: WorkloadInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        for workload in WORKLOADS:
            role: dict[str, pulumi.Input[str]] = {}
            if workload in inputs.role_arns:
                role["eks.amazonaws.com/role-arn"] = inputs.role_arns[workload]
            k8s.core.v1.ServiceAccount(
                f"{name}-sa-{workload}",
                metadata=self._meta(workload, annotations=role),
                opts=self.child(),
            )
        # The Spark driver (service account "stream") creates and deletes its executor pods.
        driver_role = k8s.rbac.v1.Role(
            f"{name}-spark-driver",
            metadata=self._meta("spark-driver"),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["pods", "services", "configmaps", "persistentvolumeclaims"],
                    verbs=["create", "get", "list", "watch", "delete", "deletecollection", "patch", "update"],
                )
            ],
            opts=self.child(),
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-spark-driver",
            metadata=self._meta("spark-driver"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name="spark-driver"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="stream", namespace=NAMESPACE)],
            opts=self.child(depends_on=[driver_role]),
        )
        self.secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=self._meta("platform-secrets"),
            string_data={k: pulumi.Output.secret(v) for k, v in inputs.secrets.items()},
            opts=self.child(),
        )
        self.settings = k8s.core.v1.ConfigMap(
            f"{name}-settings", metadata=self._meta("platform-settings"), data=dict(inputs.settings), opts=self.child()
        )
        # Settings for everybody; secrets never in bulk: each workload names the keys it needs
        # (secretKeyRef env vars, key files mounted with items), so a compromised pod holds its own only.
        env_from = [
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name="platform-settings")),
        ]

        def container(
            workload: str,
            command: Sequence[str],
            resources: ResourcesConfig,
            port: int | None = None,
            volume_mounts: Sequence[k8s.core.v1.VolumeMountArgs] = (),
        ) -> k8s.core.v1.ContainerArgs:
            return k8s.core.v1.ContainerArgs(
                name=workload,
                image=inputs.image,
                command=list(command),
                env_from=env_from,
                env=service_env(workload, port) or None,
                volume_mounts=list(volume_mounts) or None,
                resources=resources.spec(),
                ports=[k8s.core.v1.ContainerPortArgs(container_port=port, name="http")] if port else None,
                readiness_probe=k8s.core.v1.ProbeArgs(
                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port=port)
                )
                if port
                else None,
                security_context=k8s.core.v1.SecurityContextArgs(
                    run_as_non_root=True, allow_privilege_escalation=False, read_only_root_filesystem=False
                ),
            )

        def secret(key: str) -> k8s.core.v1.EnvVarSourceArgs:
            return k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name="platform-secrets", key=key)
            )

        def snowflake_login(workload: str) -> Mapping[str, pulumi.Input[str]]:
            """A workload's Snowflake login, when the stack has both the login and its private key."""
            login = (inputs.snowflake_logins or {}).get(workload)
            key = SNOWFLAKE_KEY_SECRETS.get(workload)
            return login if login and key in inputs.secrets else {}

        def snowflake_key_volume(workload: str) -> list[k8s.core.v1.VolumeArgs]:
            if not snowflake_login(workload):
                return []
            item = k8s.core.v1.KeyToPathArgs(key=SNOWFLAKE_KEY_SECRETS[workload], path="key.p8")
            return [
                k8s.core.v1.VolumeArgs(
                    name="snowflake-key",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name="platform-secrets", items=[item], default_mode=0o400
                    ),
                )
            ]

        def service_env(workload: str, port: int | None) -> list[k8s.core.v1.EnvVarArgs]:
            """Each service's own settings (AA_COLLECTOR_*, AA_DASHBOARD_*) from the platform values:
            listen on the pod network, Kafka and Redis endpoints, secrets by reference."""
            env = k8s.core.v1.EnvVarArgs
            if workload == "collector":
                return [
                    env(name="AA_COLLECTOR_HOST", value="0.0.0.0"),
                    env(name="AA_COLLECTOR_PORT", value=str(port)),
                    env(name="AA_COLLECTOR_KAFKA_BOOTSTRAP", value=inputs.settings.get("AA_KAFKA_BOOTSTRAP", "")),
                    env(name="AA_COLLECTOR_REGISTRY_NAME", value=inputs.settings.get("AA_SCHEMA_REGISTRY", "")),
                    env(name="AA_COLLECTOR_CLIENT_IP_HEADER", value="cloudfront-viewer-address"),
                    env(name="AA_COLLECTOR_IP_SALT", value_from=secret("AA_IP_HASH_SALT")),
                    # per-minute counts for the quality ledger's collector hop (docs/QUALITY.md)
                    env(name="AA_REDIS_PASSWORD", value_from=secret("AA_REDIS_PASSWORD")),
                    env(
                        name="AA_COLLECTOR_LEDGER_REDIS_URL",
                        value=pulumi.Output.concat(
                            "rediss://:$(AA_REDIS_PASSWORD)@", inputs.settings.get("AA_REDIS_HOST", ""), ":6379/0"
                        ),
                    ),
                ]
            if workload == "dashboard":
                warehouse = (
                    [
                        env(name="AA_DASHBOARD_BACKEND", value="snowflake"),
                        *(
                            env(name=f"AA_DASHBOARD_SNOWFLAKE_{k.upper()}", value=v)
                            for k, v in sorted((inputs.dashboard_snowflake or {}).items())
                        ),
                        env(name="AA_DASHBOARD_SNOWFLAKE_PRIVATE_KEY_PATH", value=f"{SNOWFLAKE_KEY_DIR}/key.p8"),
                    ]
                    if inputs.dashboard_snowflake and inputs.dashboard_private_key is not None
                    else []
                )
                return [
                    *warehouse,
                    env(name="AA_DASHBOARD_HOST", value="0.0.0.0"),
                    env(name="AA_DASHBOARD_ALLOW_REMOTE", value="true"),
                    env(name="AA_DASHBOARD_PORT", value=str(port)),
                    env(name="AA_REDIS_PASSWORD", value_from=secret("AA_REDIS_PASSWORD")),
                    env(
                        name="AA_DASHBOARD_REDIS_URL",
                        value=pulumi.Output.concat(
                            "rediss://:$(AA_REDIS_PASSWORD)@", inputs.settings.get("AA_REDIS_HOST", ""), ":6379/0"
                        ),
                    ),
                ]
            login = snowflake_login(workload)
            if workload == "etl" and login:  # python -m pipelines.batch: dbt's dev/prod profile (dbt/profiles.yml)
                return [
                    env(name="AA_DBT_TARGET", value=inputs.settings.get("AA_ENVIRONMENT", "")),
                    env(name="SNOWFLAKE_ACCOUNT", value=login["account"]),
                    env(name="SNOWFLAKE_USER", value=login["user"]),
                    env(name="SNOWFLAKE_PRIVATE_KEY_PATH", value=f"{SNOWFLAKE_KEY_DIR}/key.p8"),
                ]
            if workload == "quality":  # python -m pipelines.quality.monitor (docs/QUALITY.md)
                warehouse_hop = [
                    *(env(name=f"AA_QUALITY_SNOWFLAKE_{k.upper()}", value=v) for k, v in sorted(login.items())),
                    env(name="AA_QUALITY_SNOWFLAKE_PRIVATE_KEY_PATH", value=f"{SNOWFLAKE_KEY_DIR}/key.p8"),
                ]
                return [
                    *(warehouse_hop if login else []),
                    env(name="AA_REDIS_PASSWORD", value_from=secret("AA_REDIS_PASSWORD")),
                    env(
                        name="AA_QUALITY_REDIS_URL",
                        value=pulumi.Output.concat(
                            "rediss://:$(AA_REDIS_PASSWORD)@", inputs.settings.get("AA_REDIS_HOST", ""), ":6379/0"
                        ),
                    ),
                    env(name="AA_QUALITY_STATE_DIR", value="/tmp/quality"),
                    # the lake hop, the stream's ledger files, lake freshness and drift: the stream's own lake
                    env(name="AA_LAKE_DIR", value=lake_events_uri(inputs.settings.get("AA_LAKE_BUCKET", ""))),
                    # the durable hourly ledger (pipelines/quality/store.py) beside the events, not on the pod
                    env(
                        name="AA_QUALITY_LEDGER_URI",
                        value=pulumi.Output.concat(
                            "s3://", inputs.settings.get("AA_LAKE_BUCKET", ""), f"/{QUALITY_LEDGER_PREFIX}"
                        ),
                    ),
                    env(name="AA_QUALITY_INCIDENTS_IN_REDIS", value="true"),  # the pod's disk is gone after a run
                    *(
                        env(name=f"AA_QUALITY_SNS_TOPIC_{severity.upper()}", value=arn)
                        for severity, arn in sorted((inputs.alert_topic_arns or {}).items())
                    ),
                ]
            return []

        c = config.collector
        collector = self._deployment("collector", c.min_replicas, container("collector", c.command, c.resources, 8080))
        self._service("collector", 8080)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-collector",
            metadata=self._meta("collector"),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name="collector"
                ),
                min_replicas=c.min_replicas,
                max_replicas=c.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=c.target_cpu_percent
                            ),
                        ),
                    )
                ],
            ),
            opts=self.child(depends_on=[collector]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-collector",
            metadata=self._meta("collector"),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=1 if c.min_replicas > 1 else 0,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "collector"}),
            ),
            opts=self.child(),
        )
        self.load_balancer_name = f"{NAMESPACE}-collector"
        listen = '[{"HTTPS": 443}]' if config.certificate_arn else '[{"HTTP": 80}]'
        annotations: dict[str, str] = {
            "alb.ingress.kubernetes.io/scheme": "internet-facing",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/listen-ports": listen,
            "alb.ingress.kubernetes.io/healthcheck-path": "/healthz",
            "alb.ingress.kubernetes.io/load-balancer-name": self.load_balancer_name,
        }
        if config.certificate_arn:
            annotations["alb.ingress.kubernetes.io/certificate-arn"] = config.certificate_arn
        backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name="collector", port=k8s.networking.v1.ServiceBackendPortArgs(number=8080)
            )
        )
        self.ingress = k8s.networking.v1.Ingress(
            f"{name}-collector",
            metadata=self._meta("collector", annotations=annotations),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name="alb",
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(path="/v1", path_type="Prefix", backend=backend),
                                k8s.networking.v1.HTTPIngressPathArgs(path="/r", path_type="Exact", backend=backend),
                            ]
                        )
                    )
                ],
            ),
            opts=self.child(),
        )
        self.collector_hostname = self.ingress.status.apply(
            lambda s: (
                (s.load_balancer.ingress[0].hostname or "") if s and s.load_balancer and s.load_balancer.ingress else ""
            )
        )

        d = config.dashboard
        key_volume: list[k8s.core.v1.VolumeArgs] = []
        key_mount: list[k8s.core.v1.VolumeMountArgs] = []
        if inputs.dashboard_snowflake and inputs.dashboard_private_key is not None:
            k8s.core.v1.Secret(
                f"{name}-dashboard-snowflake",
                metadata=self._meta("dashboard-snowflake"),
                string_data={"key.p8": pulumi.Output.secret(inputs.dashboard_private_key)},
                opts=self.child(),
            )
            key_volume = [
                k8s.core.v1.VolumeArgs(
                    name="snowflake-key",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name="dashboard-snowflake",
                        items=[k8s.core.v1.KeyToPathArgs(key="key.p8", path="key.p8")],
                        default_mode=0o400,
                    ),
                )
            ]
            key_mount = [
                k8s.core.v1.VolumeMountArgs(name="snowflake-key", mount_path=SNOWFLAKE_KEY_DIR, read_only=True)
            ]
        dashboard_container = container("dashboard", d.command, d.resources, 8080, key_mount)
        self._deployment("dashboard", d.replicas, dashboard_container, volumes=key_volume)
        self._service("dashboard", 8080)
        if d.oidc is not None:
            self._dashboard_ingress(name, d.oidc, config.certificate_arn or "", inputs.dashboard_oidc_client_secret)

        topics_map = k8s.core.v1.ConfigMap(
            f"{name}-topics", metadata=self._meta("topics"), data={"topics.yaml": inputs.topics.text}, opts=self.child()
        )
        sync = config.topic_sync
        args = [
            *sync.command,
            "--bootstrap-servers", inputs.settings.get("KAFKA_BOOTSTRAP_SERVERS", ""),
            "--replication-factor", str(inputs.replication_factor),
            "--min-insync-replicas", str(inputs.min_insync_replicas),
            "--topics-file", "/etc/topics/topics.yaml",
            *sync.extra_args,
        ]  # fmt: skip
        self.topic_sync_job_name = f"topic-sync-{inputs.topics.sha256[:10]}"
        self.topic_sync = k8s.batch.v1.Job(
            f"{name}-{self.topic_sync_job_name}",
            metadata=self._meta(self.topic_sync_job_name),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=4,
                ttl_seconds_after_finished=7 * 24 * 3600,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "topic-sync"}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name="topic-sync",
                        restart_policy="OnFailure",
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="topic-sync",
                                image=inputs.image,
                                command=args,
                                env_from=env_from,
                                resources=sync.resources.spec(),
                                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="topics", mount_path="/etc/topics")],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="topics", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="topics")
                            )
                        ],
                    ),
                ),
            ),
            opts=self.child(depends_on=[topics_map]),
        )
        crons = [("etl", config.etl), ("quality", config.quality)]
        if config.backup is not None:
            crons.append(("backup", config.backup))
        for workload, cron in crons:
            k8s.batch.v1.CronJob(
                f"{name}-{workload}",
                metadata=self._meta(workload),
                spec=k8s.batch.v1.CronJobSpecArgs(
                    schedule=cron.schedule,
                    concurrency_policy="Forbid",
                    successful_jobs_history_limit=3,
                    failed_jobs_history_limit=5,
                    job_template=k8s.batch.v1.JobTemplateSpecArgs(
                        spec=k8s.batch.v1.JobSpecArgs(
                            backoff_limit=2,
                            template=k8s.core.v1.PodTemplateSpecArgs(
                                metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": workload}),
                                spec=k8s.core.v1.PodSpecArgs(
                                    service_account_name=workload,
                                    restart_policy="Never",
                                    containers=[
                                        container(
                                            workload,
                                            cron.command,
                                            cron.resources,
                                            volume_mounts=[
                                                k8s.core.v1.VolumeMountArgs(
                                                    name=v.name, mount_path=SNOWFLAKE_KEY_DIR, read_only=True
                                                )
                                                for v in snowflake_key_volume(workload)
                                            ],
                                        )
                                    ],
                                    volumes=snowflake_key_volume(workload) or None,
                                ),
                            ),
                        )
                    ),
                ),
                opts=self.child(),
            )
        self.register_outputs({"topic_sync_job": self.topic_sync_job_name})

    def _dashboard_ingress(
        self, name: str, oidc: OidcConfig, certificate_arn: str, client_secret: pulumi.Input[str] | None
    ) -> None:
        if client_secret is None:
            raise ValueError("workloads.dashboard.oidc is set but the secret dashboardOidcClientSecret is missing")
        k8s.core.v1.Secret(
            f"{name}-dashboard-oidc",
            metadata=self._meta("dashboard-oidc"),
            string_data={"clientID": oidc.client_id, "clientSecret": pulumi.Output.secret(client_secret)},
            opts=self.child(),
        )
        idp = {
            "issuer": oidc.issuer,
            "authorizationEndpoint": oidc.authorization_endpoint,
            "tokenEndpoint": oidc.token_endpoint,
            "userInfoEndpoint": oidc.user_info_endpoint,
            "secretName": "dashboard-oidc",
        }
        annotations = {
            "alb.ingress.kubernetes.io/scheme": "internet-facing",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]',
            "alb.ingress.kubernetes.io/certificate-arn": certificate_arn,
            "alb.ingress.kubernetes.io/healthcheck-path": "/healthz",
            "alb.ingress.kubernetes.io/load-balancer-name": f"{NAMESPACE}-dashboard",
            "alb.ingress.kubernetes.io/auth-type": "oidc",
            "alb.ingress.kubernetes.io/auth-idp-oidc": json.dumps(idp, separators=(",", ":")),
            "alb.ingress.kubernetes.io/auth-on-unauthenticated-request": "authenticate",
            "alb.ingress.kubernetes.io/auth-scope": oidc.scope,
            "alb.ingress.kubernetes.io/auth-session-timeout": str(oidc.session_timeout_s),
        }
        backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name="dashboard", port=k8s.networking.v1.ServiceBackendPortArgs(number=8080)
            )
        )
        k8s.networking.v1.Ingress(
            f"{name}-dashboard",
            metadata=self._meta("dashboard", annotations=annotations),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name="alb",
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[k8s.networking.v1.HTTPIngressPathArgs(path="/", path_type="Prefix", backend=backend)]
                        )
                    )
                ],
            ),
            opts=self.child(),
        )

    def _meta(
        self, name: str, annotations: Mapping[str, pulumi.Input[str]] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=NAMESPACE,
            labels={"app.kubernetes.io/part-of": "affiliate-analytics", "app.kubernetes.io/managed-by": "pulumi"},
            annotations=dict(annotations) if annotations else None,
        )

    def _deployment(
        self,
        app: str,
        replicas: int,
        container: k8s.core.v1.ContainerArgs,
        volumes: Sequence[k8s.core.v1.VolumeArgs] = (),
    ) -> k8s.apps.v1.Deployment:
        return k8s.apps.v1.Deployment(
            f"workloads-{app}",
            metadata=self._meta(app),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": app}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": app}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=app,
                        containers=[container],
                        volumes=list(volumes) or None,
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": app}),
                            )
                        ],
                    ),
                ),
            ),
            opts=self.child(),
        )

    def _service(self, app: str, port: int) -> None:
        k8s.core.v1.Service(
            f"workloads-{app}",
            metadata=self._meta(app),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector={"app": app},
                ports=[k8s.core.v1.ServicePortArgs(port=port, target_port=port, name="http")],
            ),
            opts=self.child(),
        )
