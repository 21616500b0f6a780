"""A service's connector is a connector of this stack (or another stack's, by reference, or a
Shared VPC host's, by its full id: Google's "connector in the host project" layout,
https://cloud.google.com/run/docs/configuring/shared-vpc-host-project, where the service
project's Cloud Run service agent holds roles/vpcaccess.user on the host) and sits in the
service's region. A connector is regional, and Google's steps for creating one have
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

from guardrails import settings
from guardrails.common import Analysis, Findings, shared_vpc_host
from guardrails.model import Service, from_stack_reference
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
            # (projects/<p>/locations/<region>/connectors/<name>) names its region; a bare name
            # leaves the region to that stack.
            _named_region(svc, "another stack's output, through a StackReference", out)
            continue
        host = m.connector_host(svc) if c is None else None
        if host is not None and shared_vpc_host(m, host, cfg):
            # A Shared VPC host's connector by its full id: its id says its region.
            _named_region(svc, f"the Shared VPC host {host}'s connector", out)
            continue
        if c is None:
            why = (
                f", and {host} is not a Shared VPC host it may use (neither the host its Redis is "
                "authorized on nor one of policy config sharedVpcHostProjects)"
                if host is not None
                else ""
            )
            out.violation(
                svc.res,
                f"{svc.res.name}: uses connector {svc.connector.raw!r}, which is not a connector of "
                f"this stack{why}. Fix: create the connector in this stack and pass connector.id "
                "(or take a shared connector's id from its stack through a StackReference, or name "
                "the connector of the host Redis is on).",
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


def _named_region(svc: Service, whose: str, out: Findings) -> None:
    """A connector outside the stack, judged by the region its full id names."""
    connector = svc.connector.raw if svc.connector is not None else None
    region = region_of(connector) if isinstance(connector, str) else None
    if region is None:
        return
    if svc.location is UNKNOWN:
        out.unknown(svc.res, "service region unknown")
    elif isinstance(svc.location, str) and region != svc.location:
        out.violation(
            svc.res,
            f"{svc.res.name}: runs in {svc.location} but its connector {connector!r} ({whose}) "
            f"is in {region}; a connector serves only its own region. Fix: use the connector in "
            f"{svc.location} (the stack or platform team that owns connectors creates one per "
            f"region), or run the service in {region}.",
        )


RULE = Rule(
    name="connector-in-service-region",
    description="Each service's connector exists (in this stack, another stack's by reference, or "
    "a Shared VPC host's by its full id) and sits in the service's region.",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create one connector per region, in the services' region, and pass its id from "
    "the connector resource (or a StackReference output).",
    tags=("connector", "path"),
    check=check,
    settings=(settings.SHARED_VPC_HOSTS,),
)
