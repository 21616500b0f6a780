"""No two ranges on one network overlap: subnets, connector ranges, allocated (private services
access) ranges and Memorystore's reserved ranges: a connector needs an unused range, and subnet
ranges in one network may not overlap (Subnets, https://cloud.google.com/vpc/docs/subnets). The
sweep runs in n log n, not over all pairs."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails.common import Analysis, Findings
from guardrails.model import Network, Res
from guardrails.rule import MANDATORY, Rule
from guardrails.values import network_of


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    candidates = [
        *((s.cidr, m.network_of_subnet(s), s.res, f"subnet {s.name}") for s in m.subnets),
        *(
            (c.cidr, m.networks.resolve(c.network), c.res, f"connector {c.name}")
            for c in m.connectors
        ),
        *(
            (ad.cidr, m.networks.resolve(ad.network), ad.res, f"allocated range {ad.name}")
            for ad in m.addresses
        ),
        *(
            (
                r.reserved_range,
                m.networks.resolve(r.authorized_network),
                r.res,
                f"Redis range of {r.name}",
            )
            for r in m.redis
        ),
    ]
    ranges: dict[str, list[tuple[Any, Res, str]]] = {}
    for cidr, owner, res, label in candidates:
        n = network_of(cidr)
        if n is not None and isinstance(owner, Network):
            ranges.setdefault(owner.res.urn, []).append((n, res, label))
    for items in ranges.values():
        # Sorted by start address, each range is compared with the widest-reaching one before it.
        items.sort(key=lambda t: (t[0].version, int(t[0].network_address), t[0].prefixlen))
        widest: tuple[Any, Res, str] | None = None
        for item in items:
            if (
                widest is not None
                and widest[0].version == item[0].version
                and widest[0].overlaps(item[0])
            ):
                out.violation(
                    item[1],
                    f"{item[1].name}: {item[2]} ({item[0]}) overlaps {widest[2]} ({widest[0]}) "
                    "on the same network. Fix: give each an unused, non-overlapping range.",
                )
            if widest is None or int(item[0].broadcast_address) > int(widest[0].broadcast_address):
                widest = item


RULE = Rule(
    name="network-ranges-disjoint",
    description="No two ranges on one network overlap (subnets, connector ranges, allocated "
    "ranges, Redis reserved ranges).",
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation="Give every subnet, connector, allocated range and Redis instance on a network "
    "its own unused, non-overlapping range.",
    tags=("addressing",),
    check=check,
)
