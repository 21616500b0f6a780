"""A Redis client is not callable by everyone unless the stack says it is public on purpose.

Granting an invoker role to allUsers (anyone on the internet) or allAuthenticatedUsers (anyone
with a Google account) on a Cloud Run service makes it public (checkov ships the same check for
Terraform: CKV_GCP_102, "Ensure that GCP Cloud Run services are not anonymously or publicly
accessible", bridgecrewio/checkov checkov/terraform/checks/resource/gcp/GCPCloudRunPrivateService.py).
On a workload that holds a path to Redis that is an open door to the cache, so production needs
it to be meant: the service carries the label public=true (the redis-vpc program's
`services.<name>.public: true`) or is listed in publicServices. Turning the invoker IAM check off
makes a service public with no grant at all (v2 `invokerIamDisabled`, v1 the service annotation
`run.googleapis.com/invoker-iam-disabled`: "Disable the Cloud Run Invoker IAM check",
https://cloud.google.com/run/docs/securing/managing-access#invoker_check): judged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from guardrails import settings as s
from guardrails.common import Analysis, Findings
from guardrails.facts import PUBLIC_LABEL, PUBLIC_VALUE
from guardrails.model import InvokerGrant, Service
from guardrails.rule import MANDATORY, PRODUCTION_ADVICE_ELSEWHERE, Rule
from guardrails.values import UNKNOWN, get

# The principals that make a service public ("Allowing public (unauthenticated) access",
# https://cloud.google.com/run/docs/authenticating/public).
PUBLIC_MEMBERS = {
    "allUsers": "anyone on the internet",
    "allAuthenticatedUsers": "anyone with a Google account",
}
# Predefined roles holding run.routes.invoke: Cloud Run Invoker, Developer (run.routes.*) and
# Admin (run.*) ("Cloud Run roles and permissions",
# https://cloud.google.com/iam/docs/roles-permissions/run).
INVOKER_ROLES = frozenset({"roles/run.invoker", "roles/run.developer", "roles/run.admin"})
V1_INVOKER_CHECK_OFF = "run.googleapis.com/invoker-iam-disabled"


def public_on_purpose(svc: Service, listed: set[str]) -> bool:
    labels = svc.res.get("metadata.labels" if svc.v1 else "labels")
    labelled = get(labels, PUBLIC_LABEL) == PUBLIC_VALUE if labels is not UNKNOWN else False
    return labelled or svc.name in listed or svc.res.name in listed


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    listed = set(cfg["publicServices"])
    for grant in a.model.invoker_grants:
        _judge(a, grant, listed, out)
    for svc in a.model.services:
        _judge_check_off(a, svc, listed, out)


def _invoker_check_off(svc: Service) -> Any:
    """Whether the service turns the invoker IAM check off (True, False, or UNKNOWN)."""
    if svc.v1:
        notes = svc.res.get("metadata.annotations")
        value = notes.get(V1_INVOKER_CHECK_OFF) if isinstance(notes, Mapping) else notes
        return value if value is UNKNOWN else str(value).lower() == "true"
    value = svc.res.get("invokerIamDisabled")
    return value if value is UNKNOWN else value is True


def _judge_check_off(a: Analysis, svc: Service, listed: set[str], out: Findings) -> None:
    off = _invoker_check_off(svc)
    if off is False or public_on_purpose(svc, listed) or a.model.redis_client(svc) is None:
        return
    if off is UNKNOWN:
        out.unknown(svc.res, f"whether {svc.name} turns the invoker IAM check off is not known yet")
        return
    out.violation(
        svc.res,
        f"{svc.res.name}: turns the Cloud Run invoker IAM check off on {svc.name}, a Redis "
        "client: anyone who can reach its URL can call it, with no grant at all, and drive what "
        "it does with Redis. Fix: leave the invoker check on and grant roles/run.invoker to the "
        f"callers; if {svc.name} is public on purpose, label it {PUBLIC_LABEL}={PUBLIC_VALUE} "
        "(redis-vpc: services.<name>.public: true) or list it in this policy's publicServices.",
    )


def _from_service_accounts(a: Analysis, grant: InvokerGrant) -> bool:
    """Whether every member not known yet comes from service accounts of the stack: the value
    depends on them alone (an account's `member` or `email` output)."""
    deps = grant.res.deps_of("member") + grant.res.deps_of("members")
    return bool(deps) and all(u in a.model.service_accounts.by_urn for u in deps)


def _judge(a: Analysis, grant: InvokerGrant, listed: set[str], out: Findings) -> None:
    role, members = grant.role, grant.members
    if role is not UNKNOWN and role not in INVOKER_ROLES:
        return
    if members is UNKNOWN:
        public: list[str] = []
        unknown = True
    else:
        members = list(members or [])
        public = [m for m in members if isinstance(m, str) and m in PUBLIC_MEMBERS]
        unknown = any(m is UNKNOWN for m in members)
    if unknown and _from_service_accounts(a, grant):
        unknown = False  # a service account's member (serviceAccount:...), never a public one
    if not public and not unknown:
        return
    svc = a.model.services.resolve(grant.service)
    if svc is None:
        return  # a service of another stack or project: judged where it is defined
    if svc is UNKNOWN:
        out.unknown(grant.res, "which Cloud Run service it grants on is not known yet")
        return
    assert isinstance(svc, Service)
    if public_on_purpose(svc, listed) or a.model.redis_client(svc) is None:
        return
    if not public or role is UNKNOWN:
        out.unknown(grant.res, f"who it lets invoke {svc.name} is not known yet")
        return
    who = "; ".join(f"{m} is {PUBLIC_MEMBERS[m]}" for m in public)
    out.violation(
        grant.res,
        f"{grant.res.name}: grants {role} to {', '.join(public)} on {svc.name}, a Redis client "
        f"({who}): whoever can call it can drive what it does with Redis. Fix: grant the role to "
        f"the callers' service accounts or groups instead of {', '.join(public)}; if {svc.name} "
        f"is public on purpose, label it {PUBLIC_LABEL}={PUBLIC_VALUE} (redis-vpc: "
        "services.<name>.public: true) or list it in this policy's publicServices.",
    )


RULE = Rule(
    name="cloud-run-redis-clients-not-public",
    description=(
        "A Cloud Run service that is a Redis client grants no invoker role to allUsers or "
        "allAuthenticatedUsers and keeps the invoker IAM check on, unless it is public on purpose (label public=true, or "
        "publicServices)."
    ),
    level=MANDATORY,
    severity=Severity.HIGH,
    remediation=(
        "Grant roles/run.invoker to the callers' service accounts or groups; for a service that "
        "is public on purpose, label it public=true or list it in publicServices."
    ),
    tags=("security", "iam"),
    check=check,
    settings=(s.PUBLIC_SERVICES,),
    scope=PRODUCTION_ADVICE_ELSEWHERE,
)
