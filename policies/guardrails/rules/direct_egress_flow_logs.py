"""The subnet of every Direct VPC egress workload logs flows with all metadata: Direct VPC egress
is not recorded by VPC firewall rules logging, so a logged firewall rule writes nothing for it
and the subnet's VPC Flow Logs are the path's only record.

Google: "Direct VPC egress doesn't support ... VPC firewall rules logging"; VPC Flow Logs work,
without the Cloud Run revision's name ("Direct VPC egress with a VPC network", Limitations,
https://cloud.google.com/run/docs/configuring/vpc-direct-vpc). The same requirement as
firewall-logging-all-metadata (the path is logged, with the same metadata setting), at its level.
A subnet the stack does not own cannot be judged here: direct-egress-flow-logs-unverified
advises on it.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings, direct_egress
from guardrails.model import Subnet
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN

# Subnetwork logConfig (Compute API SubnetworkLogConfig,
# https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks; pulumi_gcp 10.2
# compute.SubnetworkLogConfigArgs): metadata defaults to INCLUDE_ALL_METADATA when the block is
# set; flowSampling is in [0, 1], where 0.0 means no logs are reported.
DEFAULT_METADATA = "INCLUDE_ALL_METADATA"
WHY = (
    "VPC firewall rules logging is not supported for Direct VPC egress, so a logged firewall rule "
    "records nothing on this path: the subnet's VPC Flow Logs are its only record "
    "(https://cloud.google.com/run/docs/configuring/vpc-direct-vpc, Limitations)"
)


def problem(subnet: Subnet, metadata: str) -> Any:
    """What is wrong with the subnet's flow logs (None when nothing, UNKNOWN when not known)."""
    log = subnet.res.get("logConfig")
    if log is UNKNOWN:
        return UNKNOWN
    if not log:
        return "logs no flows (no log_config)"
    meta, sampling = subnet.res.get("logConfig.metadata"), subnet.res.get("logConfig.flowSampling")
    if meta is UNKNOWN or sampling is UNKNOWN:
        return UNKNOWN
    if isinstance(sampling, (int, float)) and sampling <= 0:
        return f"logs flows with flowSampling {sampling:g}, which reports none"
    if (meta or DEFAULT_METADATA) != metadata:
        return f"logs flows with {meta} instead of {metadata}"
    return None


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    metadata = cfg["logMetadata"]
    users: dict[str, tuple[Subnet, list[str]]] = {}
    for d in direct_egress(a.model):
        if d.subnet is UNKNOWN:
            out.unknown(d.service.res, "which subnet its Direct VPC egress uses")
        elif isinstance(d.subnet, Subnet):
            entry = users.setdefault(d.subnet.res.urn, (d.subnet, []))
            if d.service.res.name not in entry[1]:
                entry[1].append(d.service.res.name)
    for subnet, services in users.values():
        wrong = problem(subnet, metadata)
        if wrong is UNKNOWN:
            out.unknown(subnet.res, "its flow log config")
        elif wrong is not None:
            out.violation(
                subnet.res,
                f"{subnet.res.name}: Direct VPC egress subnet of {', '.join(services)} {wrong}. "
                f"{WHY}. Fix: log_config={{'metadata': '{metadata}'}} on this subnet "
                "(aggregation_interval and flow_sampling above 0 as the volume allows).",
            )


RULE = Rule(
    name="direct-egress-flow-logs",
    description="The subnet of every Direct VPC egress workload logs flows with "
    "INCLUDE_ALL_METADATA (firewall rules logging does not record Direct VPC egress).",
    level=MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Set log_config metadata INCLUDE_ALL_METADATA (flow_sampling above 0) on every "
    "subnet a Cloud Run service or job egresses from with Direct VPC egress.",
    tags=("firewall", "logging", "direct-vpc-egress"),
    check=check,
    settings=(s.LOG_METADATA,),
)
