"""Register the event contracts in the AWS Glue Schema Registry and resolve writer schemas.

The same boto3 code path serves AWS in the cloud and moto's Glue API locally. Compatibility is
BACKWARD; the repository's own gate (``pipelines.contracts.compat``) enforces it before any
deploy, because moto does not check it.

    python -m pipelines.contracts.registry register   # prints {event_type: version id}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError

from pipelines.contracts.errors import UnknownSchemaVersionError
from pipelines.contracts.schemas import EventContract, load_contracts

DEFAULT_REGISTRY = "affiliate-analytics"
COMPATIBILITY = "BACKWARD"


@dataclass(frozen=True)
class Registration:
    event_type: str
    version_id: str
    version_number: int
    created: bool  # False when the registry already had this exact definition


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def glue_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    from pipelines.aws import aws_client

    return aws_client("glue", endpoint_url or os.environ.get("AA_GLUE_ENDPOINT") or None, region)


class GlueSchemaRegistry:
    def __init__(self, client: Any, registry_name: str = DEFAULT_REGISTRY, poll_timeout_s: float = 30.0) -> None:
        self._glue = client
        self.registry_name = registry_name
        self._poll_timeout_s = poll_timeout_s
        self._by_version: dict[UUID, tuple[str, str]] = {}

    def ensure_registry(self) -> None:
        try:
            self._glue.get_registry(RegistryId={"RegistryName": self.registry_name})
        except ClientError as exc:
            if _code(exc) != "EntityNotFoundException":
                raise
            self._glue.create_registry(
                RegistryName=self.registry_name,
                Description="Avro contracts of the affiliate analytics events (schemas/ in the repo)",
            )

    def _schema_id(self, event_type: str) -> dict[str, str]:
        return {"RegistryName": self.registry_name, "SchemaName": event_type}

    def _wait_available(self, version_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self._poll_timeout_s
        while True:
            resp = self._glue.get_schema_version(SchemaVersionId=version_id)
            status = resp.get("Status")
            if status == "AVAILABLE":
                return resp
            if status in ("FAILURE", "DELETING"):
                raise RuntimeError(
                    f"schema version {version_id} ended in status {status}: the registry rejected it "
                    f"(most likely not {COMPATIBILITY}-compatible with an earlier version)"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"schema version {version_id} still {status} after {self._poll_timeout_s}s")
            time.sleep(0.5)

    def register(self, contract: EventContract) -> Registration:
        definition = contract.canonical_text
        schema_id = self._schema_id(contract.event_type)
        try:
            found = self._glue.get_schema_by_definition(SchemaId=schema_id, SchemaDefinition=definition)
            version = self._glue.get_schema_version(SchemaVersionId=found["SchemaVersionId"])
            return Registration(contract.event_type, found["SchemaVersionId"], int(version["VersionNumber"]), False)
        except ClientError as exc:
            if _code(exc) != "EntityNotFoundException":
                raise
        try:
            self._glue.get_schema(SchemaId=schema_id)
            exists = True
        except ClientError as exc:
            if _code(exc) != "EntityNotFoundException":
                raise
            exists = False
        if exists:
            resp = self._glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=definition)
        else:
            resp = self._glue.create_schema(
                RegistryId={"RegistryName": self.registry_name},
                SchemaName=contract.event_type,
                DataFormat="AVRO",
                Compatibility=COMPATIBILITY,
                SchemaDefinition=definition,
                Description=str(contract.definition.get("doc", ""))[:2048],
            )
        version = self._wait_available(resp["SchemaVersionId"])
        return Registration(contract.event_type, resp["SchemaVersionId"], int(version["VersionNumber"]), True)

    def register_all(self, contracts: dict[str, EventContract] | None = None) -> dict[str, Registration]:
        self.ensure_registry()
        return {t: self.register(c) for t, c in (contracts or load_contracts()).items()}

    def writer_schema(self, version_id: UUID) -> tuple[str, str]:
        cached = self._by_version.get(version_id)
        if cached is not None:
            return cached
        try:
            resp = self._glue.get_schema_version(SchemaVersionId=str(version_id))
        except ClientError as exc:
            if _code(exc) in ("EntityNotFoundException", "InvalidInputException"):
                raise UnknownSchemaVersionError(str(version_id), _code(exc)) from exc
            raise
        event_type = str(resp["SchemaArn"]).rsplit("/", 1)[-1]
        cached = (event_type, str(resp["SchemaDefinition"]))
        self._by_version[version_id] = cached
        return cached


def current_versions(registrations: dict[str, Registration]) -> dict[str, UUID]:
    return {t: UUID(r.version_id) for t, r in registrations.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.contracts.registry", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("register", help="register every schema in schemas/ (idempotent)")
    reg.add_argument("--endpoint-url", default=None, help="Glue endpoint (moto locally); default AA_GLUE_ENDPOINT")
    reg.add_argument("--registry-name", default=os.environ.get("AA_REGISTRY_NAME", DEFAULT_REGISTRY))
    reg.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    registry = GlueSchemaRegistry(glue_client(args.endpoint_url, args.region), args.registry_name)
    result = registry.register_all()
    json.dump({t: asdict(r) for t, r in result.items()}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
