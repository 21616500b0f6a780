"""Deploy critical path: how long `pulumi up` of a fresh stack must take, from the recorded
dependency graph and typical creation times per resource type, against the lower bound set by the
dependencies that are truly required.

    python -m bench.critical_path

Required edges are the data-flow edges (a property dependency: the value is an output of the other
resource) and the hidden-but-real ones the program must add (docs/performance.md, "Deploy
critical path"): API enablement, the Redis egress rule and the secret grant before a Cloud Run
workload, the private services access peering before Redis.
Any other explicit `depends_on` is overhead; the ratio all-edges / required-edges must be 1.00.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Typical creation times in seconds. These are estimates for a fresh project, not measurements
# (no cloud here): "Redis several minutes, connector a few minutes, Cloud Run under a minute"
# (Google's documentation, as docs/performance.md cites it); Memorystore STANDARD_HA with replicas takes longer than BASIC. The
# client libraries' own long-running-operation polling (vpcaccess: first poll after 20 s) and the
# provider's default create timeouts (tens of minutes) bound them from above.
CREATE_SECONDS: dict[str, float] = {
    "gcp:projects/service:Service": 30,
    "gcp:compute/network:Network": 20,
    "gcp:compute/subnetwork:Subnetwork": 15,
    "gcp:compute/firewall:Firewall": 10,
    "gcp:compute/globalAddress:GlobalAddress": 10,
    "gcp:servicenetworking/connection:Connection": 60,
    "gcp:vpcaccess/connector:Connector": 180,
    "gcp:redis/instance:Instance": 420,
    # Valkey / Redis Cluster: an estimate of the same order as Redis (the PSC endpoints are
    # created with the instance), and the policy a quick control-plane object.
    "gcp:memorystore/instance:Instance": 600,
    "gcp:redis/cluster:Cluster": 600,
    "gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy": 10,
    "gcp:secretmanager/secret:Secret": 3,
    "gcp:secretmanager/secretVersion:SecretVersion": 3,
    "gcp:secretmanager/secretIamMember:SecretIamMember": 5,
    "gcp:serviceaccount/account:Account": 5,
    "gcp:cloudrunv2/service:Service": 45,
    "gcp:cloudrunv2/job:Job": 10,
    "gcp:networkmanagement/connectivityTest:ConnectivityTest": 60,
}
STANDARD_HA_EXTRA = 180  # HA + read replicas provision a replica in a second zone

API = "gcp:projects/service:Service"
WORKLOADS = ("gcp:cloudrunv2/service:Service", "gcp:cloudrunv2/job:Job")
HIDDEN_EDGES = {
    # (dependent type, dependency type) that are real although no value flows
    *((w, "gcp:compute/firewall:Firewall") for w in WORKLOADS),
    *((w, "gcp:secretmanager/secretIamMember:SecretIamMember") for w in WORKLOADS),
    ("gcp:redis/instance:Instance", "gcp:servicenetworking/connection:Connection"),
    # The PSC products: the policy before the instance (its create fails without it), and the
    # connection role before a workload that authenticates by IAM.
    *(
        (p, "gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy")
        for p in ("gcp:memorystore/instance:Instance", "gcp:redis/cluster:Cluster")
    ),
    *((w, "gcp:projects/iAMMember:IAMMember") for w in WORKLOADS),
}


@dataclass
class PathResult:
    seconds: float
    chain: list[str]


def duration(r) -> float:
    base = CREATE_SECONDS.get(r.type, 10)
    if r.type == "gcp:redis/instance:Instance" and r.inputs.get("tier") == "STANDARD_HA":
        base += STANDARD_HA_EXTRA
    return base


def edges(graph, *, required_only: bool) -> dict[str, set[str]]:
    custom = {r.urn: r for r in graph.resources if r.custom}
    out: dict[str, set[str]] = {}
    for r in custom.values():
        data_flow = {u for urns in r.propertyDependencies.values() for u in urns}
        deps = set()
        for d in r.dependencies:
            if d not in custom:
                continue
            if required_only and d not in data_flow:
                dep_type = custom[d].type
                if dep_type != API and (r.type, dep_type) not in HIDDEN_EDGES:
                    continue
            deps.add(d)
        out[r.urn] = deps
    return out


def longest(graph, deps: dict[str, set[str]]) -> PathResult:
    custom = {r.urn: r for r in graph.resources if r.custom}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}

    def visit(urn: str, stack: frozenset[str] = frozenset()) -> float:
        if urn in finish:
            return finish[urn]
        if urn in stack:
            raise ValueError(f"dependency cycle at {urn}")
        best, best_dep = 0.0, None
        for d in deps.get(urn, ()):
            t = visit(d, stack | {urn})
            if t > best:
                best, best_dep = t, d
        finish[urn] = best + duration(custom[urn])
        via[urn] = best_dep
        return finish[urn]

    end = max(custom, key=visit)
    chain, cur = [], end
    while cur is not None:
        chain.append(custom[cur].name)
        cur = via[cur]
    return PathResult(finish[end], list(reversed(chain)))


def analyse(graph) -> tuple[PathResult, PathResult]:
    return longest(graph, edges(graph, required_only=False)), longest(
        graph, edges(graph, required_only=True)
    )


def with_extra_edge(graph, dependent: str, dependency: str):
    """The graph as if `dependent` had an unnecessary depends_on=[dependency]."""
    import copy

    g = copy.deepcopy(graph)
    urns = {r.name: r.urn for r in g.resources}
    for r in g.resources:
        if r.name == dependent:
            r.dependencies.append(urns[dependency])
    return g


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from preflight.engine import run_program

    print("## Deploy critical path (estimated creation times, see bench/critical_path.py)")
    print(f"{'stack':11s} {'critical path':>14s} {'lower bound':>12s} {'ratio':>6s}  chain")
    for stack in ("staging", "production", "dev"):
        graph = run_program(ROOT, stack)
        actual, bound = analyse(graph)
        print(
            f"{stack:11s} {actual.seconds / 60:11.1f} min {bound.seconds / 60:9.1f} min {actual.seconds / bound.seconds:6.2f}  {' -> '.join(actual.chain)}"
        )
        if stack != "dev":
            slow = with_extra_edge(graph, "redis-instance", "connector-connector")
            worse, _ = analyse(slow)
            print(
                f"{'':11s} with Redis depends_on connector: {worse.seconds / 60:.1f} min "
                f"(+{(worse.seconds - actual.seconds) / 60:.1f} min, ratio {worse.seconds / bound.seconds:.2f})"
            )


if __name__ == "__main__":
    main()
