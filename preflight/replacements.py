"""Which input changes replace a resource, per type this program creates: the provider's facts.

Read from hashicorp/terraform-provider-google `e03b7622a26cf4e878f90bdccaca6aa3d03a7999`,
`google/services/<file>` (pulumi-gcp is generated from the beta provider, whose sets are the same
for these resources: docs/provider-facts.md, which this table restates and a test keeps in step):

- `ForceNew: true` on a field replaces on any change (`FORCE_NEW`, Pulumi's camelCase names);
- on a nested block, `ForceNew` on the block replaces when the block is added or removed
  (`BLOCKS`), a field inside it only if it is itself ForceNew (`NESTED`) - terraform-plugin-sdk v2
  `helper/schema/schema.go` `diffList`;
- `customdiff.ForceNewIfChange(field, f)` replaces when `f(old, new)` (`CONDITIONAL`).

`PROVIDER_FILLED` are the Optional fields that are also `Computed` or have a `Default`: when the
program does not set one, the provider keeps (or defaults) the deployed value, so a value in the
deployed inputs that the program leaves out is not a change. This matters after `pulumi import`,
which stores every readable field as an input.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

PROVIDER_COMMIT = "hashicorp/terraform-provider-google e03b7622a26cf4e878f90bdccaca6aa3d03a7999"

SOURCES = {
    "gcp:redis/instance:Instance": "redis/resource_redis_instance.go",
    "gcp:vpcaccess/connector:Connector": "vpcaccess/resource_vpc_access_connector.go",
    "gcp:compute/network:Network": "compute/resource_compute_network.go",
    "gcp:compute/subnetwork:Subnetwork": "compute/resource_compute_subnetwork.go",
    "gcp:compute/firewall:Firewall": "compute/resource_compute_firewall.go",
    "gcp:compute/globalAddress:GlobalAddress": "compute/resource_compute_global_address.go",
    "gcp:servicenetworking/connection:Connection": (
        "servicenetworking/resource_service_networking_connection.go"
    ),
    "gcp:cloudrunv2/service:Service": "cloudrunv2/resource_cloud_run_v2_service.go",
    "gcp:cloudrunv2/job:Job": "cloudrunv2/resource_cloud_run_v2_job.go",
    "gcp:secretmanager/secret:Secret": "secretmanager/resource_secret_manager_secret.go",
    "gcp:secretmanager/secretVersion:SecretVersion": (
        "secretmanager/resource_secret_manager_secret_version.go"
    ),
    "gcp:secretmanager/secretIamMember:SecretIamMember": (
        "secretmanager/iam_secret_manager_secret.go, tpgresource/resource_iam_member.go"
    ),
    "gcp:serviceaccount/account:Account": "resourcemanager/resource_google_service_account.go",
    "gcp:networkmanagement/connectivityTest:ConnectivityTest": (
        "networkmanagement/resource_network_management_connectivity_test_resource.go"
    ),
    "gcp:projects/service:Service": "resourcemanager/resource_google_project_service.go",
}

FORCE_NEW: dict[str, frozenset[str]] = {
    t: frozenset(v.split())
    for t, v in {
        "gcp:redis/instance:Instance": "alternativeLocationId authorizedNetwork connectMode "
        "customerManagedKey locationId name project region reservedIpRange tier "
        "transitEncryptionMode",
        "gcp:vpcaccess/connector:Connector": "ipCidrRange maxThroughput minThroughput name "
        "network project region",
        "gcp:compute/network:Network": "autoCreateSubnetworks description internalIpv6Range "
        "name networkProfile params project",
        "gcp:compute/subnetwork:Subnetwork": "description externalIpv6Prefix internalIpv6Prefix "
        "name network params project region reservedInternalRange resolveSubnetMask",
        "gcp:compute/firewall:Firewall": "direction name params project",
        "gcp:compute/globalAddress:GlobalAddress": "address addressType description ipVersion "
        "name network prefixLength project purpose",
        "gcp:servicenetworking/connection:Connection": "network service",
        "gcp:cloudrunv2/service:Service": "location name project tags",
        "gcp:cloudrunv2/job:Job": "location name project tags",
        "gcp:secretmanager/secret:Secret": "project replication secretId tags",
        "gcp:secretmanager/secretVersion:SecretVersion": "isSecretDataBase64 project secret "
        "secretData secretDataWoVersion",
        "gcp:secretmanager/secretIamMember:SecretIamMember": "condition member project role "
        "secretId",
        "gcp:serviceaccount/account:Account": "accountId project",
        "gcp:networkmanagement/connectivityTest:ConnectivityTest": "name project",
        "gcp:projects/service:Service": "project service",
    }.items()
}

# Blocks whose presence is ForceNew: adding or removing them replaces.
BLOCKS: dict[str, frozenset[str]] = {
    "gcp:vpcaccess/connector:Connector": frozenset({"subnet"}),
    "gcp:secretmanager/secret:Secret": frozenset({"replication"}),
    "gcp:networkmanagement/connectivityTest:ConnectivityTest": frozenset(
        {"source.cloudRunRevision", "source.cloudFunction", "source.appEngineVersion"}
    ),
}

# ForceNew fields inside blocks (list indices dropped from the path).
NESTED: dict[str, frozenset[str]] = {
    "gcp:vpcaccess/connector:Connector": frozenset({"subnet.name", "subnet.projectId"}),
    # replication is ForceNew as a whole, and so is everything under it.
    "gcp:secretmanager/secret:Secret": frozenset({"replication"}),
}


def _redis_version(version: Any) -> tuple[int, int] | None:
    m = re.fullmatch(r"REDIS_(\d+)_(\d+)", str(version))
    return (int(m[1]), int(m[2])) if m else None


def _version_decreases(old: Any, new: Any) -> bool:
    """isRedisVersionDecreasing: both parse as REDIS_<major>_<minor> and new < old."""
    o, n = _redis_version(old), _redis_version(new)
    return o is not None and n is not None and n < o


def _shrinks(old: Any, new: Any) -> bool:
    """isInstanceShrinkage: min/max instances can only increase in place."""
    try:
        return float(new) < float(old)
    except (TypeError, ValueError):
        return False


def _cidr_shrinks(old: Any, new: Any) -> bool:
    """IsShrinkageIpCidr: a replace unless the new range contains the old one (an expansion)."""
    try:
        o, n = ipaddress.ip_network(str(old)), ipaddress.ip_network(str(new))
    except ValueError:
        return True
    return o.version != n.version or not o.subnet_of(n)  # type: ignore[arg-type]


CONDITIONAL: dict[str, dict[str, tuple[Callable[[Any, Any], bool], str]]] = {
    "gcp:redis/instance:Instance": {
        "redisVersion": (_version_decreases, "a lower Redis version"),
    },
    "gcp:vpcaccess/connector:Connector": {
        "minInstances": (_shrinks, "fewer instances (only increases are in place)"),
        "maxInstances": (_shrinks, "fewer instances (only increases are in place)"),
    },
    "gcp:compute/subnetwork:Subnetwork": {
        "ipCidrRange": (_cidr_shrinks, "a range that does not contain the old one"),
    },
}

PROVIDER_FILLED: dict[str, frozenset[str]] = {
    t: frozenset(v.split())
    for t, v in {
        "gcp:redis/instance:Instance": "alternativeLocationId authEnabled authorizedNetwork "
        "connectMode deletionPolicy locationId maintenanceVersion persistenceConfig project "
        "readReplicasMode redisVersion region replicaCount reservedIpRange secondaryIpRange "
        "tier transitEncryptionMode",
        "gcp:vpcaccess/connector:Connector": "deletionPolicy machineType maxInstances "
        "maxThroughput minInstances minThroughput network project region",
        "gcp:compute/network:Network": "autoCreateSubnetworks bgpAlwaysCompareMed "
        "bgpBestPathSelectionMode bgpInterRegionCost deleteBgpAlwaysCompareMed "
        "deleteDefaultRoutesOnCreate deletionPolicy internalIpv6Range mtu "
        "networkFirewallPolicyEnforcementOrder project routingMode",
        "gcp:compute/subnetwork:Subnetwork": "allowSubnetCidrRoutesOverlap deletionPolicy "
        "externalIpv6Prefix internalIpv6Prefix ipCidrRange privateIpGoogleAccess "
        "privateIpv6GoogleAccess project purpose region secondaryIpRange stackType",
        "gcp:compute/firewall:Firewall": "deletionPolicy destinationRanges direction "
        "enableLogging priority project",
        "gcp:compute/globalAddress:GlobalAddress": "address addressType deletionPolicy "
        "prefixLength project",
        "gcp:servicenetworking/connection:Connection": "",
        "gcp:cloudrunv2/service:Service": "deletionPolicy deletionProtection ingress "
        "launchStage project scaling traffic",
        "gcp:cloudrunv2/job:Job": "deletionPolicy deletionProtection launchStage project",
        "gcp:secretmanager/secret:Secret": "deletionPolicy deletionProtection expireTime project",
        "gcp:secretmanager/secretVersion:SecretVersion": "deletionPolicy enabled project",
        "gcp:secretmanager/secretIamMember:SecretIamMember": "project",
        "gcp:serviceaccount/account:Account": "createIgnoreAlreadyExists disabled project",
        "gcp:networkmanagement/connectivityTest:ConnectivityTest": "deletionPolicy project "
        "protocol",
        "gcp:projects/service:Service": "project",
    }.items()
}

# The bridge's own bookkeeping in stored inputs (which inputs came from defaults).
BRIDGE_KEYS = frozenset({"__defaults"})


def schema_path(path: str) -> str:
    """`template.containers[0].image` -> `template.containers.image`."""
    return re.sub(r"\[\d+\]", "", path)


def replaces(type_: str, path: str, old: Any, new: Any, *, unknown: bool = False) -> str | None:
    """Why a change at `path` (old -> new) replaces a resource of `type_`, or None.
    An unknown new value (computed from a resource being created or replaced) replaces a
    ForceNew field, as Terraform plans RequiresNew on an unknown value; a conditional one is only
    decided on known values."""
    bare = schema_path(path)
    top = bare.split(".")[0]
    if top in FORCE_NEW.get(type_, ()):
        return f"{path} (ForceNew)"
    for block in BLOCKS.get(type_, ()):
        if bare == block and (old is None) != (new is None):
            return f"{path} ({'added' if old is None else 'removed'}; the block is ForceNew)"
    for nested in NESTED.get(type_, ()):
        if bare == nested or bare.startswith(nested + "."):
            return f"{path} (ForceNew)"
    rule = CONDITIONAL.get(type_, {}).get(bare)
    if rule is not None and not unknown and rule[0](old, new):
        return f"{path} ({rule[1]})"
    return None


def known_type(type_: str) -> bool:
    return type_ in FORCE_NEW
