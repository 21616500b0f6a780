"""A service's connector is a connector of this stack (or another stack's, by reference) and
sits in the service's region. A connector is regional, and Google's steps for creating one have
its region match the serverless service's (Configure Serverless VPC Access,
https://cloud.google.com/vpc/docs/configure-serverless-vpc-access; a paraphrase: the copy we
could search did not hold that step's wording)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.model import from_stack_reference
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, Unknown


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    for svc in m.services:
        if svc.connector is None:
            continue
        c = m.connectors.resolve(svc.connector)
        if isinstance(c, Unknown):
            out.unknown(svc.res, "connector unknown")
            continue
        if c is None and from_stack_reference(svc.connector):
            continue  # another stack's connector: its region and network are that stack's to check
        if c is None:
            out.violation(
                svc.res,
                f"{svc.res.name}: uses connector {svc.connector.raw!r}, which is not a connector of "
                "this stack. Fix: create the connector in this stack and pass connector.id (or "
                "take a shared connector's id from its stack through a StackReference).",
            )
            continue
        if svc.location is UNKNOWN or c.region is UNKNOWN:
            out.unknown(svc.res, "regions unknown")
        elif svc.location != c.region:
            out.violation(
                c.res,
                f"{c.res.name}: connector is in {c.region} but service {svc.name} runs in "
                f"{svc.location}; a connector serves only its own region. Fix: one connector per "
                "region, in the services' region.",
            )


RULE = Rule(
    name="connector-in-service-region",
    description="Each service's connector exists (in this stack, or another stack's by reference) "
    "and sits in the service's region.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create one connector per region, in the services' region, and pass its id from "
    "the connector resource (or a StackReference output).",
    tags=("connector", "path"),
    check=check,
)
