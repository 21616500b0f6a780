"""Advice on a Direct VPC egress subnet the stack does not own (a Shared VPC host's subnet by its
id, another stack's output): the pack cannot see its flow logs, and they are the path's only
record (direct-egress-flow-logs says why), so the subnet's owner must turn them on. Advice, as
other rules treat what another stack owns: judged where that subnet is declared.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings, direct_egress
from guardrails.rule import ADVISORY, Rule
from guardrails.rules.direct_egress_flow_logs import WHY
from guardrails.values import project_of


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    seen: set[tuple[str, str]] = set()
    for d in direct_egress(a.model):
        if d.subnet is not None or not isinstance(d.raw, str):
            continue  # the stack's own subnet (direct-egress-flow-logs), or not known yet
        key = (d.service.res.urn, d.raw)
        if key in seen:
            continue
        seen.add(key)
        svc = d.service
        # Said from the value alone: whether it came through a StackReference is known only from
        # the engine's dependency lists, which the SDK alone does not keep (guardrails/sdk.py).
        project = project_of(d.raw)
        if project is not None and project != svc.res.project:
            owner = f"a subnet of project {project} (a Shared VPC host), not of this stack"
        else:
            owner = "not a subnet of this stack (another stack's output, or declared elsewhere)"
        out.violation(
            svc.res,
            f"{svc.res.name}: egresses with Direct VPC egress through subnet {d.raw!r}, "
            f"{owner}, so the pack cannot see whether it logs flows. {WHY}. Fix: have the subnet's "
            f"owner enable flow logs with {metadata} on it (gcloud compute networks subnets "
            "update SUBNET --region REGION --enable-flow-logs --logging-metadata=include-all), "
            "or check it with the pack on that stack.",
        )


RULE = Rule(
    name="direct-egress-flow-logs-unverified",
    description="Advice: a Direct VPC egress subnet the stack does not own must log flows with "
    "INCLUDE_ALL_METADATA; its owner turns them on.",
    level=ADVISORY,
    severity=Severity.LOW,
    remediation="Ask the subnet's owner (the Shared VPC host, or the stack that declares it) to "
    "enable VPC Flow Logs with INCLUDE_ALL_METADATA on it.",
    tags=("firewall", "logging", "direct-vpc-egress"),
    check=check,
    settings=(s.LOG_METADATA,),
)
