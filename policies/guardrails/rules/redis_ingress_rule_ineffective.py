"""INGRESS rules aimed at Memorystore never apply: Redis sits behind VPC peering, and peered
networks do not share firewall rules; only EGRESS from the clients governs the path."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import facts
from guardrails import settings as s
from guardrails.common import Analysis, Findings, covers_any, redis_ports
from guardrails.firewall import TCP_NAMES
from guardrails.model import FirewallRule
from guardrails.rule import ADVISORY, Rule
from guardrails.values import network_of


def _overlaps(ranges: Any, nets: list[Any]) -> bool:
    if not isinstance(ranges, list):
        return False
    for raw in ranges:
        n = network_of(raw)
        if n is not None and any(n.version == x.version and n.overlaps(x) for x in nets):
            return True
    return False


def _names_redis_port(rule: FirewallRule, ports: set[int]) -> bool:
    """Whether the rule names a Redis port on purpose: tcp with that port, or a narrow range
    holding it (not `all`, not every port, which a generic allow-internal rule uses)."""
    if not isinstance(rule.entries, list):
        return False
    for proto, specs in rule.entries:
        if str(proto).lower() not in TCP_NAMES or not isinstance(specs, list):
            continue
        for spec in specs:
            lo, _, hi = str(spec).partition("-")
            if not (lo.isdigit() and (not hi or hi.isdigit())):
                continue
            first, last = int(lo), int(hi or lo)
            if last - first < 16 and any(first <= p <= last for p in ports):
                return True
    return False


def _within(ranges: Any, nets: list[Any]) -> bool:
    """Every range in `ranges` lies inside one of `nets` (and there is at least one)."""
    if not isinstance(ranges, list) or not ranges:
        return False
    for raw in ranges:
        n = network_of(raw)
        if n is None or not any(n.version == x.version and n.subnet_of(x) for x in nets):
            return False
    return True


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    """INGRESS allows aimed at Memorystore: to the Redis range, or naming the Redis port from
    the connector / Direct VPC egress ranges or tags. A generic allow-internal rule (all ports
    from 10/8) serves VMs and is left alone."""
    m = a.model
    if not len(m.redis):
        return
    ports = redis_ports(m, cfg)
    redis_nets = [n for r in m.redis if (n := network_of(m.redis_range(r))) is not None]
    client_nets = [n for s in m.subnets if (n := network_of(s.cidr)) is not None]
    client_nets += [n for c in m.connectors if (n := network_of(c.cidr)) is not None]
    for rule in m.firewalls:
        if rule.direction != "INGRESS" or rule.action != "allow" or rule.disabled is True:
            continue
        if covers_any(rule, ports) is not True:
            continue
        tags = rule.source_tags if isinstance(rule.source_tags, list) else []
        from_clients = _within(rule.source_ranges, client_nets) or any(
            isinstance(t, str) and t.startswith(facts.CONNECTOR_UNIVERSAL_TAG) for t in tags
        )
        aimed = _overlaps(rule.destination_ranges, redis_nets) or (
            from_clients and _names_redis_port(rule, ports)
        )
        if aimed:
            out.violation(
                rule.res,
                f"{rule.res.name}: an INGRESS rule for the Redis port never applies to Memorystore "
                "(it sits behind VPC peering, which does not share firewall rules), so it opens "
                "nothing for the Redis path. Fix: remove it and rely on the EGRESS allow from the "
                "connector VMs (or the Direct VPC egress tag) to the Redis range.",
            )


RULE = Rule(
    name="redis-ingress-rule-ineffective",
    description="INGRESS rules aimed at Memorystore never apply across VPC peering.",
    level=ADVISORY,
    severity=Severity.LOW,
    remediation="Remove INGRESS rules aimed at Memorystore; only EGRESS from the clients governs "
    "the path.",
    tags=("firewall",),
    check=check,
    settings=(s.PORTS,),
)
