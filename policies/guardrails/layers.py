"""Firewall policy layers around the VPC firewall rules, evaluated in Google's order.

Google Cloud evaluates, for a regular VPC network ("Evaluation order for firewall policies and
rules", https://cloud.google.com/firewall/docs/firewall-policies-rule-eval-order):

1. hierarchical firewall policies: the organization's, then each folder's from the top down;
2. (regional system firewall policies, which Google manages and which we cannot see);
3. VPC firewall rules, then global and regional network firewall policies (the default,
   `AFTER_CLASSIC_FIREWALL`), or the network firewall policies first and the VPC firewall rules
   after them when the network's `networkFirewallPolicyEnforcementOrder` is
   `BEFORE_CLASSIC_FIREWALL`;
4. the implied rules (egress allowed, ingress denied).

Within one policy the matching rule with the lowest priority number decides: `allow` and `deny`
end the evaluation, `goto_next` hands the connection to the next layer, and no match does the same.
So no VPC rule priority can override an organization's `deny`.

Hierarchical policies usually live outside the stack; they reach the pack through the policy
config `firewallPolicies`: a list, in evaluation order (organization first), of
`{"name": ..., "rules": [...]}` where each rule is what `gcloud compute firewall-policies rules
list --firewall-policy=POLICY --format=json` (or the API's firewallPolicies.getRule) prints:
`priority`, `action`, `direction`, `disabled`, `match.{srcIpRanges,destIpRanges,layer4Configs}`,
`targetResources`, `targetServiceAccounts`, `targetSecureTags`, `enableLogging`.
Hierarchical and network policy rules cannot target network tags, the only identity a
Serverless VPC Access connector's VMs carry, so a rule with targets applies to a connector's
traffic only through `targetResources` (the network).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardrails import facts
from guardrails.matching import IPNet, Tri, entries_cover, ranges_match
from guardrails.values import UNKNOWN, Unknown, as_int, get, last_segment

HIERARCHICAL = "hierarchical firewall policy"
GLOBAL_NETWORK = "global network firewall policy"
REGIONAL_NETWORK = "regional network firewall policy"

FIREWALL_POLICY = facts.FIREWALL_POLICY
FIREWALL_POLICY_RULE = facts.FIREWALL_POLICY_RULE
FIREWALL_POLICY_ASSOCIATION = facts.FIREWALL_POLICY_ASSOCIATION
NETWORK_POLICY = facts.NETWORK_POLICY
NETWORK_POLICY_RULE = facts.NETWORK_POLICY_RULE
NETWORK_POLICY_ASSOCIATION = facts.NETWORK_POLICY_ASSOCIATION
REGION_POLICY = facts.REGION_POLICY
REGION_POLICY_RULE = facts.REGION_POLICY_RULE
REGION_POLICY_ASSOCIATION = facts.REGION_POLICY_ASSOCIATION
POLICY_TYPES = frozenset(
    {
        FIREWALL_POLICY,
        FIREWALL_POLICY_RULE,
        FIREWALL_POLICY_ASSOCIATION,
        NETWORK_POLICY,
        NETWORK_POLICY_RULE,
        NETWORK_POLICY_ASSOCIATION,
        REGION_POLICY,
        REGION_POLICY_RULE,
        REGION_POLICY_ASSOCIATION,
    }
)


@dataclass
class PolicyRule:
    """One rule of a firewall policy, from the stack (`urn`) or from policy config (no urn)."""

    layer: str
    policy: str  # the policy's name, for messages
    priority: Any
    action: Any  # allow | deny | goto_next | apply_security_profile_group
    direction: Any
    disabled: Any
    src_ranges: Any
    dest_ranges: Any
    layer4: Any  # [(protocol, ports)] or UNKNOWN
    target_networks: Any  # hierarchical targetResources
    target_service_accounts: Any
    target_secure_tags: Any
    logging: Any
    region: Any = None  # regional network policies
    urn: str | None = None
    name: str = ""

    def describe(self) -> str:
        return f"{self.layer} {self.policy} rule {self.priority} ({self.action})"


@dataclass(frozen=True)
class Flow:
    """The connection, as the policy layers see it."""

    network_ids: frozenset[str]  # ids / self links / names the network is known by
    region: Any
    direction: str
    source: IPNet | None
    source_service_account: Any  # the sending workload's account; None for connector VMs
    destination: IPNet
    destination_exact: bool
    port: int | Unknown
    protocol: str = "tcp"


@dataclass
class LayerVerdict:
    """What one layer decided: True/False (allow/deny), UNKNOWN, or None (no decision: go on)."""

    layer: str
    allowed: Tri | None
    rule: PolicyRule | None = None
    unknown: list[PolicyRule] = field(default_factory=list)


def _layer4(match: Any) -> Any:
    configs = get(match, "layer4Configs")
    if configs is UNKNOWN:
        return UNKNOWN
    out = []
    for c in configs or []:
        if c is UNKNOWN:
            return UNKNOWN
        out.append((get(c, "ipProtocol"), get(c, "ports")))
    return out


def rule_from_props(
    props: Mapping[str, Any], layer: str, policy: str, urn: str | None = None, name: str = ""
) -> PolicyRule:
    """A rule from the engine's properties or the API's JSON (the same camelCase names)."""
    match = props.get("match")
    match = match if match is not UNKNOWN else UNKNOWN
    return PolicyRule(
        layer=layer,
        policy=policy,
        priority=as_int(props.get("priority")) if props.get("priority") is not None else UNKNOWN,
        action=props.get("action"),
        direction=props.get("direction") or "INGRESS",
        disabled=props.get("disabled") or False,
        src_ranges=get(match, "srcIpRanges") if match is not UNKNOWN else UNKNOWN,
        dest_ranges=get(match, "destIpRanges") if match is not UNKNOWN else UNKNOWN,
        layer4=_layer4(match) if match is not UNKNOWN else UNKNOWN,
        target_networks=props.get("targetResources"),
        target_service_accounts=props.get("targetServiceAccounts"),
        target_secure_tags=props.get("targetSecureTags"),
        logging=props.get("enableLogging"),
        region=props.get("region"),
        urn=urn,
        name=name,
    )


def applies(rule: PolicyRule, flow: Flow) -> tuple[Tri, str]:
    """Whether `rule` matches `flow`, and if not, why."""
    unknown: list[str] = []
    if rule.disabled is UNKNOWN:
        unknown.append("disabled")
    elif rule.disabled:
        return False, "is disabled"
    if rule.direction is UNKNOWN:
        unknown.append("direction")
    elif rule.direction != flow.direction:
        return False, f"is {rule.direction}"
    regions = (rule.region, flow.region)
    if None not in regions and UNKNOWN not in regions and rule.region != flow.region:
        return False, f"is in region {rule.region}"
    nets = rule.target_networks
    if nets is UNKNOWN:
        unknown.append("target networks")
    elif nets:
        names = {last_segment(n) for n in nets if isinstance(n, str)}
        if not names & {last_segment(n) for n in flow.network_ids}:
            if len(names) < len(nets):
                unknown.append("target networks")
            else:
                return False, "targets other networks"
    sas, tags = rule.target_service_accounts, rule.target_secure_tags
    if sas is UNKNOWN or tags is UNKNOWN:
        unknown.append("targets")
    elif tags:
        # Connector VMs and Cloud Run instances carry no secure tags.
        return False, "targets secure tags, which the sender does not carry"
    elif sas:
        sender = flow.source_service_account
        if sender is None:
            return False, "targets service accounts; connector VMs do not run as them"
        if sender is UNKNOWN:
            unknown.append("the sender's service account")
        elif sender not in sas:
            return False, f"targets service accounts {sorted(map(str, sas))}"
    egress = flow.direction == "EGRESS"
    remote, local = (
        (rule.dest_ranges, rule.src_ranges) if egress else (rule.src_ranges, rule.dest_ranges)
    )
    whole = rule.action != "deny"
    dest = ranges_match(remote, flow.destination, whole=True)
    if dest is not True and not flow.destination_exact:
        # Redis's whole range stands for its unknown address: a rule touching part of the range
        # may or may not hold it.
        touches = ranges_match(remote, flow.destination, whole=False)
        dest = UNKNOWN if touches is not False else dest
    if dest is UNKNOWN:
        unknown.append("destination ranges")
    elif not dest:
        return False, f"does not cover {flow.destination}"
    src = ranges_match(local, flow.source, whole=whole)
    if src is UNKNOWN:
        unknown.append("source ranges")
    elif not src:
        return False, f"does not cover the source {flow.source}"
    ports = entries_cover(rule.layer4, flow.protocol, flow.port)
    if ports is UNKNOWN:
        unknown.append("ports")
    elif not ports:
        return False, f"does not cover {flow.protocol}:{flow.port}"
    if rule.priority is UNKNOWN:
        unknown.append("priority")
    if rule.action is UNKNOWN:
        unknown.append("action")
    if unknown:
        return UNKNOWN, "unknown " + ", ".join(unknown)
    return True, ""


def _priority(rule: PolicyRule) -> int:
    p = as_int(rule.priority)
    return p if isinstance(p, int) else 0


def decide(layer: str, rules: Iterable[PolicyRule], flow: Flow) -> LayerVerdict:
    """The decision of one policy (or of a layer's policies of equal standing)."""
    matching: list[PolicyRule] = []
    unknown: list[PolicyRule] = []
    for rule in rules:
        ok, _ = applies(rule, flow)
        if ok is UNKNOWN:
            unknown.append(rule)
        elif ok:
            matching.append(rule)
    matching.sort(key=_priority)
    first = matching[0] if matching else None
    # goto_next hands over to the next layer; apply_security_profile_group sends the connection
    # on to L7 inspection, which is not a deny.
    verdict: Tri | None = (
        None if first is None or first.action == "goto_next" else first.action != "deny"
    )
    cutoff = _priority(first) if first is not None else None
    for rule in unknown:
        p = as_int(rule.priority)
        if not isinstance(p, int) or cutoff is None or p <= cutoff:
            return LayerVerdict(layer, UNKNOWN, first, unknown)
    return LayerVerdict(layer, verdict, first, unknown)


def evaluate(policies: Sequence[tuple[str, Sequence[PolicyRule]]], flow: Flow) -> LayerVerdict:
    """Run `policies` (layer, rules) in order until one decides; None when none does."""
    last = LayerVerdict("", None)
    for layer, rules in policies:
        v = decide(layer, rules, flow)
        if v.allowed is not None:
            return v
        last = v
    return LayerVerdict(last.layer, None)


def config_policies(raw: Any) -> list[tuple[str, list[PolicyRule]]]:
    """The `firewallPolicies` policy config: hierarchical policies outside the stack, in order."""
    out: list[tuple[str, list[PolicyRule]]] = []
    for i, policy in enumerate(raw or []):
        name = str(get(policy, "name") or f"#{i + 1}")
        rules = [
            rule_from_props(r, HIERARCHICAL, name, name=f"{name}/{get(r, 'priority')}")
            for r in get(policy, "rules") or []
            if isinstance(r, Mapping)
        ]
        out.append((HIERARCHICAL, rules))
    return out


# -- policies that live in the stack --------------------------------------------------------------
@dataclass
class StackLayers:
    """The firewall policies of a stack, indexed once: which policy's rules, which associations."""

    rules_by_policy: dict[str, list[PolicyRule]] = field(default_factory=dict)
    policy_keys: dict[str, set[str]] = field(default_factory=dict)  # policy urn -> names/ids
    # (layer, policy urn, attachment target raw value, its dependency URNs, region)
    associations: list[tuple[str, str, Any, tuple[str, ...], Any]] = field(default_factory=list)


_RULE_LAYER = {
    FIREWALL_POLICY_RULE: HIERARCHICAL,
    NETWORK_POLICY_RULE: GLOBAL_NETWORK,
    REGION_POLICY_RULE: REGIONAL_NETWORK,
}
_ASSOCIATION_LAYER = {
    FIREWALL_POLICY_ASSOCIATION: HIERARCHICAL,
    NETWORK_POLICY_ASSOCIATION: GLOBAL_NETWORK,
    REGION_POLICY_ASSOCIATION: REGIONAL_NETWORK,
}


def index_stack(resources: Iterable[Any]) -> StackLayers:
    """Firewall policies, their rules and associations among the stack's resources (`Res`)."""
    out = StackLayers()
    policies: dict[str, Any] = {}
    rules: list[tuple[Any, str]] = []
    associations: list[tuple[Any, str]] = []
    for r in resources:
        if r.type in (FIREWALL_POLICY, NETWORK_POLICY, REGION_POLICY):
            policies[r.urn] = r
            keys = {r.name}
            for prop in ("name", "shortName", "selfLink", "selfLinkWithId", "firewallPolicyId"):
                v = r.get(prop)
                if isinstance(v, str) and v:
                    keys.update({v, last_segment(v)})
            out.policy_keys[r.urn] = keys
        elif r.type in _RULE_LAYER:
            rules.append((r, _RULE_LAYER[r.type]))
        elif r.type in _ASSOCIATION_LAYER:
            associations.append((r, _ASSOCIATION_LAYER[r.type]))
    for r, layer in rules:
        policy = _owner(r, policies, out)
        label = policies[policy].name if policy in policies else str(r.get("firewallPolicy"))
        rule = rule_from_props(r.props, layer, label, urn=r.urn, name=r.name)
        out.rules_by_policy.setdefault(policy, []).append(rule)
    for r, layer in associations:
        out.associations.append(
            (
                layer,
                _owner(r, policies, out),
                r.get("attachmentTarget"),
                r.deps_of("attachmentTarget"),
                r.get("region"),
            )
        )
    return out


def _owner(r: Any, policies: Mapping[str, Any], idx: StackLayers) -> str:
    """The URN of the policy a rule or association belongs to (by dependency, else by name)."""
    for urn in r.deps_of("firewallPolicy"):
        if urn in policies:
            return str(urn)
    raw = r.get("firewallPolicy")
    if isinstance(raw, str):
        for urn, keys in idx.policy_keys.items():
            if raw in keys or last_segment(raw) in keys:
                return urn
    return f"?{raw}"  # a policy outside the stack: its rules, if any, are in the stack


def network_layers(
    idx: StackLayers, network_urn: str, network_keys: set[str], region: Any
) -> tuple[list[tuple[str, list[PolicyRule]]], list[tuple[str, list[PolicyRule]]]]:
    """(hierarchical policies in the stack, network policies of this network in Google's order:
    global before regional). Hierarchical associations name an organization or folder: the pack
    cannot see the project's ancestry, so every one in the stack counts, organizations first."""
    hierarchical: list[tuple[int, str, list[PolicyRule]]] = []
    global_: list[tuple[str, list[PolicyRule]]] = []
    regional: list[tuple[str, list[PolicyRule]]] = []
    for layer, policy, target, deps, assoc_region in idx.associations:
        rules = idx.rules_by_policy.get(policy, [])
        if layer == HIERARCHICAL:
            rank = 0 if isinstance(target, str) and target.startswith("organizations/") else 1
            hierarchical.append((rank, policy, rules))
            continue
        on_network = network_urn in deps or (
            isinstance(target, str) and last_segment(target) in network_keys
        )
        if not on_network:
            continue
        if layer == GLOBAL_NETWORK:
            global_.append((policy, rules))
        elif assoc_region in (None, UNKNOWN) or region in (None, UNKNOWN) or assoc_region == region:
            regional.append((policy, rules))
    hierarchical.sort(key=lambda t: t[0])
    return (
        [(HIERARCHICAL, rules) for _, _, rules in hierarchical],
        [(GLOBAL_NETWORK, r) for _, r in global_] + [(REGIONAL_NETWORK, r) for _, r in regional],
    )
