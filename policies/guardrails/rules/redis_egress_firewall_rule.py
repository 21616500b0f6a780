"""Every Redis path (Cloud Run -> connector or Direct VPC egress -> Redis) is admitted by an
explicit, logged EGRESS allow that no deny shadows, through every firewall layer in Google's order
(hierarchical policies, VPC rules, network firewall policies: guardrails/layers.py)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import facts, layers
from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.firewall import admitting_rules, explain, vpc_denies
from guardrails.model import FirewallRule, Network
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
    dest = p.destination or "Redis's range (the instance's reserved_ip_range output)"
    return (
        f"Fix: an EGRESS allow on {getattr(p.network, 'name', 'the network')} with {tag}, "
        f"destination {dest}, tcp:{port} taken from the instance's port output, "
        "log_config INCLUDE_ALL_METADATA, and a lower priority number than any VPC egress deny "
        "(an organization or folder policy deny needs an allow from its admins: no VPC priority "
        "overrides it)."
    )


def _allow_fix(rule: FirewallRule, why: str, p: Path) -> str:
    """What makes one existing EGRESS allow apply, from the reason it does not (firewall.applies):
    the cause, never a priority that would not help."""
    name = rule.res.name
    port = p.port if isinstance(p.port, int) else "<instance port>"
    if why == "is disabled":
        return f"enable {name} (disabled=False)"
    if why.startswith("targets tags"):
        tag = (
            facts.connector_network_tag(p.connector.region, p.connector.name)
            if p.connector is not None
            else "the tag on the service's network interface"
        )
        return f"{name} {why}: add {tag} to its target_tags"
    if why.startswith("targets service accounts"):
        return (
            f"{name} {why}: target the connector's network tag instead"
            if p.via == "connector"
            else f"{name} {why}: target the service's own account or its network tag"
        )
    if why.startswith("destination ranges"):
        dest = p.destination or "Redis's range (the instance's reserved_ip_range output)"
        return f"{name}'s {why}: make them cover {dest}"
    if why.startswith("source ranges"):
        return f"{name}'s {why}: drop source_ranges or cover the sender's subnet"
    if why.startswith("does not cover"):
        return f"{name} {why}: allow tcp:{port} from the instance's port output"
    return f"{name} {why}"


def _cause_fix(p: Path) -> str | None:
    """The fix for the EGRESS allows on the path's network that exist but do not apply, from
    their reasons; None when there is no such allow (the allow is missing)."""
    if p.verdict is None:
        return None
    fixes = [
        _allow_fix(r, why, p)
        for r, why in explain(p.verdict, limit=10_000)
        if r.action == "allow"
        and r.direction in ("EGRESS", UNKNOWN)
        and not why.startswith("is on network")
    ]
    return "Fix: " + "; ".join(fixes) + "." if fixes else None


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
        before = (
            isinstance(p.network, Network)
            and p.network.res.get("networkFirewallPolicyEnforcementOrder")
            == "BEFORE_CLASSIC_FIREWALL"
        )
        # Google: with BEFORE_CLASSIC_FIREWALL the network's firewall policies are evaluated
        # before its VPC firewall rules ("Evaluation order for firewall policies and rules",
        # https://cloud.google.com/firewall/docs/firewall-policies-rule-eval-order).
        out.violation(
            svc,
            f"{svc.name}: {p.describe()} is blocked by {where}"
            + (
                ", which Google evaluates before every VPC firewall rule: no VPC rule priority "
                "overrides it. Fix: the policy's owners add an allow (or goto_next) for this "
                "traffic at a lower priority number than the deny."
                if first
                else f", which the network {p.network.name} evaluates before its VPC firewall "  # type: ignore[union-attr]
                "rules (networkFirewallPolicyEnforcementOrder BEFORE_CLASSIC_FIREWALL): no VPC "
                "allow is reached. Fix: an allow (or goto_next) for this traffic in that policy "
                "at a lower priority number than the deny, or the order AFTER_CLASSIC_FIREWALL "
                "so that the Redis egress VPC allow decides first."
                if before
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
        open_ = v is not None and v.allowed is UNKNOWN and v.conn is not None
        if open_ and not admitting_rules(a.index, v.conn):  # type: ignore[union-attr,arg-type]
            _no_allow_at_all(p, a, out)
            continue
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
            if shadowed:
                fix = "Fix: give the Redis egress allow a lower priority number than the deny."
            else:
                fix = _cause_fix(p) or (
                    f"There is no EGRESS allow on network {p.network.name} for this path. "
                    + _fix_rule(p)
                )
            out.violation(
                svc,
                f"{svc.name}: {p.describe()} is blocked by DENY rule {d.res.name} "
                f"(priority {d.priority})"
                + (f", which shadows ALLOW {shadowed}" if shadowed else "")
                + "."
                + ("" if shadowed else _misses(p))
                + " "
                + fix,
            )
            continue
        if v.rule is None:
            out.violation(
                svc,
                f"{svc.name}: no explicit EGRESS allow admits {p.describe()}; only the implied "
                "rule does, so any egress deny (org or project policy) silently breaks it."
                + _misses(p)
                + " "
                + (_cause_fix(p) or _fix_rule(p)),
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


def _no_allow_at_all(p: Path, a: Analysis, out: Findings) -> None:
    """Preview left the outcome open (Redis's address or port not known yet), but no explicit
    allow in any layer can admit the path whatever they turn out to be: a deny blocks it or only
    the implied rule admits it, both of which this policy refuses."""
    svc, v = p.service.res, p.verdict
    assert v is not None and v.conn is not None and isinstance(p.network, Network)
    sure, maybe = vpc_denies(a.index, v.conn)
    if sure:
        outcome = f"DENY rule {sure[0].res.name} (priority {sure[0].priority}) blocks it"
    elif maybe:
        names = ", ".join(f"{r.res.name} (priority {r.priority})" for r in maybe)
        outcome = f"DENY {names} blocks it where it applies, and only the implied rule admits it elsewhere"
    else:
        outcome = "only the implied rule admits it, which any egress deny silently breaks"
    out.violation(
        svc,
        f"{svc.name}: no EGRESS allow on network {p.network.name} (nor in any firewall policy) "
        f"can admit {p.describe()}, whatever Redis's address and port turn out to be: "
        f"{outcome}.{_misses(p)} " + (_cause_fix(p) or _fix_rule(p)),
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
