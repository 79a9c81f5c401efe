from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacks.config import StackConfigError, load_file, main
from tests.infra.conftest import REPO


def _write(tmp_path: Path, stack: str, edit) -> Path:
    document = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    edit(document["config"])
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_committed_stack_files_are_valid(capsys):
    assert main([str(REPO / "Pulumi.dev.yaml"), str(REPO / "Pulumi.prod.yaml")]) == 0


def test_bad_literal_names_file_key_and_allowed_values(tmp_path: Path):
    path = _write(tmp_path, "prod", lambda c: c["affiliate-analytics:kafka"].update(instanceType="kafka.huge"))
    with pytest.raises(StackConfigError) as err:
        load_file(path)
    message = str(err.value)
    assert "Pulumi.prod.yaml: affiliate-analytics:kafka.instanceType:" in message
    assert "'kafka.t3.small'" in message
    assert "'kafka.m7g.large'" in message
    assert '(got "kafka.huge")' in message


def test_out_of_range_number_names_the_bound(tmp_path: Path):
    path = _write(tmp_path, "prod", lambda c: c["affiliate-analytics:kafka"].update(brokerCount=1))
    with pytest.raises(
        StackConfigError, match=r"kafka\.brokerCount: Input should be greater than or equal to 2 \(got 1\)"
    ):
        load_file(path)


def test_unknown_key_lists_allowed_keys(tmp_path: Path):
    path = _write(tmp_path, "prod", lambda c: c["affiliate-analytics:network"].update(natGateway=2))
    with pytest.raises(StackConfigError) as err:
        load_file(path)
    assert "affiliate-analytics:network.natGateway: Extra inputs are not permitted; allowed keys:" in str(err.value)
    assert "natGateways" in str(err.value)


def test_cross_field_rule_names_section_and_both_keys(tmp_path: Path):
    def edit(c):
        c["affiliate-analytics:kafka"].update(minInsyncReplicas=2, defaultReplicationFactor=2)

    with pytest.raises(StackConfigError, match=r"affiliate-analytics:kafka: minInsyncReplicas \(2\) must be below"):
        load_file(_write(tmp_path, "prod", edit))


def test_missing_section_is_reported(tmp_path: Path):
    path = _write(tmp_path, "dev", lambda c: c.pop("affiliate-analytics:kafka"))
    with pytest.raises(StackConfigError, match=r"Pulumi\.dev\.yaml: affiliate-analytics:kafka: Field required"):
        load_file(path)


def test_plaintext_secret_is_rejected(tmp_path: Path):
    path = _write(tmp_path, "prod", lambda c: c.update({"affiliate-analytics:ipHashSalt": "plain"}))
    with pytest.raises(StackConfigError, match=r"affiliate-analytics:ipHashSalt: must be a secret"):
        load_file(path)


def test_secure_values_of_declared_secrets_are_accepted(tmp_path: Path):
    path = _write(tmp_path, "prod", lambda c: c.update({"affiliate-analytics:ipHashSalt": {"secure": "v1:abc"}}))
    assert load_file(path).tags.environment == "prod"
