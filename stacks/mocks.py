"""What the cloud would compute, for running the program offline under Pulumi's mocks.

Used by the unit tests (tests/infra) and by ``python -m stacks.inventory`` (the offline resource
graph for the cost review): resource inputs echoed back plus the outputs the program reads.
"""

from __future__ import annotations

from typing import Any


def mock_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    out = dict(inputs)
    if typ == "aws:msk/cluster:Cluster":
        out["bootstrapBrokersSaslIam"] = "b-1.kafka:9098,b-2.kafka:9098"
        out["arn"] = f"arn:aws:kafka:eu-west-1:123456789012:cluster/{name}/abcd-1234"
        out["clusterName"] = name
    elif typ == "aws:msk/configuration:Configuration":
        out["latestRevision"] = 1
    elif typ == "aws:eks/cluster:Cluster":
        out["identities"] = [{"oidcs": [{"issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}]}]
        out["endpoint"] = "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
        out["certificateAuthority"] = {"data": "LS0tLS1CRUdJTg=="}
    elif typ == "aws:ec2/instance:Instance":
        out["primaryNetworkInterfaceId"] = f"eni-{name}"
    elif typ == "aws:eks/nodeGroup:NodeGroup":
        out["resources"] = [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}]}]
    elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
        out["primaryEndpointAddress"] = f"master.{name}.cache.amazonaws.com"
    elif typ == "random:index/randomPassword:RandomPassword":
        out["result"] = "generated-password"
    elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":  # auto-named: the logical name + a random suffix
        out["name"] = inputs.get("name") or f"{name}-1a2b3c"
        out["arn"] = f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{out['name']}"
    elif typ == "aws:ecr/repository:Repository":
        out["repositoryUrl"] = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{name}"
    if typ.startswith("snowflake:"):
        parts = [p for p in (inputs.get("database"), inputs.get("schema"), inputs.get("name", name)) if p]
        out["fullyQualifiedName"] = ".".join(f'"{p}"' for p in parts)
    if typ == "snowflake:index/pipe:Pipe":
        out["notificationChannel"] = "arn:aws:sqs:eu-west-1:999999999999:sf-snowpipe-AIDA"
    if typ == "snowflake:index/storageIntegrationAws:StorageIntegrationAws":
        out["describeOutputs"] = [
            {"iamUserArn": "arn:aws:iam::999999999999:user/sf-abc", "externalId": "EXAMPLEORG_SFCRole=1_abc"}
        ]
    out.setdefault("arn", f"arn:aws:mock:::{typ.split(':')[-1].lower()}/{name}")
    if typ.startswith("aws:s3/bucket:Bucket"):
        out.setdefault("bucket", f"{name}-bucket")
        out.setdefault("bucketRegionalDomainName", f"{name}.s3.eu-west-1.amazonaws.com")
        out["arn"] = f"arn:aws:s3:::{name}-bucket"
    return out


def mock_call(token: str) -> dict[str, Any]:
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/ci", "userId": "x"}
    if token == "aws:index/getRegion:getRegion":
        return {"name": "eu-west-1", "region": "eu-west-1", "id": "eu-west-1"}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
    if token == "aws:ssm/getParameter:getParameter":
        return {"name": "ami-parameter", "type": "String", "value": "ami-0123456789abcdef0"}
    if token == "aws:lb/getLoadBalancer:getLoadBalancer":
        return {"arn": "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1", "arnSuffix": "app/x/1"}
    return {}
