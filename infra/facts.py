"""One home for the facts the program side shares (infra/, preflight/, verify/).

The policy pack keeps its own copy in policies/guardrails/facts.py (the pack is self-contained: it
runs under the CLI from its own folder and imports nothing of ours); tests/test_facts_parity.py
holds the two copies equal.
"""

from __future__ import annotations

import re

# Pulumi type tokens of the provider resources the program registers (pulumi-gcp).
NETWORK = "gcp:compute/network:Network"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
PSA_CONNECTION = "gcp:servicenetworking/connection:Connection"
CONNECTOR = "gcp:vpcaccess/connector:Connector"
REDIS = "gcp:redis/instance:Instance"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
RUN_SERVICE_IAM_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
# The Shared VPC grants on the host (infra/shared_vpc.py).
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
SUBNETWORK_IAM_MEMBER = "gcp:compute/subnetworkIAMMember:SubnetworkIAMMember"
CONNECTIVITY_TEST = "gcp:networkmanagement/connectivityTest:ConnectivityTest"
PROJECT_SERVICE = "gcp:projects/service:Service"
# The bootstrap program's (bootstrap/: the state bucket, its keys, the GitHub identity pool).
WORKLOAD_IDENTITY_POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
WORKLOAD_IDENTITY_POOL_PROVIDER = (
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
)
KMS_KEY_RING = "gcp:kms/keyRing:KeyRing"
KMS_CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
STORAGE_BUCKET = "gcp:storage/bucket:Bucket"
PROJECT_CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
# A service agent created explicitly (infra/identities.py): google_project_service_identity,
# hashicorp/terraform-provider-google-beta google-beta/services/resourcemanager/
# resource_project_service_identity.go (`service`, `project`: ForceNew; `email`, `member`:
# Computed, member = "serviceAccount:" + email, l.129-137).
SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
# Other programs' Memorystore products, which the state review knows (preflight/diff.py).
VALKEY = "gcp:memorystore/instance:Instance"
REDIS_CLUSTER = "gcp:redis/cluster:Cluster"
# The provider function the program invokes for the project (its number).
GET_PROJECT = "gcp:organizations/getProject:getProject"
GET_GLOBAL_ADDRESS = "gcp:compute/getGlobalAddress:getGlobalAddress"


# Memorystore for Valkey and Memorystore for Redis Cluster over Private Service Connect
# (docs/psc-products.md holds every source quoted). A service connection policy of the product's
# service class, on the consumer network and in the instance's region, lets Memorystore create the
# PSC endpoints in the policy's subnet; "You can create only one service connection policy for
# each combination of network, region, and service class"
# (https://cloud.google.com/vpc/docs/about-service-connection-policies).
SERVICE_CONNECTION_POLICY = (
    "gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy"
)
PSC_SERVICE_CLASS_SOURCES = {
    "gcp-memorystore": "https://cloud.google.com/memorystore/docs/valkey/networking",
    "gcp-memorystore-redis": "https://cloud.google.com/memorystore/docs/cluster/networking",
}
# type token -> the service class its policy must have.
PSC_SERVICE_CLASS = {
    VALKEY: "gcp-memorystore",
    REDIS_CLUSTER: "gcp-memorystore-redis",
}
# "For all of your instance's Private Service Connect endpoints, you must allow TCP port 6379, as
# well as TCP ports 11000 through 13047." (Valkey:
# https://docs.cloud.google.com/memorystore/docs/valkey/connect-instance; Redis Cluster, the same
# sentence: https://docs.cloud.google.com/memorystore/docs/cluster/connect-cluster-instance)
PSC_PORTS_SOURCE = "https://docs.cloud.google.com/memorystore/docs/valkey/connect-instance"
PSC_DISCOVERY_PORT = 6379
PSC_NODE_PORTS = (11000, 13047)  # inclusive
# The role an IAM-authenticated client's service account needs: Valkey
# https://cloud.google.com/memorystore/docs/valkey/access-control (memorystore.instances.connect),
# Redis Cluster https://cloud.google.com/memorystore/docs/cluster/about-iam-auth
# (redis.clusters.connect).
PSC_CONNECTION_ROLE = {
    VALKEY: "roles/memorystore.dbConnectionUser",
    REDIS_CLUSTER: "roles/redis.dbConnectionUser",
}

# The label that carries the stack's environment (`redis-vpc:environment`): where the policy pack
# learns which environment the stack is in (policies/guardrails/environment.py).
ENVIRONMENT_LABEL = "environment"

# The label that marks a resource of a stack held to the production baseline; its value comes
# from the explicit `redis-vpc:production` key ("true" / "false"), never from a name.
PRODUCTION_LABEL = "production"
PRODUCTION_VALUE = "true"

# The label on a service that is public on purpose (`services.<name>.public: true`): the pack's
# cloud-run-redis-clients-not-public then takes its allUsers invoker as meant.
PUBLIC_LABEL = "public"
PUBLIC_VALUE = "true"

# Whole words (or word sequences) of an env var name that mark a secret: DB_PASSWORD, API_KEY.
# A bare AUTH is not one: AUTH_SERVICE_URL is a plain URL. REDIS_AUTH is the stack's own.
SECRET_ENV_WORDS = (
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "PRIVATE_KEY",
    "AUTH_KEY",
    "CREDENTIALS",
    "REDIS_AUTH",
)


def looks_like_secret(var: str) -> bool:
    """Whether an env var's name marks a secret, by whole words (`-` counts as `_`, as the pack
    reads it): DB_PASSWORD and API_KEY are, OAUTH_CALLBACK_URL is not."""
    words = "_" + "_".join(w for w in var.upper().replace("-", "_").split("_") if w) + "_"
    return any(f"_{word}_" in words for word in SECRET_ENV_WORDS)


def connector_network_tag(region: str, connector_name: str) -> str:
    """The tag Google puts on one connector's VMs, the egress rule's target ("Serverless VPC
    Access", network tags: https://cloud.google.com/vpc/docs/serverless-vpc-access#network-tags)."""
    return f"vpc-connector-{region}-{connector_name}"


# The tag every connector's VMs carry, whatever the connector (same source).
CONNECTOR_UNIVERSAL_TAG = "vpc-connector"


# -- container images production can trust ----------------------------------------------------
# A tag names whatever was pushed under it last. Artifact Registry moves `latest` to every image
# pushed without a tag, and pulls `latest` for a reference that names no tag and no digest
# ("Container concepts", https://cloud.google.com/artifact-registry/docs/container-concepts:
# "We recommend giving releases a tag other than latest"; "Repository and image names",
# https://cloud.google.com/artifact-registry/docs/docker/names). A digest always names the same
# image, and Cloud Run deploys a digest as it is (https://cloud.google.com/run/docs/deploying#image).
# A Docker repository can also make every tag immutable ("Update repository settings",
# https://cloud.google.com/artifact-registry/docs/repositories/update-repo-settings), which a
# program cannot see: so a concrete version tag (1.42.0, v2, git-3f9c2ab, 2024-06-01) is taken as
# immutable, and `latest`, no tag at all, and the channel names teams move by convention are not.
MOVING_TAGS = frozenset(
    {
        "latest",
        "stable",
        "edge",
        "nightly",
        "main",
        "master",
        "head",
        "dev",
        "develop",
        "canary",
        "current",
        "release",
        "prod",
        "production",
        "staging",
    }
)
DIGEST_PATTERN = r"sha256:[a-f0-9]{64}"


def image_pin_problem(image: str) -> str | None:
    """Why a container image reference can name another image tomorrow, or None (a sha256
    digest, or a tag that is not a moving name)."""
    rest, at, digest = image.partition("@")
    if at:
        if re.fullmatch(DIGEST_PATTERN, digest):
            return None  # the digest decides, whatever tag the reference also names
        return f"names the digest {digest!r}, which is not sha256:<64 hex>"
    last = rest.rsplit("/", 1)[-1]
    if ":" not in last:
        return "names no tag or digest, so it pulls `latest`"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() in MOVING_TAGS:
        return f"uses a moving tag: the tag `{tag}` moves to whatever is pushed under it next"
    return None


# -- Direct VPC egress: the addresses a subnet must hold --------------------------------------
# Cloud Run, "Direct VPC egress with a VPC network", IP address allocation
# (https://cloud.google.com/run/docs/configuring/vpc-direct-vpc#direct-vpc-ip-allocation; read
# in its zh-TW rendering, https://docs.cloud.google.com/run/docs/configuring/vpc-direct-vpc?hl=zh-tw):
# to scale up faster during traffic surges Cloud Run reserves 16 IP addresses at a time (a /28),
# the subnet's IPv4 range must be /26 or larger, and in steady state Cloud Run uses twice (2X) as
# many IP addresses as instances (a scaled-down revision keeps its addresses for a while).
# "Best practices for Cloud Run networking" says the same: instance count x 2 estimates the
# addresses in use (https://cloud.google.com/run/docs/configuring/networking-best-practices).
# During a rollout the old and the new revision run at once, each up to its own maximum
# (revision-level max instances).
DIRECT_EGRESS_SOURCE = "https://cloud.google.com/run/docs/configuring/vpc-direct-vpc"
DIRECT_EGRESS_BLOCK = 16
DIRECT_EGRESS_ADDRESSES_PER_INSTANCE = 2
ROLLOUT_REVISIONS = 2
# Every subnet's primary IPv4 range has four addresses no instance can use (network, gateway,
# second-to-last and broadcast): "Unusable addresses in IPv4 subnet ranges",
# https://cloud.google.com/vpc/docs/subnets#unusable-ip-addresses-in-every-subnet.
SUBNET_RESERVED_ADDRESSES = 4
# Network Analyzer warns at "IP utilization above 75 percent for a subnet range" ("Insight groups
# and types", https://cloud.google.com/network-intelligence-center/docs/network-analyzer/insight-groups-types),
# and its allocation ratio of a primary range counts the 4 unusable addresses as allocated ("IP
# address utilization insights",
# https://cloud.google.com/network-intelligence-center/docs/network-analyzer/insights/vpc-network/ip-utilization):
# the threshold for advice, computed as it computes it.
SUBNET_UTILISATION_ADVICE = 0.75


def direct_egress_addresses(instances: int, revisions: int = 1) -> int:
    """The addresses `revisions` revisions of a workload of at most `instances` instances each
    take from its Direct VPC egress subnet: 2 an instance, in blocks of 16."""
    wanted = DIRECT_EGRESS_ADDRESSES_PER_INSTANCE * instances * revisions
    return -(-wanted // DIRECT_EGRESS_BLOCK) * DIRECT_EGRESS_BLOCK


def usable_addresses(prefixlen: int) -> int:
    """The addresses of an IPv4 subnet of this prefix length that instances can take."""
    return 2 ** (32 - prefixlen) - SUBNET_RESERVED_ADDRESSES


def subnet_utilisation(addresses: int, prefixlen: int) -> float:
    """The share of an IPv4 subnet allocated once `addresses` are taken, as Network Analyzer
    counts it (the 4 unusable addresses count as allocated)."""
    return (addresses + SUBNET_RESERVED_ADDRESSES) / 2 ** (32 - prefixlen)


# The project-level service agents the Shared VPC grants name, by the API they belong to:
# `service-PROJECT_NUMBER@<domain>` ("Service agents", https://cloud.google.com/iam/docs/service-agents:
# Cloud Run Service Agent, service-PROJECT_NUMBER@serverless-robot-prod.iam.gserviceaccount.com;
# Serverless VPC Access Service Agent, service-PROJECT_NUMBER@gcp-sa-vpcaccess.iam.gserviceaccount.com).
SERVICE_AGENT_DOMAINS = {
    "run.googleapis.com": "serverless-robot-prod.iam.gserviceaccount.com",
    "vpcaccess.googleapis.com": "gcp-sa-vpcaccess.iam.gserviceaccount.com",
}


def service_agent_email(service: str, number: str) -> str:
    """The email of `service`'s project-level service agent in the project numbered `number`."""
    return f"service-{number}@{SERVICE_AGENT_DOMAINS[service]}"
