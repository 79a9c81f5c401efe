"""Snowflake, Kubernetes and cost-guardrail rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from policies.rules.model import Resource, Rule, StackRule, _parse

SECRET_SIG = "4dabf18193072939515e22adb298388d"
# Time travel (days) allowed per environment; dev keeps it short because it costs storage.
RETENTION_RANGE = {"dev": (0, 1), "prod": (1, 90)}
PRIVILEGED_ROLES = {"ACCOUNTADMIN", "SECURITYADMIN", "ORGADMIN"}
# Allowed sizes per environment (cost guardrail): mandatory in dev, advisory in prod.
ALLOWED_TYPES: dict[str, dict[str, set[str]]] = {
    "dev": {
        "aws:msk/cluster:Cluster": {"kafka.t3.small", "kafka.m7g.large", "kafka.m5.large"},
        "aws:elasticache/replicationGroup:ReplicationGroup": {"cache.t4g.micro", "cache.t4g.small", "cache.t3.micro"},
        "aws:eks/nodeGroup:NodeGroup": {
            "t3.medium",
            "t3a.medium",
            "t3.large",
            "t3a.large",
            "t4g.large",
            "m7g.large",
            "m6g.large",
            "m6i.large",
            "m7i.large",
            "t3.xlarge",
            "m7g.xlarge",
            "m6i.xlarge",
            "m6a.large",
            "m6a.xlarge",
            "m7a.large",
            "m7a.xlarge",
        },
        "snowflake:index/warehouse:Warehouse": {"XSMALL", "X-SMALL"},
        "aws:ec2/instance:Instance": {"t4g.nano", "t4g.micro", "t4g.small", "t3.micro"},
    },
    "prod": {
        "aws:msk/cluster:Cluster": {"kafka.m7g.large", "kafka.m7g.xlarge", "kafka.m5.large", "kafka.m5.xlarge"},
        "aws:elasticache/replicationGroup:ReplicationGroup": {
            "cache.t4g.small",
            "cache.t4g.medium",
            "cache.m7g.large",
            "cache.r7g.large",
        },
        "aws:eks/nodeGroup:NodeGroup": {
            "m7g.large",
            "m7g.xlarge",
            "m6i.large",
            "m6i.xlarge",
            "m6a.large",
            "m6a.xlarge",
            "m7a.large",
            "m7a.xlarge",
            "m7i.large",
            "m7i.xlarge",
            "c7g.xlarge",
            "r7g.large",
            "t3.large",
            "t3.xlarge",
        },
        "snowflake:index/warehouse:Warehouse": {"XSMALL", "X-SMALL", "SMALL", "MEDIUM"},
        "aws:ec2/instance:Instance": {"t4g.nano", "t4g.micro", "t4g.small", "t4g.medium"},
    },
}
STATEFUL = (
    "aws:s3/bucket:Bucket",
    "aws:msk/cluster:Cluster",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:kms/key:Key",
    "snowflake:index/database:Database",
)
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
# secret-like names; a *_PATH or *_FILE variable names where a mounted secret is, not the secret
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|SALT|PRIVATE_KEY|API_KEY)(?!.*_(PATH|FILE)$)", re.IGNORECASE)


# ---------------------------------------------------------------- Snowflake


def check_retention(res: Resource) -> list[str]:
    days = res.props.get("dataRetentionTimeInDays")
    lo, hi = RETENTION_RANGE.get(res.stack, (0, 90))
    if days is None or not lo <= int(days) <= hi:
        return [
            f"{res.label}: time travel dataRetentionTimeInDays={days} is outside {lo}-{hi} days allowed in "
            f"stack '{res.stack}'; set warehouse.retentionDays in Pulumi.{res.stack}.yaml"
        ]
    return []


def check_warehouse(res: Resource) -> list[str]:
    out = []
    suspend = res.props.get("autoSuspend")
    if suspend is None or int(suspend) > 300 or int(suspend) <= 0:
        out.append(f"{res.label}: autoSuspend={suspend}; warehouses must auto-suspend within 300 s")
    if not res.props.get("resourceMonitor"):
        out.append(f"{res.label}: not attached to a resource monitor (resourceMonitor) to cap credits")
    return out


def check_privileged_grants(res: Resource) -> list[str]:
    role = str(res.props.get("roleName", "")).strip('"').upper()
    if role in PRIVILEGED_ROLES and res.props.get("userName"):
        return [f"{res.label}: grants {role} to user {res.props['userName']}; service users get functional roles only"]
    return []


def _pii_classes(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if "pii" in node:
            yield str(node["pii"])
        for v in node.values():
            yield from _pii_classes(v)
    elif isinstance(node, list):
        for v in node:
            yield from _pii_classes(v)


def pii_classes_in_schemas(directory: Path = SCHEMAS) -> set[str]:
    """PII classes used by any field of any schemas/*.avsc (read as data: the pack has no other deps)."""
    return {c for p in directory.glob("*.avsc") for c in _pii_classes(json.loads(p.read_text(encoding="utf-8")))}


def check_pii_masking(resources: list[Resource]) -> list[str]:
    """Every PII class used in schemas/ has a masking policy (named MASK_<CLASS>_<TYPE>)."""
    if not any(r.type.startswith("snowflake:") for r in resources):
        return []
    names = [
        str(r.props.get("name", "")).upper()
        for r in resources
        if r.type == "snowflake:index/maskingPolicy:MaskingPolicy"
    ]
    missing = sorted(c for c in pii_classes_in_schemas() if not any(n.startswith(f"MASK_{c.upper()}_") for n in names))
    return [
        f"PII class '{c}' from schemas/ has no masking policy MASK_{c.upper()}_*; add it in infra/warehouse.py"
        for c in missing
    ]


# ---------------------------------------------------------------- Kubernetes


def _pod_specs(res: Resource) -> list[Mapping[str, Any]]:
    spec = _parse(res.props.get("spec")) or {}
    if not isinstance(spec, Mapping):
        return []
    if res.type.endswith(":CronJob"):
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") if isinstance(template, Mapping) else None
    return [pod] if isinstance(pod, Mapping) else []


WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)


def check_k8s_resources(res: Resource) -> list[str]:
    out = []
    for pod in _pod_specs(res):
        for c in list(pod.get("containers") or []) + list(pod.get("initContainers") or []):
            r = c.get("resources") or {}
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set((r.get(kind) or {}).keys()):
                    out.append(f"{res.label}: container '{c.get('name')}' lacks {kind} for cpu and memory")
    return out


def _plain(value: Any) -> bool:
    return not (isinstance(value, Mapping) and SECRET_SIG in value)


def check_k8s_secrets(res: Resource) -> list[str]:
    out = []
    if res.type == "kubernetes:core/v1:Secret":
        for key in ("stringData", "data"):
            block = res.props.get(key)
            if isinstance(block, Mapping) and _plain(block):
                plain = [k for k, v in block.items() if _plain(v)]
                if plain:
                    out.append(
                        f"{res.label}: {key} keys {', '.join(sorted(plain))} are plaintext in the program; "
                        "pass them as Pulumi secrets (config.require_secret)"
                    )
    for pod in _pod_specs(res):
        for c in pod.get("containers") or []:
            for env in c.get("env") or []:
                if SECRET_NAME.search(str(env.get("name", ""))) and env.get("value") is not None:
                    out.append(
                        f"{res.label}: env {env['name']} of container '{c.get('name')}' is a literal; "
                        "use valueFrom.secretKeyRef"
                    )
    return out


SPARK_APPLICATION = "kubernetes:sparkoperator.k8s.io/v1beta2:SparkApplication"


def _secret_scoped_pods(res: Resource) -> list[Mapping[str, Any]]:
    """Pod specs, and a SparkApplication's driver and executor as the containers of one pod."""
    if res.type == SPARK_APPLICATION:
        spec = _parse(res.props.get("spec")) or {}
        if not isinstance(spec, Mapping):
            return []
        roles = [{"name": role, **spec[role]} for role in ("driver", "executor") if isinstance(spec.get(role), Mapping)]
        return [{"containers": roles, "volumes": spec.get("volumes") or []}]
    return _pod_specs(res)


def check_k8s_secret_scope(res: Resource) -> list[str]:
    """Least privilege: a pod names the secret keys it needs (valueFrom.secretKeyRef, a volume with
    items); ``envFrom`` of a whole Secret hands every key to every container of the pod."""
    out = []
    for pod in _secret_scoped_pods(res):
        for c in list(pod.get("containers") or []) + list(pod.get("initContainers") or []):
            for source in c.get("envFrom") or []:
                ref = source.get("secretRef") if isinstance(source, Mapping) else None
                if isinstance(ref, Mapping):
                    out.append(
                        f"{res.label}: container '{c.get('name')}' takes every key of Secret '{ref.get('name')}' "
                        "through envFrom; reference the keys it uses with valueFrom.secretKeyRef"
                    )
        for volume in pod.get("volumes") or []:
            secret = volume.get("secret") if isinstance(volume, Mapping) else None
            if isinstance(secret, Mapping) and not secret.get("items"):
                out.append(
                    f"{res.label}: volume '{volume.get('name')}' mounts every key of Secret "
                    f"'{secret.get('secretName')}'; list the keys it needs in items"
                )
    return out


# ---------------------------------------------------------------- cost guardrails


def _size(res: Resource) -> list[str]:
    if res.type == "aws:msk/cluster:Cluster":
        return [str(res.get("brokerNodeGroupInfo.instanceType"))]
    if res.type == "aws:elasticache/replicationGroup:ReplicationGroup":
        return [str(res.props.get("nodeType"))]
    if res.type == "aws:eks/nodeGroup:NodeGroup":
        return [str(t) for t in res.props.get("instanceTypes") or []]
    if res.type == "snowflake:index/warehouse:Warehouse":
        return [str(res.props.get("warehouseSize", "")).upper()]
    if res.type == "aws:ec2/instance:Instance":
        return [str(res.props.get("instanceType"))]
    return []


def _check_sizes(env: str) -> Any:
    def check(res: Resource) -> list[str]:
        allowed = ALLOWED_TYPES[env].get(res.type)
        if res.stack != env or allowed is None:
            return []
        bad = [s for s in _size(res) if s not in allowed]
        return [f"{res.label}: size {s} is not allowed in {env}; allowed: {', '.join(sorted(allowed))}" for s in bad]

    return check


def check_protected(res: Resource) -> list[str]:
    if res.stack != "prod":
        return []
    deletion_protected = res.props.get("deletionProtection") is True or res.props.get("forceDestroy") is False
    if res.protect or deletion_protected:
        return []
    return [f"{res.label}: stateful prod resource without protect=True; set ResourceOptions(protect=True)"]


RULES = [
    Rule(
        "snowflake-time-travel-range",
        "Snowflake: time travel within the environment's range.",
        "mandatory",
        check_retention,
        ("snowflake:index/database:Database",),
    ),
    Rule(
        "snowflake-warehouse-guardrails",
        "Snowflake: auto-suspend <= 300 s and a resource monitor.",
        "mandatory",
        check_warehouse,
        ("snowflake:index/warehouse:Warehouse",),
    ),
    Rule(
        "snowflake-no-privileged-service-grants",
        "Snowflake: no ACCOUNTADMIN/SECURITYADMIN to users.",
        "mandatory",
        check_privileged_grants,
        ("snowflake:index/grantAccountRole:GrantAccountRole",),
    ),
    Rule(
        "k8s-resource-requests-limits",
        "Kubernetes: requests and limits on every container.",
        "mandatory",
        check_k8s_resources,
        WORKLOADS,
    ),
    Rule(
        "k8s-no-plaintext-secrets",
        "Kubernetes: no plaintext secret values in manifests.",
        "mandatory",
        check_k8s_secrets,
        (*WORKLOADS, "kubernetes:core/v1:Secret"),
    ),
    Rule(
        "k8s-secrets-by-key",
        "Kubernetes: secrets reach pods key by key, never a whole Secret.",
        "mandatory",
        check_k8s_secret_scope,
        (*WORKLOADS, SPARK_APPLICATION),
    ),
    Rule("allowed-sizes-dev", "Cost: allowed instance/node/warehouse sizes in dev.", "mandatory", _check_sizes("dev")),
    Rule(
        "allowed-sizes-prod", "Cost: allowed instance/node/warehouse sizes in prod.", "advisory", _check_sizes("prod")
    ),
    Rule(
        "protect-stateful-prod",
        "Stateful prod resources are protected from deletion.",
        "mandatory",
        check_protected,
        STATEFUL,
    ),
]
STACK_RULES = [
    StackRule(
        "pii-classes-masked",
        "Every PII class from schemas/ is covered by a masking policy.",
        "mandatory",
        check_pii_masking,
    ),
]
