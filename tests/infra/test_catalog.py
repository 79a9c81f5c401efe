"""Catalog component under mocks: DataHub by Helm only behind the flag, the ingestion CronJob runs the
recipes as checked in against the stack's DataHub, nothing in dev by default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.catalog import Catalog, CatalogConfig, recipes
from tests.infra.conftest import REPO, Recorder, mocked


def _cron(r: Recorder) -> dict:
    return r.one("kubernetes:batch/v1:CronJob", "catalog-ingest").inputs


def test_prod_deploys_datahub_with_helm_and_ingests_the_repository_recipes(prod: Recorder):
    releases = {
        r.name: r.inputs for r in prod.of_type("kubernetes:helm.sh/v3:Release") if r.name.startswith("catalog-")
    }
    assert {n: (r["chart"], r["namespace"], r["name"]) for n, r in releases.items()} == {
        "catalog-prerequisites": ("datahub-prerequisites", "datahub", "prerequisites"),
        "catalog-datahub": ("datahub", "datahub", "datahub"),
    }
    assert releases["catalog-datahub"]["repositoryOpts"]["repo"] == "https://helm.datahubproject.io/"
    cron = _cron(prod)
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (prepare,), (ingest,) = pod["initContainers"], pod["containers"]
    assert prepare["command"] == [
        "python", "-m", "pipelines.catalog", "prepare", "--out", "/catalog", "--stack", "prod",
        "--dbt-target", "prod", "--env", "PROD",
    ]  # fmt: skip
    assert ingest["command"] == [
        "sh", "-c",
        "datahub ingest -c /recipes/event_types.yml && datahub ingest -c /recipes/dbt.yml"
        " && datahub ingest -c /recipes/snowflake.yml",
    ]  # fmt: skip
    env = {e["name"]: e.get("value") for e in ingest["env"]}
    assert env["DATAHUB_GMS_URL"] == "http://datahub-datahub-gms.datahub.svc.cluster.local:8080"
    assert env["SNOWFLAKE_ACCOUNT"] == "EXAMPLEORG-ANALYTICS_PROD"
    assert env["AA_CATALOG_DIR"] == "/catalog"
    key = next(v for v in pod["volumes"] if v["name"] == "snowflake-key")["secret"]
    assert key["items"] == [{"key": "SNOWFLAKE_TRANSFORMER_PRIVATE_KEY", "path": "key.p8"}]
    for container in (prepare, ingest):
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    recipes_map = prod.one("kubernetes:core/v1:ConfigMap", "catalog-recipes").inputs["data"]
    assert recipes_map == recipes(REPO)  # exactly the files in catalog/recipes


def test_dev_has_no_datahub_and_no_ingestion_by_default(dev: Recorder):
    assert [r.name for r in dev.of_type("kubernetes:helm.sh/v3:Release") if r.name.startswith("catalog-")] == []
    assert [r.name for r in dev.of_type("kubernetes:batch/v1:CronJob") if r.name == "catalog-ingest"] == []


def test_a_stack_can_send_to_a_datahub_elsewhere(mocks: Recorder):
    config = CatalogConfig.model_validate({"gmsUrl": "https://datahub.example.com/api/gms", "environment": "DEV"})
    mocked(lambda: Catalog("catalog", config, "image:tag", "dev", "ORG-ACCOUNT", recipes(REPO)))
    ingest = _cron(mocks)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in ingest["env"]}[
        "DATAHUB_GMS_URL"
    ] == "https://datahub.example.com/api/gms"
    assert mocks.of_type("kubernetes:helm.sh/v3:Release") == []


def test_deploying_datahub_and_naming_another_is_a_config_error():
    with pytest.raises(ValidationError, match=r"set either deployDataHub .* or gmsUrl .*, not both"):
        CatalogConfig.model_validate({"deployDataHub": True, "gmsUrl": "https://datahub.example.com"})
