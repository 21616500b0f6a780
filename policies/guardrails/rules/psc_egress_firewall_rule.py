"""Every workload on a Memorystore for Valkey or Redis Cluster path is admitted by an explicit
EGRESS allow to the PSC endpoints' subnet on tcp 6379 and 11000-13047 that no deny shadows,
through every firewall layer in Google's order (guardrails/layers.py, firewall.py).

Google: "For all of your instance's Private Service Connect endpoints, you must allow TCP port
6379, as well as TCP ports 11000 through 13047." (https://docs.cloud.google.com/memorystore/docs/valkey/connect-instance;
Redis Cluster: https://docs.cloud.google.com/memorystore/docs/cluster/connect-cluster-instance), and
"Ensure that an egress firewall rule is set up to allow traffic to the IP address of the Private
Service Connect endpoint." (https://cloud.google.com/memorystore/docs/cluster/configure-private-service-connect).
The endpoints take their addresses from the service connection policy's subnets, so the allow
covers those ranges; which node port a client opens is not documented per node: all of them.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import facts
from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.firewall import explain
from guardrails.model import Network
from guardrails.psc import PortVerdict, PscPath, analyze, ports_text, required_ports
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def _ranges(p: PscPath) -> str:
    if isinstance(p.destinations, list) and p.destinations:
        return ", ".join(str(d) for d in p.destinations)
    return "the service connection policy's subnet range"


def _tag(p: PscPath) -> str:
    if p.connector is not None and isinstance(p.connector.region, str):
        return "target tag " + facts.connector_network_tag(p.connector.region, p.connector.name)
    return "the target tag (or service account) of the workload's network interface"


def _fix(p: PscPath) -> str:
    net = p.network.name if isinstance(p.network, Network) else "the network"
    return (
        f"Fix: an EGRESS allow on {net} with {_tag(p)}, destination {_ranges(p)}, "
        f"{required_ports()}, log_config INCLUDE_ALL_METADATA, at a lower priority number than "
        "any VPC egress deny (an organization or folder policy deny needs an allow from its "
        "admins: no VPC priority overrides it)."
    )


def _partial_allows(p: PscPath, missing: list[PortVerdict]) -> list[str]:
    """EGRESS allows that exist but do not apply to the missing ports, with the reason."""
    reasons: dict[str, str] = {}
    for v in missing:
        for rule, why in explain(v.verdict, limit=10_000):
            if rule.action != "allow" or rule.direction not in ("EGRESS", UNKNOWN):
                continue
            if why.startswith("is on network"):
                continue
            reasons.setdefault(str(rule.res.name), why)
    return [f"{name} {why}" for name, why in reasons.items()]


def _why(v: PortVerdict) -> str:
    d = v.verdict
    if d.policy_rule is not None:
        return f"blocked by {d.policy_rule.describe()}"
    if d.rule is not None:
        shadowed = ", ".join(f"{r.res.name} (priority {r.priority})" for r in d.shadowed)
        return f"blocked by DENY rule {d.rule.res.name} (priority {d.rule.priority})" + (
            f", which shadows ALLOW {shadowed}" if shadowed else ""
        )
    return "admitted only by the implied rule, which any egress deny silently breaks"


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    for p in analyze(a, cfg.get(s.SERVICE_CONNECTION_POLICIES.name)):
        svc = p.service.res
        for problem in p.problems:
            out.violation(svc, f"{svc.name}: {p.describe()}: {problem}")
        if p.problems or p.elsewhere:
            continue
        if not p.verdicts:
            if p.unknowns:
                out.unknown(svc, f"path {p.describe()}: unknown: {', '.join(p.unknowns)}")
            continue
        failing: dict[str, list[PortVerdict]] = {}
        undecided: list[PortVerdict] = []
        for v in p.verdicts:
            if v.verdict.allowed is UNKNOWN:
                undecided.append(v)
            elif v.verdict.allowed is False or (
                v.verdict.rule is None and v.verdict.policy_rule is None
            ):
                failing.setdefault(_why(v), []).append(v)
        if failing:
            said = "; ".join(f"{ports_text(vs)} {why}" for why, vs in failing.items())
            denied = any(v.verdict.allowed is False for vs in failing.values() for v in vs)
            shadows = any(v.verdict.shadowed for vs in failing.values() for v in vs)
            partial = _partial_allows(p, [v for vs in failing.values() for v in vs])
            if shadows:
                fix = "Fix: give the PSC egress allow a lower priority number than the deny."
            elif partial and not denied:
                fix = (
                    f"Fix: make the allow cover {required_ports()} to {_ranges(p)} "
                    f"({'; '.join(partial)})."
                )
            else:
                fix = _fix(p)
            out.violation(
                svc,
                f"{svc.name}: {p.describe()} needs {required_ports()} to {_ranges(p)}, but "
                f"{said}. {fix}",
            )
        elif undecided:
            names = {r.res.name for v in undecided for r in v.verdict.unknown}
            out.unknown(
                svc,
                f"path {p.describe()}: firewall outcome for {ports_text(undecided)} unknown "
                "during preview" + (f" (rules {', '.join(sorted(names))})" if names else ""),
            )


RULE = Rule(
    name="psc-egress-firewall-rule",
    description="Every workload on a Memorystore for Valkey or Redis Cluster path is admitted by "
    "an explicit EGRESS allow to the PSC subnet on tcp 6379 and 11000-13047 that no deny "
    "shadows, through every firewall layer.",
    level=MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Add an EGRESS allow on the instance's network, targeting the connector's "
    "vpc-connector-REGION-NAME tag (or the Direct VPC egress tag), to the service connection "
    "policy's subnet range on tcp 6379 and 11000-13047, logging INCLUDE_ALL_METADATA, at a lower "
    "priority number than any egress deny.",
    tags=("firewall", "path", "psc"),
    check=check,
    settings=(s.SERVICE_CONNECTION_POLICIES,),
    uses_firewall_policies=True,
)
