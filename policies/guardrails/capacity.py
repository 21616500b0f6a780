"""What each Direct VPC egress subnet of the stack must hold: every Cloud Run service and job whose
`vpcAccess.networkInterfaces` (v1: the network-interfaces annotation) puts it on that subnet, at
its most instances, by Google's rule (facts.direct_egress_addresses: 2 addresses an instance, in
blocks of 16; the figures and their sources are in facts.py).

How many instances a workload runs at most, from what the program sets:
- a v2 service: each revision up to `template.scaling.maxInstanceCount`, and during a rollout the
  old and the new revision run at once (facts.ROLLOUT_REVISIONS); a service-level
  `scaling.maxInstanceCount` caps all revisions together ("Combined maximum number of instances
  for all revisions receiving traffic", pulumi-gcp cloudrunv2 ServiceScaling); manual scaling
  (`scaling.scalingMode` MANUAL) runs `scaling.manualInstanceCount` in all.
- a v1 service: each revision up to its `autoscaling.knative.dev/maxScale` annotation, two
  revisions during a rollout.
- a job: one execution runs `template.parallelism` tasks at once (0 or unset: every task,
  `template.taskCount`, default 1), an instance each (pulumi-gcp cloudrunv2 JobTemplate).
A service with no maximum at all is bounded only by the region's quota ("About maximum
instances", https://cloud.google.com/run/docs/configuring/max-instances-limits): nothing the
program says sizes it, so it is named in the message and not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardrails import facts
from guardrails.common import Findings, direct_egress
from guardrails.model import RUN_JOB, RUN_V1, Service, StackModel, Subnet
from guardrails.values import UNKNOWN, Unknown, as_int, network_of

V1_MAX_SCALE = "autoscaling.knative.dev/maxScale"


@dataclass(frozen=True)
class Workload:
    service: Service
    addresses: int
    how: str  # which setting, and the sum: "template.scaling.maxInstanceCount 10 x 2 revisions"


@dataclass
class Load:
    subnet: Subnet
    workloads: list[Workload] = field(default_factory=list)
    unbounded: list[Service] = field(default_factory=list)  # no maximum set
    unknown: list[str] = field(default_factory=list)  # what is not known yet (preview)

    @property
    def need(self) -> int:
        return sum(w.addresses for w in self.workloads)


@dataclass
class Loads:
    by_subnet: dict[str, Load]  # subnet URN -> its load
    unplaced: list[Service]  # workloads whose subnet is not known yet: any subnet's


def _max(value: Any) -> int | None | Unknown:
    n = as_int(value)
    return n if n is None or n is UNKNOWN or (isinstance(n, int) and n > 0) else None


def addresses(svc: Service) -> tuple[int, str] | None | Unknown:
    """(addresses at most, how they are counted), None with no maximum, UNKNOWN in preview."""
    r = svc.res
    revisions = facts.ROLLOUT_REVISIONS
    if r.type == RUN_JOB:
        tasks = as_int(r.get("template.taskCount"))
        parallel = as_int(r.get("template.parallelism"))
        if tasks is UNKNOWN or parallel is UNKNOWN:
            return UNKNOWN
        tasks = tasks if isinstance(tasks, int) and tasks > 0 else 1
        running = min(parallel, tasks) if isinstance(parallel, int) and parallel > 0 else tasks
        return facts.direct_egress_addresses(running), f"{running} task(s) at once"
    if r.type == RUN_V1:
        notes = r.get("template.metadata.annotations")
        if notes is UNKNOWN:
            return UNKNOWN
        scale = _max(notes.get(V1_MAX_SCALE) if isinstance(notes, Mapping) else None)
        if not isinstance(scale, int):
            return scale
        return (
            facts.direct_egress_addresses(scale, revisions),
            f"{V1_MAX_SCALE} {scale} x {revisions} revisions during a rollout",
        )
    mode = r.get("scaling.scalingMode")
    manual = _max(r.get("scaling.manualInstanceCount"))
    if mode == "MANUAL" and isinstance(manual, int):
        return facts.direct_egress_addresses(manual), f"scaling.manualInstanceCount {manual}"
    if mode in ("MANUAL", UNKNOWN) and manual is UNKNOWN:
        return UNKNOWN  # manual scaling ignores the maximums below: its count is the figure
    per_revision = _max(r.get("template.scaling.maxInstanceCount"))
    combined = _max(r.get("scaling.maxInstanceCount"))
    if UNKNOWN in (mode, per_revision, combined):
        return UNKNOWN
    options: list[tuple[int, str]] = []
    if isinstance(per_revision, int):
        options.append(
            (
                facts.direct_egress_addresses(per_revision, revisions),
                f"template.scaling.maxInstanceCount {per_revision} x {revisions} revisions "
                "during a rollout",
            )
        )
    if isinstance(combined, int):
        options.append(
            (
                facts.direct_egress_addresses(combined),
                f"scaling.maxInstanceCount {combined} for all revisions",
            )
        )
    return min(options) if options else None


def loads(m: StackModel) -> Loads:
    """Every Direct VPC egress subnet of the stack with the workloads on it (memoised)."""
    hit: Loads | None = m.derived.get("direct-egress-loads")
    if hit is not None:
        return hit
    by_subnet: dict[str, Load] = {}
    unplaced: list[Service] = []
    # The stack's subnets each workload egresses from (none outside the stack's), as every Direct
    # VPC egress rule reads them (common.direct_egress: with only the network given, the subnet
    # named like the network in the workload's own region).
    placed: dict[int, list[Subnet | Unknown]] = {}
    for d in direct_egress(m):
        if d.subnet is UNKNOWN or isinstance(d.subnet, Subnet):
            placed.setdefault(id(d.service), []).append(d.subnet)
    for svc in m.services:
        subs = placed.get(id(svc), []) if isinstance(svc.interfaces, list) else [UNKNOWN]
        if any(s is UNKNOWN for s in subs):
            unplaced.append(svc)
        for sub in subs:
            if not isinstance(sub, Subnet):
                continue
            load = by_subnet.setdefault(sub.res.urn, Load(sub))
            counted = addresses(svc)
            if counted is UNKNOWN:
                load.unknown.append(f"the maximum instances of {svc.name}")
            elif counted is None:
                load.unbounded.append(svc)
            else:
                assert isinstance(counted, tuple)
                load.workloads.append(Workload(svc, *counted))
    result = Loads(by_subnet, unplaced)
    m.derived["direct-egress-loads"] = result
    return result


@dataclass(frozen=True)
class Sizing:
    """One subnet's figures: its range, usable addresses and the known need."""

    prefixlen: int
    total: int
    usable: int
    need: int

    @property
    def utilisation(self) -> float:
        return facts.subnet_utilisation(self.need, self.prefixlen)

    def fits(self) -> int:
        """The longest prefix (smallest range) whose usable addresses hold the need."""
        return next(p for p in range(32, 0, -1) if facts.usable_addresses(p) >= self.need)


def sizing(load: Load) -> Sizing | None | Unknown:
    """The subnet's figures; UNKNOWN while its range is; None for a range that is not IPv4."""
    if load.subnet.cidr is UNKNOWN:
        return UNKNOWN
    net = network_of(load.subnet.cidr)
    if net is None or net.version != 4:
        return None
    return Sizing(
        net.prefixlen, net.num_addresses, facts.usable_addresses(net.prefixlen), load.need
    )


def describe(load: Load, size: Sizing) -> str:
    """The subnet's figures and what takes them, for a message."""
    parts = [f"{w.service.name} {w.addresses} ({w.how})" for w in load.workloads]
    text = (
        f"Direct VPC egress subnet {load.subnet.name} ({load.subnet.cidr}) has {size.usable} "
        f"usable addresses ({size.total} less the {facts.SUBNET_RESERVED_ADDRESSES} every subnet "
        f"reserves) and the workloads on it need {size.need}: {'; '.join(parts)}. Cloud Run "
        f"takes {facts.DIRECT_EGRESS_ADDRESSES_PER_INSTANCE} addresses an instance in blocks of "
        f"{facts.DIRECT_EGRESS_BLOCK}, for each revision a rollout runs at once"
    )
    return text


def not_counted(load: Load, unplaced: list[Service]) -> str:
    """What is (or may be) on the subnet and not in the figures: workloads with no maximum, and
    (preview) values not known yet, among them workloads whose subnet is not known yet."""
    text = ""
    if load.unbounded:
        names = ", ".join(str(s.name) for s in load.unbounded)
        text += (
            f" Not counted: {names} (no maximum instances, so only the region's quota bounds "
            "it: set one)."
        )
    pending = load.unknown + [f"the subnet of {s.name}" for s in unplaced]
    if pending:
        text += f" Not known yet, so not counted: {'; '.join(pending)}."
    return text


def judge(
    m: StackModel,
    out: Findings,
    verdict: Callable[[Load, Sizing, list[Service]], str | None],
) -> None:
    """The walk both capacity rules make: for each Direct VPC egress subnet with workloads (or
    values not known yet), its sizing; `verdict(load, size, unplaced)` gives the finding's message
    for a decided size, None for no finding (undecided while some of the figures are not known
    yet), or "" when the subnet is not this rule's to judge at all. A range not known yet leaves
    the subnet undecided."""
    found = loads(m)
    for load in found.by_subnet.values():
        size = sizing(load)
        if size is None or (not load.workloads and not load.unknown and not found.unplaced):
            continue
        if size is UNKNOWN:
            out.unknown(load.subnet.res, "the subnet's range")
            continue
        assert isinstance(size, Sizing)
        message = verdict(load, size, found.unplaced)
        if message:
            out.violation(load.subnet.res, message)
        elif message is None and (load.unknown or found.unplaced):
            what = load.unknown + [f"the subnet of {w.name}" for w in found.unplaced]
            out.unknown(load.subnet.res, "; ".join(what))
