"""STUB (helper "bootstrap"): the deployer's roles per project, with the signature of the common
interface of issue 23. Helper "roles" writes the real table (resource type -> roles, computed
from the resources the program registers); the lead drops this file for theirs at merge."""

from __future__ import annotations

from infra.config import StackConfig

# Placeholder roles until infra/roles.py's table lands: enough to name each project's grant.
_PROJECT = (
    "roles/compute.networkAdmin",
    "roles/compute.securityAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/redis.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/vpcaccess.admin",
)
_HOST = ("roles/compute.networkViewer", "roles/compute.securityAdmin")


def deployer_roles(cfg: StackConfig) -> dict[str, tuple[str, ...]]:
    """{"project": roles on the stack's project, "host": roles on the Shared VPC host project
    (absent without a Shared VPC)}."""
    out: dict[str, tuple[str, ...]] = {"project": _PROJECT}
    if cfg.shared_vpc is not None:
        out["host"] = _HOST
    return out
