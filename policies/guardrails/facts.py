"""One home in the pack for the facts it shares with the program: type tokens, the production
marker, the secret words and the connector's network tags.

The pack is self-contained (the CLI runs it from its own folder; it imports nothing of infra/ or
preflight/), so the program keeps its own copy in infra/facts.py; tests/test_facts_parity.py holds
the two equal. Every other module of the pack reads these from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Pulumi type tokens (pulumi-gcp) of the resources the policies look at.
NETWORK = "gcp:compute/network:Network"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
PSA_CONNECTION = "gcp:servicenetworking/connection:Connection"
CONNECTOR = "gcp:vpcaccess/connector:Connector"
REDIS = "gcp:redis/instance:Instance"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_IAM_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
SECRET_IAM_BINDING = "gcp:secretmanager/secretIamBinding:SecretIamBinding"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_V1_SERVICE = "gcp:cloudrun/service:Service"
# Who may invoke a Cloud Run service: v2 (name = the service) and v1 (service = the service).
RUN_SERVICE_IAM_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RUN_SERVICE_IAM_BINDING = "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding"
RUN_SERVICE_IAM_POLICY = "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy"
RUN_V1_IAM_MEMBER = "gcp:cloudrun/iamMember:IamMember"
RUN_V1_IAM_BINDING = "gcp:cloudrun/iamBinding:IamBinding"
RUN_V1_IAM_POLICY = "gcp:cloudrun/iamPolicy:IamPolicy"
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
PROJECT_IAM_BINDING = "gcp:projects/iAMBinding:IAMBinding"
PROJECT_IAM_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"

# Other Memorystore products (Private Service Connect).
VALKEY = "gcp:memorystore/instance:Instance"
REDIS_CLUSTER = "gcp:redis/cluster:Cluster"

# Memorystore for Valkey and Memorystore for Redis Cluster over Private Service Connect
# (docs/psc-products.md holds every source quoted). A service connection policy of the product's
# service class, on the consumer network and in the instance's region, lets Memorystore create the
# PSC endpoints in the policy's subnet; "You can create only one service connection policy for
# each combination of network, region, and service class"
# (https://cloud.google.com/vpc/docs/about-service-connection-policies).
SERVICE_CONNECTION_POLICY = (
    "gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy"
)
# User-registered PSC connections: the consumer reserves the addresses, creates the forwarding
# rules to the instance's service attachments and registers them, with no service connection
# policy; "Memorystore for Redis Cluster instances are compatible with both types"
# (https://cloud.google.com/memorystore/docs/cluster/about-multiple-vpc-networking; Valkey:
# https://cloud.google.com/memorystore/docs/valkey/about-multiple-vpc-networking). Resource
# `name` is the instance's id (pulumi_gcp 10.2.0 memorystore/instance_desired_user_created_
# endpoints.py, redis/cluster_user_created_connections.py).
VALKEY_USER_ENDPOINTS = (
    "gcp:memorystore/instanceDesiredUserCreatedEndpoints:InstanceDesiredUserCreatedEndpoints"
)
REDIS_CLUSTER_USER_CONNECTIONS = (
    "gcp:redis/clusterUserCreatedConnections:ClusterUserCreatedConnections"
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

# Firewall policies (guardrails/layers.py).
FIREWALL_POLICY = "gcp:compute/firewallPolicy:FirewallPolicy"
FIREWALL_POLICY_RULE = "gcp:compute/firewallPolicyRule:FirewallPolicyRule"
FIREWALL_POLICY_ASSOCIATION = "gcp:compute/firewallPolicyAssociation:FirewallPolicyAssociation"
NETWORK_POLICY = "gcp:compute/networkFirewallPolicy:NetworkFirewallPolicy"
NETWORK_POLICY_RULE = "gcp:compute/networkFirewallPolicyRule:NetworkFirewallPolicyRule"
NETWORK_POLICY_ASSOCIATION = (
    "gcp:compute/networkFirewallPolicyAssociation:NetworkFirewallPolicyAssociation"
)
REGION_POLICY = "gcp:compute/regionNetworkFirewallPolicy:RegionNetworkFirewallPolicy"
REGION_POLICY_RULE = "gcp:compute/regionNetworkFirewallPolicyRule:RegionNetworkFirewallPolicyRule"
REGION_POLICY_ASSOCIATION = (
    "gcp:compute/regionNetworkFirewallPolicyAssociation:RegionNetworkFirewallPolicyAssociation"
)

# The label the redis-vpc program puts on its resources from the stack file's
# `redis-vpc:production` key; the default of the productionLabels setting.
PRODUCTION_LABEL = "production"
PRODUCTION_VALUE = "true"

# The label that says a Cloud Run service is public on purpose: the redis-vpc program puts it on a
# service whose stack file sets `services.<name>.public: true` (and only then).
PUBLIC_LABEL = "public"
PUBLIC_VALUE = "true"

# The label the redis-vpc program puts on its resources from the stack file's
# `redis-vpc:environment` key (infra/stack.py), and the other key programs commonly use: where the
# pack learns a stack's environment when policy config `environment` is unset (the first key a
# resource carries wins).
ENVIRONMENT_LABEL = "environment"
ENVIRONMENT_LABELS = (ENVIRONMENT_LABEL, "env")

# Whole words (or word sequences) of an env var name that mark a secret: DB_PASSWORD, API_KEY.
# A bare AUTH is not one: AUTH_SERVICE_URL is a plain URL. REDIS_AUTH is the stack's own.
# The default of the secretEnvPatterns setting.
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


def looks_like_secret(var: str, words: Iterable[str] = SECRET_ENV_WORDS) -> bool:
    """Whether an env var's name marks a secret, by whole words (`-` counts as `_`): DB_PASSWORD
    and API_KEY are, OAUTH_CALLBACK_URL is not."""
    parts = "_" + "_".join(w for w in var.upper().replace("-", "_").split("_") if w) + "_"
    return any(f"_{word.upper()}_" in parts for word in words)


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
