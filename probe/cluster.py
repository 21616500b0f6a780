"""The Redis Cluster protocol as far as the probe needs it: hash slots, the topology, redirects.

Memorystore for Valkey with cluster mode enabled and Memorystore for Redis Cluster are reached at
a discovery endpoint ("Each cluster has a discovery endpoint that your client connects to",
https://cloud.google.com/memorystore/docs/cluster/connect-cluster-instance; Valkey's two modes:
https://cloud.google.com/memorystore/docs/valkey/product-overview, "Cluster Mode Enabled and
Cluster Mode Disabled instances"); the client reads the slot map from it and then talks to every
node on its own address and port (Google: allow TCP 6379 and 11000-13047 on every PSC endpoint,
connect-cluster-instance, "Allowlist ports in the firewall").

Slots, hash tags, CLUSTER SLOTS and the MOVED/ASK redirects follow the Redis Cluster
specification (https://redis.io/topics/cluster-spec: "HASH_SLOT = CRC16(key) mod 16384", CRC16
XMODEM, "Hash tags", "MOVED Redirection", "ASK redirection").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SLOTS = 16384


def crc16(data: bytes) -> int:
    """CRC16 XMODEM (poly 0x1021, init 0): the spec's reference gives 0x31C3 for b"123456789"."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def keyslot(key: str) -> int:
    """The hash slot of a key: only the part inside the first non-empty {...} is hashed."""
    raw = key.encode()
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc16(raw) % SLOTS


def tag_for(start: int, end: int) -> str:
    """A hash tag whose slot is in [start, end]: a probe key with it routes to that shard."""
    for n in range(1 << 20):
        tag = f"p{n}"
        if start <= keyslot(tag) <= end:
            return tag
    raise ValueError(f"no tag found for slots {start}-{end}")  # pragma: no cover - 16384 slots


@dataclass(frozen=True)
class Node:
    host: str
    port: int
    node_id: str
    role: str  # "primary" or "replica"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Shard:
    primary: Node
    replicas: list[Node] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)


class TopologyError(ValueError):
    pass


def parse_slots(reply: Any, discovery_host: str) -> list[Shard]:
    """CLUSTER SLOTS: [[start, end, [ip, port, id, ...], replica..., ...], ...], grouped by
    primary. An empty or "?" address means the host the client already talks to (the spec's
    CLUSTER SLOTS reply: "an empty string ... the same endpoint used to send the request")."""
    if not isinstance(reply, list):
        raise TopologyError(f"CLUSTER SLOTS answered {reply!r}, not a list")
    shards: dict[str, Shard] = {}
    try:
        for entry in reply:
            start, end, *nodes = entry
            if not nodes:
                raise TopologyError(f"slots {start}-{end} have no node")
            parsed = []
            for i, info in enumerate(nodes):
                host = info[0] if info[0] not in ("", "?", None) else discovery_host
                node_id = info[2] if len(info) > 2 else f"{host}:{info[1]}"
                parsed.append(Node(host, int(info[1]), node_id, "primary" if i == 0 else "replica"))
            primary = parsed[0]
            shard = shards.setdefault(primary.node_id, Shard(primary))
            shard.ranges.append((int(start), int(end)))
            for replica in parsed[1:]:
                if replica not in shard.replicas:
                    shard.replicas.append(replica)
    except (TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, TopologyError):
            raise
        raise TopologyError(f"a malformed CLUSTER SLOTS reply: {exc}") from None
    if not shards:
        raise TopologyError("CLUSTER SLOTS lists no slots: no shard serves any key")
    ordered = sorted(shards.values(), key=lambda s: min(s.ranges))
    for s in ordered:
        s.ranges.sort()
    return ordered


def redirect(text: str) -> tuple[str, int, str, int] | None:
    """`MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381` -> (kind, slot, host, port)."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in ("MOVED", "ASK"):
        return None
    host, _, port = parts[2].rpartition(":")
    if not port.isdigit():
        return None
    return parts[0], int(parts[1]), host, int(port)
