"""Every Redis path (Cloud Run -> connector or Direct VPC egress -> Redis) is admitted by an
explicit, logged EGRESS allow that no deny shadows, through every firewall layer in Google's order
(hierarchical policies, VPC rules, network firewall policies: guardrails/layers.py)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import facts, layers
from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.firewall import explain
from guardrails.model import Network
from guardrails.path import Path
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN


def _fix_rule(p: Path) -> str:
    tag = (
        f"target tag {facts.connector_network_tag(p.connector.region, p.connector.name)}"
        if p.connector is not None
        else "the target tag on the service's network interface"
    )
    port = p.port if isinstance(p.port, int) else "<instance port>"
    return (
        f"Fix: an EGRESS allow on {getattr(p.network, 'name', 'the network')} with {tag}, "
        f"destination {p.destination}, tcp:{port} taken from the instance's port output, "
        "log_config INCLUDE_ALL_METADATA, and a lower priority number than any VPC egress deny "
        "(an organization or folder policy deny needs an allow from its admins: no VPC priority "
        "overrides it)."
    )


def _misses(p: Path) -> str:
    missed = explain(p.verdict) if p.verdict is not None else []
    if not missed:
        return ""
    shown = "; ".join(f"{r.res.name} {why}" for r, why in missed)
    return f" Rules that do not apply: {shown}."


def _policy_layer_verdict(p: Path, v: Any, out: Findings) -> None:
    """The path was decided by a firewall policy layer (hierarchical, or a network policy)."""
    svc, rule = p.service.res, v.policy_rule
    where = f"{rule.describe()}" + (f" [{rule.name}]" if rule.name else "")
    if v.allowed is UNKNOWN:
        unknowns = ", ".join(r.describe() for r in v.layer_unknown) or where
        out.unknown(
            svc, f"path {p.describe()}: {v.layer} outcome unknown during preview ({unknowns})"
        )
    elif v.allowed is False:
        first = v.layer == layers.HIERARCHICAL
        out.violation(
            svc,
            f"{svc.name}: {p.describe()} is blocked by {where}"
            + (
                ", which Google evaluates before every VPC firewall rule: no VPC rule priority "
                "overrides it. Fix: the policy's owners add an allow (or goto_next) for this "
                "traffic at a lower priority number than the deny."
                if first
                else ". Fix: an allow for this traffic in that policy at a lower priority number, "
                "or (when the network evaluates VPC rules first, AFTER_CLASSIC_FIREWALL) the "
                "Redis egress allow as a VPC rule."
            ),
        )
    elif rule.logging is not True:
        out.violation(
            svc,
            f"{svc.name}: {p.describe()} is admitted by {where}, which does not log "
            "(enableLogging). Fix: enable logging on that rule, or let the Redis egress VPC "
            "rule decide (goto_next).",
        )


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    for p in a.paths:
        svc = p.service.res
        if p.via is None or not isinstance(p.network, Network):
            continue  # no VPC path at all: cloud-run-private-redis-path reports it
        v = p.verdict
        if v is None or v.allowed is UNKNOWN:
            unknowns = [r.res.name for r in v.unknown] if v else []
            out.unknown(
                svc,
                f"path {p.describe()}: firewall outcome unknown during preview"
                + (f" (rules {', '.join(unknowns)} depend on unknown values)" if unknowns else "")
                + (f"; unknown: {', '.join(p.unknowns)}" if p.unknowns else ""),
            )
            continue
        if v.policy_rule is not None:
            _policy_layer_verdict(p, v, out)
            continue
        if v.allowed is False:
            d = v.rule
            assert d is not None
            shadowed = ", ".join(f"{r.res.name} (priority {r.priority})" for r in v.shadowed)
            out.violation(
                svc,
                f"{svc.name}: {p.describe()} is blocked by DENY rule {d.res.name} "
                f"(priority {d.priority})"
                + (f", which shadows ALLOW {shadowed}" if shadowed else "")
                + ". Fix: give the Redis egress allow a lower priority number than the deny.",
            )
            continue
        if v.rule is None:
            out.violation(
                svc,
                f"{svc.name}: no explicit EGRESS allow admits {p.describe()}; only the implied "
                "rule does, so any egress deny (org or project policy) silently breaks it."
                + _misses(p)
                + " "
                + _fix_rule(p),
            )
            continue
        log = v.rule.log_metadata
        if log is UNKNOWN:
            out.unknown(svc, f"logging of rule {v.rule.res.name} is unknown")
        elif log != metadata:
            out.violation(
                svc,
                f"{svc.name}: {p.describe()} is admitted by {v.rule.res.name}, which does not log "
                f"with {metadata} (it has {log or 'no logging'}). Fix: "
                f"log_config={{'metadata': '{metadata}'}}.",
            )


RULE = Rule(
    name="redis-egress-firewall-rule",
    description="Every Cloud Run service that uses Redis is admitted by an explicit, logged EGRESS "
    "allow (connector VMs or Direct VPC egress tag -> Redis range, Redis port) that no deny "
    "shadows.",
    level=MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Add an EGRESS allow on Redis's network, targeting the connector's "
    "vpc-connector-REGION-NAME tag (or the Direct VPC egress tag), to Redis's reserved range on "
    "the instance's port output, logging INCLUDE_ALL_METADATA; ask the organisation's admins for "
    "an allow or goto_next where a hierarchical policy denies it.",
    tags=("firewall", "path"),
    check=check,
    settings=(s.LOG_METADATA,),
    uses_firewall_policies=True,
)
