"""The catalog recipes run through DataHub's real CLI (pinned, isolated) to a file sink: every mart,
dbt source and event type is in the output with an owner and a description taken from the
repository (dbt yml, schemas/), PII fields carry their class as a tag, and dbt lineage and tests
are there."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pipelines.catalog.__main__ import main, platform_owner
from pipelines.contracts.schemas import load_contracts
from pipelines.contracts.topics import load_topics

Aspects = dict[str, dict[str, Any]]


def _aspects(path: Path) -> dict[str, Aspects]:
    """urn -> {aspect name: value} from DataHub's file sink (MCPs and MCE snapshots alike)."""
    out: dict[str, Aspects] = defaultdict(dict)  # read only with [] on known urns: a missing one fails
    for record in json.loads(path.read_text()):
        if "proposedSnapshot" in record:
            (snapshot,) = record["proposedSnapshot"].values()
            for aspect in snapshot["aspects"]:
                ((fqn, value),) = aspect.items()
                short = fqn.rsplit(".", 1)[-1]
                out[snapshot["urn"]][short[0].lower() + short[1:]] = value
        else:
            value = record["aspect"].get("json", record["aspect"])
            out[record["entityUrn"]][record["aspectName"]] = value
    return out


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("catalog")
    assert main(["prepare", "--out", str(out), "--no-catalog"]) == 0
    assert main(["ingest", "--out", str(out), "--sink", "file"]) == 0
    manifest = json.loads((out / "dbt" / "manifest.json").read_text())
    return {
        "events": _aspects(out / "out" / "event_types.json"),
        "dbt": _aspects(out / "out" / "dbt.json"),
        "manifest": manifest,
    }


def _dbt_urn(node: dict[str, Any]) -> str:
    name = node.get("identifier") if node["resource_type"] == "source" else node.get("alias") or node["name"]
    return f"urn:li:dataset:(urn:li:dataPlatform:dbt,{node['database']}.{node['schema']}.{name},PROD)".replace(
        f"{node['database']}.{node['schema']}.{name}", f"{node['database']}.{node['schema']}.{name}".lower()
    )


def _owners(aspects: Aspects) -> list[str]:
    return [o["owner"] for o in aspects.get("ownership", {}).get("owners", [])]


def test_every_mart_and_dbt_source_has_an_owner_and_the_description_from_its_yml(catalog: dict[str, Any]):
    manifest, dbt = catalog["manifest"], catalog["dbt"]
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["fqn"][1] == "marts"]
    sources = list(manifest["sources"].values())
    assert {m["name"] for m in marts} >= {"attribution", "campaign_effectiveness", "explorer_daily", "segments_daily"}
    assert {s["source_name"] for s in sources} >= {"raw", "lake"}
    for node in marts + sources:
        urn = _dbt_urn(node)
        assert urn in dbt, f"{node['unique_id']} missing from the catalog"
        assert dbt[urn]["datasetProperties"]["description"] == node["description"], urn
        assert node["description"], f"{node['unique_id']} has no description in its yml"
        assert _owners(dbt[urn]) == [f"urn:li:corpuser:{(node['meta'] or node['config']['meta'])['owner']}"], urn


def test_dbt_lineage_and_tests_are_in_the_catalog(catalog: dict[str, Any]):
    dbt = catalog["dbt"]
    manifest = catalog["manifest"]
    attribution = next(n for n in manifest["nodes"].values() if n["name"] == "attribution")
    upstream = {u["dataset"] for u in dbt[_dbt_urn(attribution)]["upstreamLineage"]["upstreams"]}
    expected = {_dbt_urn(manifest["nodes"][d]) for d in attribution["depends_on"]["nodes"] if d.startswith("model.")}
    assert expected
    # lineage runs through the models' tables on the target platform (Snowflake), the entities the
    # snowflake recipe describes: DataHub shows each dbt model and its table as one
    assert upstream == {u.replace(":dataPlatform:dbt,", ":dataPlatform:snowflake,") for u in expected}
    assertions = {a["assertionInfo"]["customProperties"]["dbt_unique_id"] for a in dbt.values() if "assertionInfo" in a}
    nodes = manifest["nodes"]
    # data tests on built models (the access audit's are disabled off Snowflake, see docs/GOVERNANCE.md)
    data_tests = {
        uid
        for uid, n in nodes.items()
        if n["resource_type"] == "test" and (n.get("attached_node") is None or n["attached_node"] in nodes)
    }
    assert len(data_tests) > 50
    assert data_tests <= assertions


def test_every_event_type_is_a_topic_with_owner_doc_and_pii_tags_from_its_avro_schema(catalog: dict[str, Any]):
    events = catalog["events"]
    contracts = load_contracts()
    owner = f"urn:li:corpuser:{platform_owner('dev')}"
    topics = load_topics()
    assert {t.event_type for t in topics} == set(contracts)  # every event type, dead letters included
    for spec in topics:
        contract = contracts[spec.event_type]
        aspects = events[f"urn:li:dataset:(urn:li:dataPlatform:kafka,{spec.name},PROD)"]
        assert aspects["datasetProperties"]["description"] == contract.definition["doc"]
        assert aspects["datasetProperties"]["customProperties"]["retention_days"] == str(contract.retention_days)
        assert _owners(aspects) == [owner]
        fields = {f["fieldPath"]: f for f in aspects["schemaMetadata"]["fields"]}
        tagged = {path: {t["tag"] for t in f.get("globalTags", {}).get("tags", [])} for path, f in fields.items()}
        pii = {p.path: p.pii_class for p in contract.pii_fields()}
        assert {p for p, tags in tagged.items() if tags} == set(pii), spec.name
        for path, pii_class in pii.items():
            assert tagged[path] == {"urn:li:tag:pii", f"urn:li:tag:pii_{pii_class}"}
            assert fields[path]["description"] == next(p.doc for p in contract.pii_fields() if p.path == path)
    assert events["urn:li:tag:pii_ip_hash"]["tagProperties"]["name"] == "pii_ip_hash"
