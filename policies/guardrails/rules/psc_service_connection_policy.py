"""Every Memorystore for Valkey and Redis Cluster instance has the service connection policy of
its product's service class for each network it asks PSC endpoints in, in its region: in the
program, or declared in policy config (a platform or Shared VPC host stack owns it).

Google: "You can create only one service connection policy for each combination of network,
region, and service class" (https://cloud.google.com/vpc/docs/about-service-connection-policies);
"The network ID used here must match the network ID used by the service connection policy.
Otherwise, the `create` operation fails." (https://docs.cloud.google.com/memorystore/docs/valkey/manage-iam-auth,
https://cloud.google.com/memorystore/docs/cluster/manage-in-transit-encryption); the policy must be
in the region the instance is deployed in (https://docs.cloud.google.com/memorystore/docs/valkey/networking).
Service classes: guardrails/facts.py PSC_SERVICE_CLASS.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.model import Network, PscInstance, StackModel
from guardrails.psc import declared_policies, find_policy, instance_networks
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, Unknown


def _others(m: StackModel, net: Network) -> str:
    """The policies the program has on that network, for the message."""
    found = [
        f"{p.res.name} (class {p.service_class}, location {p.location})"
        for p in m.connection_policies
        if m.networks.resolve(p.network) is net
    ]
    return f" Policies on {net.name}: {', '.join(found)}." if found else ""


def _missing(m: StackModel, inst: PscInstance, net: Network, out: Findings) -> None:
    region = inst.region if isinstance(inst.region, str) else "its region"
    cls = inst.service_class
    out.violation(
        inst.res,
        f"{inst.res.name}: {inst.product.label} {inst.name} in {region} asks for PSC endpoints on "
        f"network {net.name}, but no service connection policy of class {cls} exists for that "
        "network and region (in the program, or declared in policy config "
        "serviceConnectionPolicies), so Memorystore cannot create its endpoints and the "
        f"instance's create fails.{_others(m, net)} Fix: a ServiceConnectionPolicy with "
        f"service_class='{cls}', network=<the network's id output>, location='{region}' and "
        "psc_config.subnetworks=[<a dedicated regular subnet's id>], created before the instance "
        "(depends_on); or, when another stack owns that policy, declare it in policy config "
        "serviceConnectionPolicies.",
    )


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    declared = declared_policies(cfg.get(s.SERVICE_CONNECTION_POLICIES.name))
    for inst in m.psc:
        nets = instance_networks(m, inst)
        if not nets and m.user_connected(inst):
            continue  # the program's own registered connections need no policy (facts.py)
        if not nets:
            out.violation(
                inst.res,
                f"{inst.res.name}: {inst.product.label} {inst.name} asks for PSC endpoints on no "
                "network, so no client can reach it. Fix: "
                + (
                    "desired_auto_created_endpoints=[{'network': <the network's id output>, "
                    "'project_id': <project>}] (set at creation: a change replaces the instance)."
                    if inst.product.has_mode
                    else "psc_configs=[{'network': <the network's id output>}]."
                ),
            )
        for net in nets:
            if isinstance(net, Unknown):
                out.unknown(inst.res, "the network its PSC endpoints are in")
                continue
            if net is None:
                continue  # a literal naming no network: no-hardcoded-psc-references reports it
            if net.external and not declared:
                continue  # another stack's network: its policy is that stack's to check
            found = find_policy(m, inst, net, declared)
            if found is UNKNOWN:
                out.unknown(inst.res, f"whether a service connection policy covers {net.name}")
            elif found is None:
                _missing(m, inst, net, out)


RULE = Rule(
    name="psc-service-connection-policy",
    description="Every Memorystore for Valkey and Redis Cluster instance has a service connection "
    "policy of its service class for its network and region (in the program or declared in "
    "policy config).",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Create a ServiceConnectionPolicy (service class gcp-memorystore for Valkey, "
    "gcp-memorystore-redis for Redis Cluster) on the instance's network and region, with a "
    "dedicated subnet, before the instance; or declare the platform's policy in policy config "
    "serviceConnectionPolicies.",
    tags=("network", "psc"),
    check=check,
    settings=(s.SERVICE_CONNECTION_POLICIES,),
)
