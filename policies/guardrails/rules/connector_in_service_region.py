"""A service's connector is a connector of this stack (or another stack's, by reference) and
sits in the service's region. A connector is regional, and Google's steps for creating one have
its region match the serverless service's (Configure Serverless VPC Access,
https://cloud.google.com/vpc/docs/configure-serverless-vpc-access; a paraphrase: the copy we
could search did not hold that step's wording). Another stack's connector (a value whose
dependency is a StackReference's URN: the engine never sends the reference itself) is judged by
the region its full id names, `projects/<p>/locations/<region>/connectors/<name>`
(resource name pattern `projects/{project}/locations/{location}/connectors/{connector}`:
https://cloud.google.com/dotnet/docs/reference/Google.Cloud.VpcAccess.V1/latest/Google.Cloud.VpcAccess.V1.ConnectorName.ResourceNameType)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.model import from_stack_reference
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, Unknown, region_of


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
            # Another stack's connector: its network is that stack's to check, but a full id
            # (projects/<p>/locations/<region>/connectors/<name>) names its region.
            where = region_of(svc.connector.raw)
            if where is None:
                continue  # a bare name: the region is that stack's to tell
            if svc.location is UNKNOWN:
                out.unknown(svc.res, "service region unknown")
            elif svc.location != where:
                out.violation(
                    svc.res,
                    f"{svc.res.name}: runs in {svc.location} but its connector "
                    f"{svc.connector.raw!r} (another stack's output, through a StackReference) "
                    f"is in {where}; a connector serves only its own region. Fix: take the id of "
                    f"the other stack's connector in {svc.location} (or create one there), or run "
                    f"the service in {where}.",
                )
            continue
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
