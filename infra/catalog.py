"""Catalog: DataHub on EKS (Helm, behind ``catalog.deployDataHub``) and the CronJob that runs the
repository's ingestion recipes (``catalog/recipes``) against DataHub's REST endpoint.

Creates, with ``deployDataHub``: the ``datahub`` namespace and Helm releases of
``datahub-prerequisites`` (Elasticsearch, Kafka, MySQL for DataHub itself) and ``datahub``. With a
DataHub to send to (deployed here, or ``gmsUrl`` of one hosted elsewhere): a ConfigMap holding the
recipes as checked in, and a CronJob in the ``analytics`` namespace whose init container (the
platform image) runs ``python -m pipelines.catalog prepare`` — the event types' metadata from
``schemas/`` and dbt's manifest and catalog from the stack's Snowflake target — and whose main
container (DataHub's ingestion image, the CLI version ``pipelines.catalog`` pins) runs
``datahub ingest`` for each recipe. Without either, nothing is created (dev's default).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, model_validator

from infra.component import PlatformComponent, Settings
from infra.kubernetes import HelmChartConfig
from infra.workloads import NAMESPACE, SNOWFLAKE_KEY_DIR, ResourcesConfig

RECIPES = ("event_types", "dbt", "snowflake")
GMS_PORT = 8080


class CatalogConfig(Settings):
    deploy_data_hub: bool = False
    gms_url: str | None = Field(default=None, pattern=r"^https?://")
    datahub_chart: HelmChartConfig = HelmChartConfig(
        repository="https://helm.datahubproject.io/", chart="datahub", version="0.7.8", namespace="datahub"
    )
    prerequisites_chart: HelmChartConfig = HelmChartConfig(
        repository="https://helm.datahubproject.io/",
        chart="datahub-prerequisites",
        version="0.2.4",
        namespace="datahub",
    )
    # DataHub's ingestion image with the CLI version pipelines/catalog/__main__.py pins (DATAHUB_VERSION)
    ingestion_image: str = "acryldata/datahub-ingestion:v1.7.0"
    schedule: str = Field(default="30 4 * * *", pattern=r"^(\S+\s+){4}\S+$")
    environment: str = Field(default="PROD", pattern=r"^(PROD|DEV|TEST|QA|STG)$")
    resources: ResourcesConfig = ResourcesConfig(cpu="250m", memory="1Gi")

    @model_validator(mode="after")
    def _one_datahub(self) -> CatalogConfig:
        if self.deploy_data_hub and self.gms_url:
            raise ValueError("set either deployDataHub (DataHub on this cluster) or gmsUrl (one elsewhere), not both")
        return self

    def endpoint(self) -> str | None:
        if self.gms_url:
            return self.gms_url
        if self.deploy_data_hub:
            ns = self.datahub_chart.namespace
            return f"http://datahub-datahub-gms.{ns}.svc.cluster.local:{GMS_PORT}"
        return None


def recipes(root: Path) -> dict[str, str]:
    """The recipe files as checked in (the CronJob runs exactly these)."""
    return {
        f"{name}.yml": (root / "catalog" / "recipes" / f"{name}.yml").read_text(encoding="utf-8") for name in RECIPES
    }


class Catalog(PlatformComponent):
    module = "catalog"

    def __init__(
        self,
        name: str,
        config: CatalogConfig,
        image: pulumi.Input[str],
        stack: str,
        snowflake_account: str,
        recipe_files: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        self.releases: list[k8s.helm.v3.Release] = []
        if config.deploy_data_hub:
            ns = config.datahub_chart.namespace
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace", metadata=k8s.meta.v1.ObjectMetaArgs(name=ns), opts=self.child()
            )
            prereq = config.prerequisites_chart
            prerequisites = k8s.helm.v3.Release(
                f"{name}-prerequisites",
                name="prerequisites",
                chart=prereq.chart,
                version=prereq.version,
                namespace=ns,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=prereq.repository),
                values={"elasticsearch": {"replicas": 1}, "neo4j": {"enabled": False}},
                opts=self.child(depends_on=[namespace]),
            )
            chart = config.datahub_chart
            datahub = k8s.helm.v3.Release(
                f"{name}-datahub",
                name="datahub",
                chart=chart.chart,
                version=chart.version,
                namespace=ns,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                values={
                    "datahub-gms": {"service": {"port": GMS_PORT}},
                    # the repository's recipes run from the CronJob below, not DataHub's UI scheduler
                    "acryl-datahub-actions": {"enabled": False},
                },
                opts=self.child(depends_on=[prerequisites]),
            )
            self.releases = [prerequisites, datahub]

        self.cron_job: k8s.batch.v1.CronJob | None = None
        endpoint = config.endpoint()
        if endpoint is None:
            self.register_outputs({})
            return
        recipes_map = k8s.core.v1.ConfigMap(
            f"{name}-recipes",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="catalog-recipes", namespace=NAMESPACE),
            data=dict(recipe_files),
            opts=self.child(),
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-catalog",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="catalog", namespace=NAMESPACE),
            opts=self.child(),
        )
        work = k8s.core.v1.VolumeMountArgs(name="work", mount_path="/catalog")
        key = k8s.core.v1.VolumeMountArgs(name="snowflake-key", mount_path=SNOWFLAKE_KEY_DIR, read_only=True)
        env_from = [
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name="platform-settings")),
        ]
        snowflake_env = [
            k8s.core.v1.EnvVarArgs(name="SNOWFLAKE_ACCOUNT", value=snowflake_account),
            k8s.core.v1.EnvVarArgs(name="SNOWFLAKE_USER", value="TRANSFORMER_SVC"),
            k8s.core.v1.EnvVarArgs(name="SNOWFLAKE_PRIVATE_KEY_PATH", value=f"{SNOWFLAKE_KEY_DIR}/key.p8"),
            k8s.core.v1.EnvVarArgs(name="AA_CATALOG_DIR", value="/catalog"),
            k8s.core.v1.EnvVarArgs(name="AA_CATALOG_ENV", value=config.environment),
        ]
        security = k8s.core.v1.SecurityContextArgs(run_as_non_root=True, allow_privilege_escalation=False)
        prepare = k8s.core.v1.ContainerArgs(
            name="prepare",
            image=image,
            command=["python", "-m", "pipelines.catalog", "prepare", "--out", "/catalog", "--stack", stack,
                     "--dbt-target", stack, "--env", config.environment],
            env_from=env_from,
            env=snowflake_env,
            volume_mounts=[work, key],
            resources=config.resources.spec(),
            security_context=security,
        )  # fmt: skip
        script = " && ".join(f"datahub ingest -c /recipes/{r}.yml" for r in RECIPES)
        ingest = k8s.core.v1.ContainerArgs(
            name="ingest",
            image=config.ingestion_image,
            command=["sh", "-c", script],
            env_from=env_from,
            env=[*snowflake_env, k8s.core.v1.EnvVarArgs(name="DATAHUB_GMS_URL", value=endpoint)],
            volume_mounts=[work, key, k8s.core.v1.VolumeMountArgs(name="recipes", mount_path="/recipes")],
            resources=config.resources.spec(),
            security_context=security,
        )
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-ingest",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="catalog", namespace=NAMESPACE, labels={"app": "catalog"}),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=config.schedule,
                concurrency_policy="Forbid",
                successful_jobs_history_limit=3,
                failed_jobs_history_limit=5,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=1,
                        template=k8s.core.v1.PodTemplateSpecArgs(
                            metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "catalog"}),
                            spec=k8s.core.v1.PodSpecArgs(
                                service_account_name="catalog",
                                restart_policy="Never",
                                init_containers=[prepare],
                                containers=[ingest],
                                volumes=[
                                    k8s.core.v1.VolumeArgs(
                                        name="work", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                                    ),
                                    k8s.core.v1.VolumeArgs(
                                        name="recipes",
                                        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="catalog-recipes"),
                                    ),
                                    k8s.core.v1.VolumeArgs(
                                        name="snowflake-key",
                                        secret=k8s.core.v1.SecretVolumeSourceArgs(
                                            secret_name="platform-secrets",
                                            items=[
                                                k8s.core.v1.KeyToPathArgs(
                                                    key="SNOWFLAKE_TRANSFORMER_PRIVATE_KEY", path="key.p8"
                                                )
                                            ],
                                        ),
                                    ),
                                ],
                            ),
                        ),
                    )
                ),
            ),
            opts=self.child(depends_on=[recipes_map, account, *self.releases]),
        )
        self.register_outputs({"endpoint": endpoint})
