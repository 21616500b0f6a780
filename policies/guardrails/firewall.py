"""Evaluate VPC firewall rules the way Google Cloud does, for one kind of connection.

Applicable rules are those in the connection's network and direction that are enabled, target the
source (by tag, or every instance when untargeted), cover the destination (and source, where an
egress rule names source ranges) and the protocol/port. Among them the lowest priority number wins,
and at equal priority DENY beats ALLOW. When none applies, the implied rules decide (priority
65535): egress allowed, ingress denied. Values unknown during preview give a three-valued answer:
True, False, or UNKNOWN when an unknown value could change the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guardrails import layers
from guardrails.matching import (  # noqa: F401 - re-exported for the checks
    TCP_NAMES,
    IPNet,
    Tri,
    entries_cover,
    port_spec_covers,
    ranges_match,
)
from guardrails.model import FirewallRule, Network, StackModel
from guardrails.values import UNKNOWN, Unknown, as_int

IMPLIED_PRIORITY = 65535


@dataclass(frozen=True)
class Connection:
    """A connection to check: from instances with `source_tags` (addresses in `source`) in
    `network`, to `destination` (a host /32 or a whole range) on tcp `port`."""

    network: Network
    direction: str
    source_tags: frozenset[str]
    source: IPNet | None
    destination: IPNet
    port: int | Unknown
    protocol: str = "tcp"
    tags_known: bool = True  # False when a source tag is not known yet (preview)
    # False when the destination is Redis's whole range because its address is not known yet:
    # a rule that covers only part of the range may or may not cover Redis.
    destination_exact: bool = True
    # For the firewall policy layers: the sender's region and the service account it runs as
    # (None for connector VMs, which run as no account of ours).
    region: Any = None
    source_service_account: Any = None
    # The resource whose output the port is (the Redis instance): a rule whose ports are computed
    # from that same output admits the port whatever its value turns out to be.
    port_source: str | None = None


VPC_LAYER = "VPC firewall rules"
IMPLIED_LAYER = "implied rules"


@dataclass
class Verdict:
    allowed: Tri
    rule: FirewallRule | None  # the deciding VPC rule; None: another layer or the implied rule
    applicable: list[FirewallRule] = field(default_factory=list)
    unknown: list[FirewallRule] = field(default_factory=list)
    conn: Connection | None = None
    model: StackModel | None = None
    layer: str = VPC_LAYER  # the layer that decided (layers.HIERARCHICAL, ..., IMPLIED_LAYER)
    policy_rule: layers.PolicyRule | None = None  # the deciding firewall policy rule
    layer_unknown: list[layers.PolicyRule] = field(default_factory=list)

    @property
    def not_applicable(self) -> list[tuple[FirewallRule, str]]:
        """Rules that do not apply, with the reason (computed on demand, for messages)."""
        return explain(self, limit=10_000)

    @property
    def shadowed(self) -> list[FirewallRule]:
        """Applicable ALLOW rules that lost to the deciding DENY."""
        if self.rule is None or self.rule.action != "deny":
            return []
        return [r for r in self.applicable if r.action == "allow"]


class RuleIndex:
    """Rules by network and by target tag, so a connection only looks at the rules that can
    target its source: untargeted rules, rules naming one of its tags, and rules whose targets
    or network are unknown. Built once per stack; lookups are independent of the rule count."""

    def __init__(self, model: StackModel, firewall_policies: Any = None) -> None:
        self.model = model
        # Hierarchical policies from policy config (outside the stack), then the stack's own.
        self.external = layers.config_policies(firewall_policies)
        self.stack_layers = layers.index_stack(
            r for r in model.resources.values() if r.type in layers.POLICY_TYPES
        )
        self.by_network: dict[str, list[FirewallRule]] = {}
        self.untargeted: dict[str, list[FirewallRule]] = {}
        self.by_tag: dict[tuple[str, str], list[FirewallRule]] = {}
        self.unresolved: list[FirewallRule] = []
        # Workloads behind one connector (or one egress tag) make the same connection: evaluate
        # each distinct connection once.
        self.verdicts: dict[tuple[Any, ...], Verdict] = {}
        for rule in model.firewalls:
            net = model.networks.resolve(rule.network)
            if isinstance(net, Unknown):
                self.unresolved.append(rule)
                continue
            if net is None:
                continue  # a rule on a network outside the stack never applies to ours
            key = net.res.urn
            self.by_network.setdefault(key, []).append(rule)
            tags, sas = rule.target_tags, rule.target_service_accounts
            if (
                tags is UNKNOWN
                or sas is UNKNOWN
                or (isinstance(tags, list) and any(t is UNKNOWN for t in tags))
            ):
                self.unresolved.append(rule)
            elif sas:
                continue  # targets service accounts: never the connector VMs or our tags
            elif tags:
                for tag in set(tags):
                    self.by_tag.setdefault((key, tag), []).append(rule)
            else:
                self.untargeted.setdefault(key, []).append(rule)

    def candidates(self, conn: Connection) -> list[FirewallRule]:
        key = conn.network.res.urn
        if not conn.tags_known:
            both = self.by_network.get(key, []) + self.unresolved
            return list({id(r): r for r in both}.values())
        seen: dict[int, FirewallRule] = {}
        for rule in self.untargeted.get(key, []) + self.unresolved:
            seen[id(rule)] = rule
        for tag in conn.source_tags:
            for rule in self.by_tag.get((key, tag), []):
                seen[id(rule)] = rule
        return list(seen.values())


def applies(rule: FirewallRule, conn: Connection, model: StackModel) -> tuple[Tri, str]:
    """Whether `rule` applies to `conn`, and if not, why (for messages)."""
    unknown: list[str] = []
    if rule.disabled is UNKNOWN:
        unknown.append("disabled")
    elif rule.disabled:
        return False, "is disabled"
    if rule.direction is UNKNOWN:
        unknown.append("direction")
    elif rule.direction != conn.direction:
        return False, f"is {rule.direction}, the connection needs {conn.direction}"
    net = model.networks.resolve(rule.network)
    if isinstance(net, Unknown):
        unknown.append("network")
    elif net is not conn.network:
        where = net.name if net is not None else rule.network.raw
        return False, f"is on network {where}, not {conn.network.name}"
    tags, sas = rule.target_tags, rule.target_service_accounts
    if tags is UNKNOWN or sas is UNKNOWN:
        unknown.append("targets")
    elif sas:
        return False, "targets service accounts, which the connection's source does not run as"
    elif tags:
        known_tags = {t for t in tags if isinstance(t, str)}
        if not conn.source_tags & known_tags:
            if len(known_tags) < len(tags) or not conn.tags_known:
                unknown.append("target tags")
            else:
                return (
                    False,
                    f"targets tags {sorted(tags)}, the source carries {sorted(conn.source_tags)}",
                )
    whole = rule.action == "allow"
    dest = _destination_match(rule, conn)
    # Any VM in the source range may send: an ALLOW must cover all of it, a DENY touching part
    # of it blocks some of them.
    src = ranges_match(rule.source_ranges, conn.source, whole=whole)
    if dest is UNKNOWN:
        unknown.append("destination ranges")
    elif not dest:
        return (
            False,
            f"destination ranges {rule.destination_ranges} do not cover {conn.destination}",
        )
    if src is UNKNOWN:
        unknown.append("source ranges")
    elif not src:
        return False, f"source ranges {rule.source_ranges} do not cover {conn.source}"
    ports = entries_cover(rule.entries, conn.protocol, conn.port)
    if ports is UNKNOWN and _port_from_source(rule, conn):
        ports = True
    if ports is UNKNOWN:
        unknown.append("ports")
    elif not ports:
        shown = "unknown" if conn.port is UNKNOWN else conn.port
        return False, f"does not cover {conn.protocol}:{shown} ({_entries_text(rule.entries)})"
    if rule.priority is UNKNOWN or rule.priority is None:
        unknown.append("priority")
    if unknown:
        return UNKNOWN, "cannot be decided during preview: unknown " + ", ".join(unknown)
    return True, ""


def _port_from_source(rule: FirewallRule, conn: Connection) -> bool:
    """During preview the instance's port is unknown, and so is a rule port computed from it.
    When the rule's only unknown port entry depends on the very instance the connection goes to
    (allows[].ports = instance.port), the rule admits that port whatever it is: decide, rather
    than leave the path undecided on every new stack. A rule whose ports are known is matched
    against the port as usual."""
    if conn.port is not UNKNOWN or conn.port_source is None:
        return False
    if conn.port_source not in rule.res.deps_of("allows" if rule.action == "allow" else "denies"):
        return False
    if not isinstance(rule.entries, list):
        return False
    return any(
        str(proto).lower() in TCP_NAMES and (ports is UNKNOWN or UNKNOWN in (ports or []))
        for proto, ports in rule.entries
    )


def _destination_match(rule: FirewallRule, conn: Connection) -> Tri:
    covers = ranges_match(rule.destination_ranges, conn.destination, whole=True)
    if conn.destination_exact:
        # One address: covering it and touching it are the same.
        return covers
    if covers is True:
        return True
    touches = ranges_match(rule.destination_ranges, conn.destination, whole=False)
    if touches is True:
        return UNKNOWN  # part of Redis's range: whether it holds Redis's address is not known yet
    if touches is UNKNOWN or covers is UNKNOWN:
        return UNKNOWN
    return False


def _entries_text(entries: Any) -> str:
    if entries is UNKNOWN:
        return "unknown"
    parts = []
    for proto, ports in entries:
        if ports is UNKNOWN:
            parts.append(f"{proto}:unknown")
        elif ports:
            parts.append(f"{proto}:{','.join(str(p) for p in ports)}")
        else:
            parts.append(f"{proto}:all")
    return " ".join(parts) or "nothing"


def _order(rule: FirewallRule) -> tuple[int, int]:
    return (as_int(rule.priority) or 0, 0 if rule.action == "deny" else 1)  # type: ignore[return-value]


def evaluate(index: RuleIndex, conn: Connection) -> Verdict:
    key = (
        conn.network.res.urn,
        conn.direction,
        conn.source_tags,
        conn.source,
        conn.destination,
        conn.port if isinstance(conn.port, int) else None,
        conn.protocol,
        conn.tags_known,
        conn.region if isinstance(conn.region, str) else None,
        conn.port_source,
        conn.source_service_account if isinstance(conn.source_service_account, str) else None,
    )
    cached = index.verdicts.get(key)
    if cached is None:
        cached = index.verdicts[key] = _evaluate(index, conn)
    return cached


def _network_keys(net: Network) -> frozenset[str]:
    keys = {net.res.urn}
    for prop in ("name", "id", "selfLink"):
        v = net.res.get(prop)
        if isinstance(v, str) and v:
            keys.add(v)
    return frozenset(keys)


def _flow(conn: Connection) -> layers.Flow:
    return layers.Flow(
        network_ids=_network_keys(conn.network),
        region=conn.region,
        direction=conn.direction,
        source=conn.source,
        source_service_account=conn.source_service_account,
        destination=conn.destination,
        destination_exact=conn.destination_exact,
        port=conn.port,
        protocol=conn.protocol,
    )


def _from_layer(v: layers.LayerVerdict, conn: Connection, index: RuleIndex) -> Verdict:
    return Verdict(
        v.allowed if v.allowed is not None else UNKNOWN,
        None,
        conn=conn,
        model=index.model,
        layer=v.layer,
        policy_rule=v.rule,
        layer_unknown=v.unknown,
    )


def _evaluate(index: RuleIndex, conn: Connection) -> Verdict:
    """Google's order: hierarchical policies; then VPC rules and network policies (network
    policies first under BEFORE_CLASSIC_FIREWALL); then the implied rules (layers.py)."""
    flow = _flow(conn)
    hierarchical, network = layers.network_layers(
        index.stack_layers, conn.network.res.urn, set(flow.network_ids), conn.region
    )
    before = conn.network.res.get("networkFirewallPolicyEnforcementOrder")
    if before is UNKNOWN and network:
        return Verdict(UNKNOWN, None, conn=conn, model=index.model, layer="enforcement order")
    first = before == "BEFORE_CLASSIC_FIREWALL"
    pre = index.external + hierarchical + (network if first else [])
    v = layers.evaluate(pre, flow)
    if v.allowed is not None:
        return _from_layer(v, conn, index)
    vpc = _evaluate_vpc(index, conn)
    if vpc.rule is not None or vpc.allowed is UNKNOWN:
        return vpc
    post = layers.evaluate([] if first else network, flow)
    if post.allowed is not None:
        return _from_layer(post, conn, index)
    vpc.layer = IMPLIED_LAYER
    return vpc


def _evaluate_vpc(index: RuleIndex, conn: Connection) -> Verdict:
    applicable: list[FirewallRule] = []
    unknown: list[FirewallRule] = []
    for rule in index.candidates(conn):
        ok, _ = applies(rule, conn, index.model)
        if ok is UNKNOWN:
            unknown.append(rule)
        elif ok:
            applicable.append(rule)
    applicable.sort(key=_order)
    decider = applicable[0] if applicable else None
    decider_priority = as_int(decider.priority) if decider is not None else IMPLIED_PRIORITY
    implied_allow = conn.direction == "EGRESS"
    allowed: Tri = (decider.action == "allow") if decider is not None else implied_allow
    for rule in unknown:
        p = as_int(rule.priority)
        if p is UNKNOWN or p is None or p <= decider_priority:  # type: ignore[operator]
            allowed = UNKNOWN
            break
    return Verdict(allowed, decider, applicable, unknown, conn=conn, model=index.model)


# Policy rule actions that end the evaluation without a deny: `allow`, and
# `apply_security_profile_group` (the connection goes on to L7 inspection). `goto_next` admits
# nothing by itself ("Evaluation order for firewall policies and rules",
# https://cloud.google.com/firewall/docs/firewall-policies-rule-eval-order).
_ADMITTING_ACTIONS = ("allow", "apply_security_profile_group")


def admitting_rules(index: RuleIndex, conn: Connection) -> list[str]:
    """Every rule, in any layer Google evaluates for `conn`, that may admit it: a VPC ALLOW or a
    firewall policy allow whose match the unknown values (preview) do not rule out. Empty means
    no assignment of the unknowns (Redis's address and port, computed ranges) lets an explicit
    allow admit the connection: only the implied rule or a deny can decide it."""
    out: list[str] = []
    for rule in index.candidates(conn):
        maybe_allow = rule.action == "allow" or rule.res.props.get("denies") is UNKNOWN
        if maybe_allow and applies(rule, conn, index.model)[0] is not False:
            out.append(str(rule.res.name))
    flow = _flow(conn)
    hierarchical, network = layers.network_layers(
        index.stack_layers, conn.network.res.urn, set(flow.network_ids), conn.region
    )
    for _, rules in index.external + hierarchical + network:
        for prule in rules:
            admits = prule.action is UNKNOWN or prule.action in _ADMITTING_ACTIONS
            if admits and layers.applies(prule, flow)[0] is not False:
                out.append(prule.describe())
    return out


def vpc_denies(index: RuleIndex, conn: Connection) -> tuple[list[FirewallRule], list[FirewallRule]]:
    """The VPC DENY rules that apply to `conn` whatever the unknown values, and those that may."""
    sure: list[FirewallRule] = []
    maybe: list[FirewallRule] = []
    for r in index.candidates(conn):
        if r.action != "deny":
            continue
        ok = applies(r, conn, index.model)[0]
        if ok is True:
            sure.append(r)
        elif ok is UNKNOWN:
            maybe.append(r)
    return sorted(sure, key=_order), sorted(maybe, key=_order)


def explain(verdict: Verdict, limit: int = 5) -> list[tuple[FirewallRule, str]]:
    """Why the stack's other rules do not apply to the verdict's connection, for a violation
    message. Walks every rule, so it runs only when something is reported."""
    conn, model = verdict.conn, verdict.model
    if conn is None or model is None:
        return []
    out: list[tuple[FirewallRule, str]] = []
    for rule in model.firewalls:
        ok, why = applies(rule, conn, model)
        if ok is False:
            out.append((rule, why))
            if len(out) >= limit:
                break
    return out
