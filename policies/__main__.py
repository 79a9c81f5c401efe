"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack policies`."""

from pulumi_policy import PolicyPack

from policies.pack import policies

PolicyPack(name="affiliate-analytics-guardrails", policies=policies())
