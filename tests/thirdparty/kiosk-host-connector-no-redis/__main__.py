"""Kiosk: a service project on the platform team's Shared VPC. Google's "connector in the host
project" layout: the platform team runs the connector in the host project, this stack names it by
its full id (the Cloud Run service agent holds roles/vpcaccess.user on the host, granted by the
platform team). The stack has no Redis of its own to say which project is the host, and no policy
config lists hosts: another project's connector by full id is still a Shared VPC reference, judged
by the region its id names: kiosk-eu, in europe-west1 on the us-central1 connector, is the one
defect."""

import pulumi_gcp as gcp

HOST_CONNECTOR = "projects/acme-net-host/locations/us-central1/connectors/shared-usc1"

sa = gcp.serviceaccount.Account("kiosk", account_id="kiosk-prod")
for logical, region in (("kiosk", "us-central1"), ("kiosk-eu", "europe-west1")):
    gcp.cloudrunv2.Service(
        logical,
        name=f"{logical}-prod",
        location=region,
        deletion_protection=False,
        template={
            "service_account": sa.email,
            "vpc_access": {"connector": HOST_CONNECTOR, "egress": "PRIVATE_RANGES_ONLY"},
            "containers": [
                {
                    "image": "us-docker.pkg.dev/acme-kiosk/kiosk:2.0.1",
                    "envs": [{"name": "CATALOG_URL", "value": "http://catalog.internal:8080"}],
                }
            ],
        },
    )
