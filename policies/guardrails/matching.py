"""Matching a connection against a rule's ranges and ports: shared by VPC firewall rules
(firewall.py) and firewall policy rules (layers.py), which Google matches the same way."""

from __future__ import annotations

import ipaddress
from typing import Any

from guardrails.values import UNKNOWN, Unknown, network_of

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
Tri = bool | Unknown
TCP_NAMES = frozenset({"tcp", "6"})


def port_spec_covers(spec: Any, port: int) -> bool | None:
    """'6379' or '6000-7000' against a port; None when the spec is malformed."""
    text = str(spec).strip()
    lo, sep, hi = text.partition("-")
    try:
        if sep:
            return int(lo) <= port <= int(hi)
        return int(text) == port
    except ValueError:
        return None


def entries_cover(entries: Any, protocol: str, port: int | Unknown) -> Tri:
    """Whether (protocol, ports) entries admit `protocol:port`."""
    if entries is UNKNOWN:
        return UNKNOWN
    unknown = False
    for proto, ports in entries:
        if proto is UNKNOWN:
            unknown = True
            continue
        p = str(proto).lower()
        if p != "all" and not (protocol == "tcp" and p in TCP_NAMES):
            continue
        if p == "all" or ports is None or ports == []:
            return True
        if ports is UNKNOWN or port is UNKNOWN:
            unknown = True
            continue
        for spec in ports:
            if spec is UNKNOWN:
                unknown = True
            elif port_spec_covers(spec, port):  # type: ignore[arg-type]
                return True
    return UNKNOWN if unknown else False


def ranges_match(ranges: Any, target: IPNet | None, *, whole: bool) -> Tri:
    """Whether CIDR `ranges` cover `target` (all of it when `whole`, any part otherwise).
    An empty or absent list means every address."""
    if ranges is UNKNOWN:
        return UNKNOWN
    if not ranges:
        return True
    if target is None:
        return UNKNOWN
    unknown = False
    for raw in ranges:
        net = network_of(raw)
        if net is None:
            unknown = unknown or raw is UNKNOWN
            continue
        if net.version != target.version:
            continue
        if target.subnet_of(net) if whole else target.overlaps(net):  # type: ignore[arg-type]
            return True
    return UNKNOWN if unknown else False
