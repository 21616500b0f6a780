"""Service agents created explicitly, before anything grants them a role.

"If a service agent hasn't been created yet, then you can't grant roles to the service agent"
("Create and grant roles to service agents", https://cloud.google.com/iam/docs/create-service-agents),
and Google creates a project's service agent only "at some point after you activate and use the
API" ("Service agents", https://cloud.google.com/iam/docs/service-agents): enabling the API is no
proof that the agent exists yet, so on a new project a grant to it can fail. The provider's
`gcp.projects.ServiceIdentity` (serviceusage `services.generateServiceIdentity`, what
`gcloud beta services identity create --service=...` calls; google-beta
resource_project_service_identity.go, infra/facts.py SERVICE_IDENTITY) asks Google to create the
agent and answers its email. It supports the two agents the Shared VPC grants name, Cloud Run's
(run.googleapis.com) and Serverless VPC Access's (vpcaccess.googleapis.com); it is a beta
resource of the provider, which pulumi-gcp builds from the beta provider (as Valkey and Redis
Cluster, preflight/replacements.py). Once created it "cannot be updated or destroyed" (the
resource's own note in pulumi_gcp/projects/service_identity.py): destroying the stack leaves the
agent, which other workloads of the project may use.

The grants take their member through the identity (a data edge: `member` depends on it, so the
engine creates the agent first). The value is Google's documented email, known before the
identity exists, not the identity's `email` output: that output is unknown in a preview until the
identity exists, and `member` is replace-on-change on every IAM member resource (google-beta
tpgiamresource/resource_iam_member.go IamMemberBaseSchema), so every existing grant of a stack
deployed before the identities would show as replaced in the preview of the upgrade. In the
update, where the identity's email is known, it must equal that value, or the update fails
naming both (Google warns that "the email address format for service agents [is] subject to
change", https://cloud.google.com/iam/docs/service-agents).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import facts
from infra.records import record


@record(frozen=True)
class ServiceAgent:
    """A project's service agent for one API, created explicitly."""

    identity: gcp.projects.ServiceIdentity
    member: pulumi.Output[str]  # serviceAccount:<email>, depending on the identity
    # The identity's email once created, checked against `member` (await it: register_outputs)
    checked: pulumi.Output[str]


def service_agent(
    name: str,
    *,
    project: pulumi.Input[str],
    number: pulumi.Input[str],
    service: str,
    opts: pulumi.ResourceOptions,
) -> ServiceAgent:
    """Create `service`'s service agent in `project` (numbered `number`); `opts` orders it
    after the API's enablement."""
    identity = gcp.projects.ServiceIdentity(name, project=project, service=service, opts=opts)
    expected = pulumi.Output.from_input(number).apply(
        lambda n: facts.service_agent_email(service, n)
    )
    # identity.urn is known in a preview too: the dependency without an unknown value.
    member = pulumi.Output.all(identity.urn, expected).apply(lambda a: f"serviceAccount:{a[1]}")

    def check(args: list[str]) -> str:
        email, want = args
        if email and email != want:
            raise ValueError(
                f"{name}: Google created the {service} service agent as {email}, not {want} as "
                "its documented format says (https://cloud.google.com/iam/docs/service-agents); "
                "the Shared VPC grants would name an account that does not exist: update "
                "infra/facts.py SERVICE_AGENT_DOMAINS"
            )
        return email

    checked = pulumi.Output.all(identity.email, expected).apply(check)
    return ServiceAgent(identity, member, checked)
