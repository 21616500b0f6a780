"""Chat on a Shared VPC with the platform team's connector in the host project (correct): Google's
"connector in the host project" layout (https://cloud.google.com/run/docs/configuring/
shared-vpc-host-project): the service names the host's connector by its full id
(projects/<host>/locations/<region>/connectors/<name>) and the service project's Cloud Run agent
holds roles/vpcaccess.user on the host, granted by the platform team. Redis is on the host's
network; the stack creates no connector and no firewall rule of its own."""

import pulumi
import pulumi_gcp as gcp

env = pulumi.get_stack()
region = "europe-west1"
HOST = "acme-net-host"
CONNECTOR_HOST = HOST
# The host's private services access range (read, as the program would).
gcp.compute.get_global_address_output(name="google-managed-services-shared-vpc", project=HOST)
redis = gcp.redis.Instance(
    "cache",
    name=f"chat-{env}",
    memory_size_gb=1,
    region=region,
    authorized_network=f"projects/{HOST}/global/networks/shared-vpc",
    connect_mode="PRIVATE_SERVICE_ACCESS",
    reserved_ip_range="google-managed-services-shared-vpc",
    auth_enabled=True,
    transit_encryption_mode="SERVER_AUTHENTICATION",
)
gcp.cloudrunv2.Service(
    "chat",
    name=f"chat-{env}",
    location=region,
    deletion_protection=False,
    template={
        "vpc_access": {
            "connector": f"projects/{CONNECTOR_HOST}/locations/{region}/connectors/shared-euw1",
            "egress": "PRIVATE_RANGES_ONLY",
        },
        "containers": [
            {
                "image": "europe-docker.pkg.dev/acme/chat:1",
                "envs": [
                    {"name": "REDIS_HOST", "value": redis.host},
                    {"name": "REDIS_PORT", "value": redis.port.apply(str)},
                ],
            }
        ],
    },
)
