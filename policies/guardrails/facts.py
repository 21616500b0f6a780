"""One home in the pack for the facts it shares with the program: type tokens, the production
marker, the secret words and the connector's network tags.

The pack is self-contained (the CLI runs it from its own folder; it imports nothing of infra/ or
preflight/), so the program keeps its own copy in infra/facts.py; tests/test_facts_parity.py holds
the two equal. Every other module of the pack reads these from here.
"""

from __future__ import annotations

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
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
PROJECT_IAM_BINDING = "gcp:projects/iAMBinding:IAMBinding"
PROJECT_IAM_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"

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
