from __future__ import annotations

import json

import pulumi_aws as aws
import pulumi_random as random
import pytest
from pydantic import ValidationError

from infra.component import PlatformComponent
from infra.tagging import TagsConfig, register_component_tags
from tests.infra.conftest import Recorder, mocked

TAGS = TagsConfig(cost_center="cc-1", environment="dev", owner="team@example.com")


class _Demo(PlatformComponent):
    module = "demo"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        aws.s3.Bucket(f"{name}-plain", opts=self.child())
        aws.s3.Bucket(f"{name}-explicit", tags={"component": "override", "Name": "x"}, opts=self.child())
        random.RandomId(f"{name}-id", byte_length=4, opts=self.child())


def test_transformation_adds_the_component_of_the_enclosing_component(mocks: Recorder):
    def program() -> None:
        register_component_tags()
        _Demo("demo")
        aws.s3.Bucket("outside")

    mocked(program)
    tags = {r.name: r.inputs.get("tags") for r in mocks.created}
    assert tags["demo-plain"] == {"component": "demo"}
    assert tags["demo-explicit"] == {"component": "override", "Name": "x"}  # explicit wins
    assert tags["outside"] == {"component": "platform"}
    assert tags["demo-id"] is None  # not an AWS resource


def test_transformations_do_not_leak_between_programs(mocks: Recorder):
    mocked(lambda: aws.s3.Bucket("fresh"))
    assert mocks.one("aws:s3/bucket:Bucket").inputs.get("tags") is None


def test_stack_tags_and_snowflake_comment():
    assert TAGS.for_component("kafka") == {
        "cost-center": "cc-1",
        "environment": "dev",
        "owner": "team@example.com",
        "managed-by": "pulumi",
        "component": "kafka",
    }
    assert TAGS.snowflake_comment("warehouse", "RAW layer") == (
        "RAW layer | cost-center=cc-1; environment=dev; owner=team@example.com; managed-by=pulumi; component=warehouse"
    )


def test_environment_must_be_a_known_value():
    with pytest.raises(ValidationError, match="Input should be 'dev', 'staging' or 'prod'"):
        TagsConfig.model_validate({"costCenter": "c", "environment": "qa", "owner": "o"})


def test_provider_default_tags_are_the_stack_tags(mocks: Recorder):
    from infra.tagging import aws_provider

    mocked(lambda: aws_provider("aws", "eu-west-1", TAGS))
    provider = mocks.one("pulumi:providers:aws").inputs
    assert json.loads(provider["defaultTags"]) == {"tags": TAGS.stack_tags()}
