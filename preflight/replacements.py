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

from infra import facts
from preflight import wire

PROVIDER_COMMIT = "hashicorp/terraform-provider-google e03b7622a26cf4e878f90bdccaca6aa3d03a7999"

SOURCES = {
    facts.REDIS: "redis/resource_redis_instance.go",
    facts.CONNECTOR: "vpcaccess/resource_vpc_access_connector.go",
    facts.NETWORK: "compute/resource_compute_network.go",
    facts.SUBNETWORK: "compute/resource_compute_subnetwork.go",
    facts.FIREWALL: "compute/resource_compute_firewall.go",
    facts.GLOBAL_ADDRESS: "compute/resource_compute_global_address.go",
    facts.PSA_CONNECTION: "servicenetworking/resource_service_networking_connection.go",
    facts.RUN_SERVICE: "cloudrunv2/resource_cloud_run_v2_service.go",
    facts.RUN_JOB: "cloudrunv2/resource_cloud_run_v2_job.go",
    facts.SECRET: "secretmanager/resource_secret_manager_secret.go",
    facts.SECRET_VERSION: "secretmanager/resource_secret_manager_secret_version.go",
    facts.SECRET_IAM_MEMBER: (
        "secretmanager/iam_secret_manager_secret.go, tpgiamresource/resource_iam_member.go"
    ),
    # The IAM member resources: the parent's schema (ForceNew ids) merged with
    # IamMemberBaseSchema (role, member, condition: ForceNew), google/tpgiamresource/
    # resource_iam_member.go:63-100 and :285 (`MergeSchemas(IamMemberBaseSchema, parent)`).
    facts.PROJECT_IAM_MEMBER: (
        "resourcemanager/iam_project.go, tpgiamresource/resource_iam_member.go"
    ),
    facts.SUBNETWORK_IAM_MEMBER: (
        "compute/iam_compute_subnetwork.go, tpgiamresource/resource_iam_member.go"
    ),
    facts.RUN_SERVICE_IAM_MEMBER: (
        "cloudrunv2/iam_cloud_run_v2_service.go, tpgiamresource/resource_iam_member.go"
    ),
    facts.SERVICE_ACCOUNT: "resourcemanager/resource_google_service_account.go",
    # The PSC products and the policy, read from the beta provider
    # (hashicorp/terraform-provider-google-beta 93c65b2d60fea598528f2769b5b09de856f8cb8c,
    # google-beta/services/..., docs/psc-products.md): line numbers there.
    facts.VALKEY: "memorystore/resource_memorystore_instance.go (beta)",
    facts.REDIS_CLUSTER: "redis/resource_redis_cluster.go (beta)",
    facts.SERVICE_CONNECTION_POLICY: (
        "networkconnectivityv1/resource_network_connectivity_service_connection_policy.go (beta)"
    ),
    facts.CONNECTIVITY_TEST: (
        "networkmanagement/resource_network_management_connectivity_test_resource.go"
    ),
    facts.PROJECT_SERVICE: "resourcemanager/resource_google_project_service.go",
    # hashicorp/terraform-provider-google-beta 93c65b2d60fea598528f2769b5b09de856f8cb8c
    # google-beta/services/resourcemanager/resource_project_service_identity.go: l.50-60.
    facts.SERVICE_IDENTITY: "resourcemanager/resource_project_service_identity.go (beta)",
}

FORCE_NEW: dict[str, frozenset[str]] = {
    t: frozenset(v.split())
    for t, v in {
        facts.REDIS: "alternativeLocationId authorizedNetwork connectMode "
        "customerManagedKey locationId name project region reservedIpRange tier "
        "transitEncryptionMode",
        facts.CONNECTOR: "ipCidrRange maxThroughput minThroughput name network project region",
        facts.NETWORK: "autoCreateSubnetworks description internalIpv6Range "
        "name networkProfile params project",
        facts.SUBNETWORK: "description externalIpv6Prefix internalIpv6Prefix "
        "name network params project region reservedInternalRange resolveSubnetMask",
        facts.FIREWALL: "direction name params project",
        facts.GLOBAL_ADDRESS: "address addressType description ipVersion "
        "name network prefixLength project purpose",
        facts.PSA_CONNECTION: "network service",
        facts.RUN_SERVICE: "location name project tags",
        facts.RUN_JOB: "location name project tags",
        facts.SECRET: "project secretId tags",
        facts.SECRET_VERSION: "isSecretDataBase64 project secret secretData secretDataWoVersion",
        facts.SECRET_IAM_MEMBER: "condition member project role secretId",
        # iam_project.go:34-41 IamProjectSchema (project: ForceNew, CompareProjectName).
        facts.PROJECT_IAM_MEMBER: "condition member project role",
        # iam_compute_subnetwork.go:71-90 ComputeSubnetworkIamSchema.
        facts.SUBNETWORK_IAM_MEMBER: "condition member project region role subnetwork",
        # iam_cloud_run_v2_service.go:71-90 CloudRunV2ServiceIamSchema.
        facts.RUN_SERVICE_IAM_MEMBER: "condition location member name project role",
        facts.SERVICE_ACCOUNT: "accountId project",
        facts.CONNECTIVITY_TEST: "name project",
        facts.PROJECT_SERVICE: "project service",
        facts.SERVICE_IDENTITY: "project service",
        # l.162 177 195 402 536 643 651 660 1110 (blocks: gcs_source 379, managed_backup_source
        # 517, zone_distribution_config 670, desired_psc_auto_connections 1064,
        # desired_auto_created_endpoints 1086).
        facts.VALKEY: "authorizationMode instanceId kmsKey location mode project serverCaMode "
        "serverCaPool transitEncryptionMode",
        # l.150 167 607 633 910 (blocks: gcs_source 343, managed_backup_source 479,
        # zone_distribution_config 643); psc_configs is in place (l.577).
        facts.REDIS_CLUSTER: "authorizationMode name project region transitEncryptionMode",
        # l.148 154 160 166 372; psc_config is in place.
        facts.SERVICE_CONNECTION_POLICY: "location name network project serviceClass",
    }.items()
}

# Blocks whose presence is ForceNew: adding or removing them replaces. A ForceNew list of blocks
# (a secret's `replicas`) replaces when an item is added or removed (its count, `k.#`, is what the
# list's ForceNew applies to: terraform-plugin-sdk v2.40.1 helper/schema/schema.go:1392-1421).
BLOCKS: dict[str, frozenset[str]] = {
    facts.CONNECTOR: frozenset({"subnet"}),
    # secretmanager/resource_secret_manager_secret.go:169-252: `replication` (Required),
    # `replication.auto`, `replication.user_managed` and `user_managed.replicas` are ForceNew;
    # `customer_managed_encryption` (under `auto` and under each replica) and its `kms_key_name`
    # are not: a new key is an in-place PATCH whose update mask carries `replication` (:817-818).
    # The resource's CustomizeDiff (:58-80) calls `diff.ForceNew("replication.0.auto")` on any
    # change under `auto`, but that only sets ForceNew on `auto`'s schema (already set) and
    # re-diffs it (terraform-plugin-sdk v2.40.1 helper/schema/resource_diff.go:351-373,
    # schema.go:762-767): `auto.#` is unchanged and the nested fields keep their own ForceNew
    # (false), so no RequiresNew comes of it.
    facts.SECRET: frozenset(
        {
            "replication",
            "replication.auto",
            "replication.userManaged",
            "replication.userManaged.replicas",
        }
    ),
    facts.CONNECTIVITY_TEST: frozenset(
        {"source.cloudRunRevision", "source.cloudFunction", "source.appEngineVersion"}
    ),
    facts.VALKEY: frozenset(
        {
            "gcsSource",
            "managedBackupSource",
            "zoneDistributionConfig",
            "desiredPscAutoConnections",
            "desiredAutoCreatedEndpoints",
        }
    ),
    facts.REDIS_CLUSTER: frozenset({"gcsSource", "managedBackupSource", "zoneDistributionConfig"}),
}

# ForceNew fields inside blocks (list indices dropped from the path).
NESTED: dict[str, frozenset[str]] = {
    facts.CONNECTOR: frozenset({"subnet.name", "subnet.projectId"}),
    facts.SECRET: frozenset({"replication.userManaged.replicas.location"}),
    # memorystore l.387 (gcs_source.uris), 525 (managed_backup_source.backup), 688
    # (zone_distribution_config.zone; its `mode` is not ForceNew); redis cluster l.351, 487.
    facts.VALKEY: frozenset(
        {"gcsSource.uris", "managedBackupSource.backup", "zoneDistributionConfig.zone"}
    ),
    facts.REDIS_CLUSTER: frozenset({"gcsSource.uris", "managedBackupSource.backup"}),
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
    """IsShrinkageIpCidr (compute/resource_compute_subnetwork.go:63-80): a replace unless the
    new range contains the old one (an expansion). Either side not a CIDR (`net.ParseCIDR`
    fails) is *not* a shrink: the provider returns false there ("This should never happen. The
    ValidateFunc on the field ensures it", :67-70; `ip_cidr_range` has `ValidateFunc:
    verify.ValidateIpCidrRange`, :471-475, so a program's non-CIDR fails the provider's check
    before any plan). `net.ParseCIDR` accepts host bits (10.2.0.1/28 is 10.2.0.0/28): not
    strict."""
    try:
        o = ipaddress.ip_network(str(old), strict=False)
        n = ipaddress.ip_network(str(new), strict=False)
    except ValueError:
        return False
    return o.version != n.version or not o.subnet_of(n)  # type: ignore[arg-type]


CONDITIONAL: dict[str, dict[str, tuple[Callable[[Any, Any], bool], str]]] = {
    facts.REDIS: {
        "redisVersion": (_version_decreases, "a lower Redis version"),
    },
    facts.CONNECTOR: {
        "minInstances": (_shrinks, "fewer instances (only increases are in place)"),
        "maxInstances": (_shrinks, "fewer instances (only increases are in place)"),
    },
    facts.SUBNETWORK: {
        "ipCidrRange": (_cidr_shrinks, "a range that does not contain the old one"),
    },
}

PROVIDER_FILLED: dict[str, frozenset[str]] = {
    t: frozenset(v.split())
    for t, v in {
        facts.REDIS: "alternativeLocationId authEnabled authorizedNetwork "
        "connectMode deletionPolicy locationId maintenanceVersion persistenceConfig project "
        "readReplicasMode redisVersion region replicaCount reservedIpRange secondaryIpRange "
        "tier transitEncryptionMode",
        facts.CONNECTOR: "deletionPolicy machineType maxInstances "
        "maxThroughput minInstances minThroughput network project region",
        facts.NETWORK: "autoCreateSubnetworks bgpAlwaysCompareMed "
        "bgpBestPathSelectionMode bgpInterRegionCost deleteBgpAlwaysCompareMed "
        "deleteDefaultRoutesOnCreate deletionPolicy internalIpv6Range mtu "
        "networkFirewallPolicyEnforcementOrder project routingMode",
        facts.SUBNETWORK: "allowSubnetCidrRoutesOverlap deletionPolicy "
        "externalIpv6Prefix internalIpv6Prefix ipCidrRange privateIpGoogleAccess "
        "privateIpv6GoogleAccess project purpose region secondaryIpRange stackType",
        facts.FIREWALL: "deletionPolicy destinationRanges direction enableLogging priority project",
        facts.GLOBAL_ADDRESS: "address addressType deletionPolicy prefixLength project",
        facts.PSA_CONNECTION: "",
        facts.RUN_SERVICE: "deletionPolicy deletionProtection ingress "
        "launchStage project scaling traffic",
        facts.RUN_JOB: "deletionPolicy deletionProtection launchStage project",
        facts.SECRET: "deletionPolicy deletionProtection expireTime project",
        facts.SECRET_VERSION: "deletionPolicy enabled project",
        facts.SECRET_IAM_MEMBER: "project",
        facts.PROJECT_IAM_MEMBER: "",  # project is Required there
        facts.SUBNETWORK_IAM_MEMBER: "project region",
        facts.RUN_SERVICE_IAM_MEMBER: "location project",
        facts.SERVICE_ACCOUNT: "createIgnoreAlreadyExists disabled project",
        facts.CONNECTIVITY_TEST: "deletionPolicy project protocol",
        facts.PROJECT_SERVICE: "project",
        facts.SERVICE_IDENTITY: "project",
        # Optional with Computed or a Default, top level (the beta files above).
        facts.VALKEY: "authorizationMode crossInstanceReplicationConfig deletionPolicy "
        "deletionProtectionEnabled engineVersion mode nodeType persistenceConfig project "
        "replicaCount serverCaMode transitEncryptionMode zoneDistributionConfig",
        facts.REDIS_CLUSTER: "authorizationMode crossClusterReplicationConfig deletionPolicy "
        "deletionProtectionEnabled name nodeType persistenceConfig project region serverCaMode "
        "transitEncryptionMode zoneDistributionConfig",
        facts.SERVICE_CONNECTION_POLICY: "deletionPolicy project",
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
    # A secret input is decided on its value (the provider sees the plain value).
    old, new = (v.get("value") if wire.is_secret(v) else v for v in (old, new))
    if rule is not None and not unknown and rule[0](old, new):
        return f"{path} ({rule[1]})"
    return None


def known_type(type_: str) -> bool:
    return type_ in FORCE_NEW


def unknown_effect(type_: str) -> str:
    """What a changed input does to a resource of a type this table has no facts for (a
    third-party program's type): the provider may update it in place or replace it."""
    return f"update or replace: unknown (no replacement facts for {type_})"
