"""Google Cloud limits that the config checks before anything is registered, each with its source.

The mocks accept any value; Google does not. Everything here is a value Google refuses at `up`
time, after other resources are already being created: a misspelled region, an image reference
Cloud Run cannot pull, a CPU/memory pair Cloud Run refuses, read replicas on a small instance.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from infra.records import record

# -- regions -------------------------------------------------------------------------------------
# Google Cloud regions, from "Regions and zones" (https://cloud.google.com/compute/docs/regions-zones),
# assembled 2026-11-22 (the Mexico region is northamerica-south1; there is no mx-central1). A
# region of this table may still lack a product the stack uses: PRODUCT_REGIONS below holds each
# product's own locations table (Memorystore for Redis, Cloud Run, Serverless VPC Access, Valkey,
# Redis Cluster), checked by the config for every region the product is placed in.
# A region newer than this table is accepted through the explicit escape hatch
# `redis-vpc:unlistedRegion`, set to exactly `gcp:region`: a typo would have to be made twice.
REGIONS_AS_OF = "2026-11-22"
REGIONS = frozenset(
    {
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "asia-southeast3",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west10",
        "europe-west12",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "northamerica-south1",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    }
)
# Region ids are a continent-ish word, a direction, and a number (us-central1, europe-west10).
REGION_PATTERN = r"[a-z]+-[a-z]+[0-9]{1,2}"
REGION_KEY_PATTERN = rf"^{REGION_PATTERN}$"


def nearest(value: str, known: frozenset[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.8)
    return close[0] if close else None


def region_problem(region: str, unlisted: str | None) -> tuple[str, str, str] | None:
    """(key, value, rule) when `region` is not a region Google has, else None."""
    if unlisted is not None and unlisted != region:
        return (
            "redis-vpc:unlistedRegion",
            unlisted,
            f"must equal gcp:region ({region!r}) to accept that region; remove it otherwise",
        )
    if region in REGIONS:
        return None
    if unlisted == region and re.fullmatch(REGION_PATTERN, region):
        return None
    if unlisted == region:
        return ("gcp:region", region, f"is not a region id (like us-central1): {REGION_PATTERN}")
    near = nearest(region, REGIONS)
    hint = f" Did you mean {near!r}?" if near else ""
    return (
        "gcp:region",
        region,
        f"is not a known Google Cloud region (table as of {REGIONS_AS_OF}).{hint} For a region "
        "newer than the table, also set redis-vpc:unlistedRegion to the same value",
    )


# -- VPC Flow Logs (the record of a Direct VPC egress path) ---------------------------------------
# Direct VPC egress is not recorded by VPC firewall rules logging; VPC Flow Logs of its subnet
# are (without the revision's name): "Direct VPC egress with a VPC network", Limitations,
# https://cloud.google.com/run/docs/configuring/vpc-direct-vpc.
FLOW_LOGS_SOURCE = "https://cloud.google.com/vpc/docs/flow-logs"
# Subnetwork.logConfig.aggregationInterval: Google's values, INTERVAL_5_SEC the default ("Default
# is an interval of 5 seconds per connection"; Compute API SubnetworkLogConfig,
# https://cloud.google.com/compute/docs/reference/rest/v1/subnetworks, and pulumi_gcp 10.2
# compute.SubnetworkLogConfigArgs: "Possible values are ...").
FLOW_LOG_INTERVALS = (
    "INTERVAL_5_SEC",
    "INTERVAL_30_SEC",
    "INTERVAL_1_MIN",
    "INTERVAL_5_MIN",
    "INTERVAL_10_MIN",
    "INTERVAL_15_MIN",
)
# Subnetwork.logConfig.flowSampling is in [0, 1]: 1.0 reports every collected flow, 0.0 none
# (same sources; Google's default 0.5). 0 is refused here: a subnet that reports nothing is not
# a record of the path.
FLOW_SAMPLING_MAX = 1.0
# Subnetwork.logConfig.metadata: INCLUDE_ALL_METADATA adds the VM/instance, VPC and geographic
# annotations to each record ("About VPC Flow Logs records", metadata fields,
# https://cloud.google.com/vpc/docs/about-flow-logs-records); the program always sets it.
FLOW_LOG_METADATA = "INCLUDE_ALL_METADATA"


# -- container images ------------------------------------------------------------------------------
# The reference grammar Cloud Run resolves (the OCI distribution `reference` grammar, as in
# github.com/distribution/reference, reference.go): [host[:port]/]path[:tag][@digest]; path
# components are lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`; a tag is
# [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. Cloud Run pins images by sha256 digest
# (https://cloud.google.com/run/docs/deploying#image), so a digest must be sha256 and 64 hex.
IMAGE_HELP = (
    "Container image: [registry/]path[:tag][@sha256:<64 hex>], lowercase path. Production: a "
    "digest or a release tag (not latest, no tag, or a moving tag such as stable)."
)
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
IMAGE_NAME_MAX = 255  # the grammar's NameTotalLengthMax


def image_problem(image: str) -> str | None:
    """Why Cloud Run would refuse this image reference, or None."""
    rest, at, digest = image.partition("@")
    if at and _DIGEST.fullmatch(digest) is None:
        return "the digest must be sha256: followed by 64 lowercase hex characters"
    name, tag = rest, None
    if ":" in rest.rsplit("/", 1)[-1]:
        name, tag = rest.rsplit(":", 1)
    first, slash, remainder = name.partition("/")
    # As the grammar splits a name: the first component is a registry host only when it has a
    # dot or a port, or is localhost.
    has_domain = bool(slash) and ("." in first or ":" in first or first == "localhost")
    if has_domain and re.fullmatch(_DOMAIN, first) is None:
        return f"the registry host {first!r} is not a valid host[:port]"
    path = remainder if has_domain else name
    if path != path.lower():
        return f"the repository path {path!r} must be lowercase"
    if re.fullmatch(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", path) is None:
        return (
            f"the repository path {path!r} is not valid: components of lowercase letters and "
            "digits joined by '.', '_' or '-', separated by '/'"
        )
    if len(name) > IMAGE_NAME_MAX:
        return f"the image name must be at most {IMAGE_NAME_MAX} characters"
    if tag is not None and re.fullmatch(_TAG, tag) is None:
        return f"the tag {tag!r} is not valid: 1-128 of letters, digits, '_', '.', '-', not starting with '.' or '-'"
    return None


# -- Cloud Run CPU and memory ----------------------------------------------------------------------
# "Configure CPU limits for services" (https://cloud.google.com/run/docs/configuring/services/cpu)
# and "Configure memory limits for services"
# (https://cloud.google.com/run/docs/configuring/services/memory-limits): per CPU count, the least
# and the most memory Cloud Run accepts, in MiB (over 4 GiB needs 2 CPU, over 8 GiB 4, over 16 GiB
# 6, over 24 GiB 8; 4 CPU need 2 GiB, 6 and 8 CPU 4 GiB). 128 MiB is the first-generation
# execution environment's floor (the second generation's is 512 MiB).
CPU_MEMORY_MI: dict[str, tuple[int, int]] = {
    "1": (128, 4 * 1024),
    "2": (128, 8 * 1024),
    "4": (2 * 1024, 16 * 1024),
    "6": (4 * 1024, 24 * 1024),
    "8": (4 * 1024, 32 * 1024),
}
CPU_SOURCE = "https://cloud.google.com/run/docs/configuring/services/cpu"


def memory_mi(memory: str) -> int:
    return int(memory[:-2]) * (1024 if memory.endswith("Gi") else 1)


def _shown(mi: int) -> str:
    return f"{mi // 1024}Gi" if mi % 1024 == 0 else f"{mi}Mi"


def cpu_memory_problem(cpu: str, memory: str) -> tuple[str, str | None]:
    """(the field at fault, why Cloud Run refuses this pair) or (_, None)."""
    low, high = CPU_MEMORY_MI[cpu]
    mem = memory_mi(memory)
    overall = (
        min(lo for lo, _ in CPU_MEMORY_MI.values()),
        max(h for _, h in CPU_MEMORY_MI.values()),
    )
    if not overall[0] <= mem <= overall[1]:
        return (
            "memory",
            f"Cloud Run allows {_shown(overall[0])} to {_shown(overall[1])} per instance",
        )
    if mem > high:
        need = min(c for c, (_, h) in CPU_MEMORY_MI.items() if h >= mem)
        return (
            "memory",
            f"cpu {cpu!r} allows at most {_shown(high)}; {memory} needs cpu {need!r} or more "
            f"({CPU_SOURCE})",
        )
    if mem < low:
        return "memory", f"cpu {cpu!r} needs at least {_shown(low)} of memory ({CPU_SOURCE})"
    return "", None


# -- Memorystore for Redis -------------------------------------------------------------------------
# A Cloud Run service's request timeout: 300 s unless set, at most 3600 s ("Configure request
# timeout for services", https://cloud.google.com/run/docs/configuring/request-timeout).
REQUEST_TIMEOUT_MAX_SECONDS = 3600
REQUEST_TIMEOUT_SOURCE = "https://cloud.google.com/run/docs/configuring/request-timeout"

READ_REPLICAS_MIN_GB = 5
READ_REPLICAS_SOURCE = "https://cloud.google.com/memorystore/docs/redis/about-read-replicas"


# -- Memorystore for Valkey and Memorystore for Redis Cluster (docs/psc-products.md, section 3) -----
# Valkey node types Google documents ("Instance and node specification",
# https://cloud.google.com/memorystore/docs/valkey/instance-node-specification).
ValkeyNodeType = Literal["SHARED_CORE_NANO", "STANDARD_SMALL", "HIGHMEM_MEDIUM", "HIGHMEM_XLARGE"]
VALKEY_NODE_TYPES: tuple[str, ...] = get_args(ValkeyNodeType)
# Redis Cluster node types: the provider's enum (terraform-provider-google-beta
# google-beta/services/redis/resource_redis_cluster.go, ValidateEnum l.494-499).
RedisClusterNodeType = Literal[
    "REDIS_SHARED_CORE_NANO",
    "REDIS_STANDARD_SMALL",
    "REDIS_HIGHMEM_MEDIUM",
    "REDIS_HIGHCPU_MEDIUM",
    "REDIS_STANDARD_LARGE",
    "REDIS_HIGHMEM_XLARGE",
    "REDIS_HIGHMEM_2XLARGE",
]
REDIS_CLUSTER_NODE_TYPES: tuple[str, ...] = get_args(RedisClusterNodeType)
# Valkey versions generally available ("Memorystore for Valkey overview",
# https://docs.cloud.google.com/memorystore/docs/valkey/product-overview?hl=zh-cn: "supports
# Valkey 7.2, 8.0 and 9.0 (preview)").
ValkeyEngineVersion = Literal["VALKEY_7_2", "VALKEY_8_0"]
VALKEY_ENGINE_VERSIONS: tuple[str, ...] = get_args(ValkeyEngineVersion)
VALKEY_DEFAULT_ENGINE = "VALKEY_8_0"
# Usage units of one instance: shard_count * (1 + replica_count), at most 250 per instance
# ("Quotas and limits", Instance limits, "Usage units per instance | 250": Valkey
# https://cloud.google.com/memorystore/docs/valkey/quotas, Redis Cluster
# https://cloud.google.com/memorystore/docs/cluster/quotas). No other shard maximum was found.
PSC_USAGE_UNITS_MAX = 250
PSC_USAGE_UNITS_SOURCE = {
    "valkey": "https://cloud.google.com/memorystore/docs/valkey/quotas",
    "redis-cluster": "https://cloud.google.com/memorystore/docs/cluster/quotas",
}
# Replicas per shard, 0 to 5 for both products. Valkey: "Each shard ... is composed of one primary
# node, and optionally up to five replica nodes" (https://cloud.google.com/memorystore/docs/valkey/
# product-overview). Redis Cluster: "optionally up to five replica nodes" in the current page
# (https://docs.cloud.google.com/memorystore/docs/cluster/memorystore-for-redis-cluster-overview.md.txt,
# read 2026-12-03); older copies of the same page say "0, 1, or 2", so the current one is enforced.
PSC_REPLICAS_MAX = 5
# Valkey 9.0 is in preview ("supports Valkey 7.2, 8.0 and 9.0 (preview)", product overview above):
# a preview carries no SLA and may change, so a stack cannot pin it.
VALKEY_PREVIEW_ENGINES = ("VALKEY_9_0",)
VALKEY_ENGINE_SOURCE = "https://docs.cloud.google.com/memorystore/docs/valkey/product-overview"
# shared-core-nano: "We recommend that you use the shared-core-nano node type for development or
# testing purposes only because this node type has no SLA" (Valkey, "Instance and node
# specification", https://cloud.google.com/memorystore/docs/valkey/instance-node-specification).
# For REDIS_SHARED_CORE_NANO no Google statement was found: the same rule by analogy.
NANO_NODE_TYPES = ("SHARED_CORE_NANO", "REDIS_SHARED_CORE_NANO")
NANO_SOURCE = "https://cloud.google.com/memorystore/docs/valkey/instance-node-specification"


# -- the regions of each product ---------------------------------------------------------------
def _region_order(region: str) -> tuple[str, int]:
    """Google's locations tables list regions in this order (europe-west9 before europe-west10)."""
    m = re.fullmatch(r"(.*?)([0-9]+)", region)
    return (m[1], int(m[2])) if m else (region, 0)


@record(frozen=True)
class ProductRegions:
    """The regions a product's locations page lists. `read_through`: the last region of the page
    that was read when the stored copy is cut (None: the whole table was read). A region after it
    (in the table's order) is not decided by this table and is accepted; one before it that the
    page does not list is refused."""

    name: str
    regions: frozenset[str]
    source: str
    as_of: str
    read_through: str | None = None

    def lacks(self, region: str) -> bool:
        if region in self.regions:
            return False
        return self.read_through is None or _region_order(region) <= _region_order(
            self.read_through
        )


# "Cloud Run locations" (https://cloud.google.com/run/docs/locations), the whole Tier 1 and Tier 2
# tables of the stored copies ?hl=ja and ?hl=fr-FR, read 2026-12-03. Neither lists asia-southeast3,
# europe-north2 nor northamerica-south1: a stack there needs redis-vpc:unlistedRegion (gcp:region).
_CLOUD_RUN_REGIONS = frozenset(
    {
        # Tier 1
        "asia-east1",
        "asia-northeast1",
        "asia-northeast2",
        "europe-north1",
        "europe-southwest1",
        "europe-west1",
        "europe-west4",
        "europe-west8",
        "europe-west9",
        "me-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        # Tier 2
        "africa-south1",
        "asia-east2",
        "asia-northeast3",
        "asia-southeast1",
        "asia-southeast2",
        "asia-south1",
        "asia-south2",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-west10",
        "europe-west12",
        "europe-west2",
        "europe-west3",
        "europe-west6",
        "me-central1",
        "me-central2",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "southamerica-east1",
        "southamerica-west1",
        "us-west2",
        "us-west3",
        "us-west4",
    }
)

PRODUCT_REGIONS: dict[str, ProductRegions] = {
    # "Regions and zones" of Memorystore for Redis (https://cloud.google.com/memorystore/docs/redis/
    # regions), read 2026-12-03 in every stored copy: en (cloud.google.com and ?authuser=9), es-AR,
    # pt-br, de, fr, fr_CA, it, ja, and docs.cloud.google.com ?hl=fr / ?hl=it. Every copy is CUT
    # after northamerica-northeast1 (a region after it is not decided here and is accepted). None
    # lists asia-southeast3 or europe-north2: asia-southeast2 is followed by australia-southeast1,
    # europe-north1 by europe-southwest1, in every language. Both are refused for Redis (they are
    # Google Cloud regions, and Redis Cluster's page lists asia-southeast3); a Redis instance there,
    # if Google has added it since, needs redis-vpc:unlistedRegion.
    "memorystore-redis": ProductRegions(
        "Memorystore for Redis",
        frozenset(
            {
                "africa-south1",
                "asia-east1",
                "asia-east2",
                "asia-northeast1",
                "asia-northeast2",
                "asia-northeast3",
                "asia-south1",
                "asia-south2",
                "asia-southeast1",
                "asia-southeast2",
                "australia-southeast1",
                "australia-southeast2",
                "europe-central2",
                "europe-north1",
                "europe-southwest1",
                "europe-west1",
                "europe-west2",
                "europe-west3",
                "europe-west4",
                "europe-west6",
                "europe-west8",
                "europe-west9",
                "europe-west10",
                "europe-west12",
                "me-central1",
                "me-central2",
                "me-west1",
                "northamerica-northeast1",
            }
        ),
        "https://cloud.google.com/memorystore/docs/redis/regions",
        "2026-12-03",
        read_through="northamerica-northeast1",
    ),
    "cloud-run": ProductRegions(
        "Cloud Run",
        _CLOUD_RUN_REGIONS,
        "https://cloud.google.com/run/docs/locations",
        "2026-12-03",
    ),
    # Serverless VPC Access: no stored copy of its pages lists its regions (searched 2026-12-03:
    # https://cloud.google.com/vpc/docs/serverless-vpc-access and configure-serverless-vpc-access,
    # several languages). What is stated: a connector serves only the serverless services of its
    # own region ("the region must match the region of your serverless service",
    # https://cloud.google.com/run/docs/configuring/vpc-connectors), so a connector is of use only
    # where Cloud Run runs: its table is Cloud Run's until Google's own list is found.
    "serverless-vpc-access": ProductRegions(
        "Serverless VPC Access",
        _CLOUD_RUN_REGIONS,
        "https://cloud.google.com/run/docs/configuring/vpc-connectors",
        "2026-12-03",
    ),
    # "Memorystore for Valkey locations" (https://docs.cloud.google.com/memorystore/docs/valkey/
    # locations, and its ?hl=ja copy which reaches europe-west1), read 2026-12-03. Every stored
    # copy is CUT after europe-west1: the rest of the table was not read, so a region after
    # europe-west1 is accepted. Read so far, the page lacks asia-southeast3 and europe-north2.
    "valkey": ProductRegions(
        "Memorystore for Valkey",
        frozenset(
            {
                "africa-south1",
                "asia-east1",
                "asia-east2",
                "asia-northeast1",
                "asia-northeast2",
                "asia-northeast3",
                "asia-south1",
                "asia-south2",
                "asia-southeast1",
                "asia-southeast2",
                "australia-southeast1",
                "australia-southeast2",
                "europe-central2",
                "europe-north1",
                "europe-southwest1",
                "europe-west1",
            }
        ),
        "https://docs.cloud.google.com/memorystore/docs/valkey/locations",
        "2026-12-03",
        read_through="europe-west1",
    ),
    # "Memorystore for Redis Cluster locations", read 2026-12-03: the whole table of an older
    # copy (https://cloud.google.com/memorystore/docs/cluster/locations, asia-east1 .. us-west4)
    # and the current copy (https://docs.cloud.google.com/memorystore/docs/cluster/locations.md.txt,
    # cut after europe-central2), which adds africa-south1 and asia-southeast3. Neither lists
    # europe-north2 or northamerica-south1 (the current copy's tail was not read:
    # redis-vpc:unlistedRegion accepts a region added since).
    "redis-cluster": ProductRegions(
        "Memorystore for Redis Cluster",
        frozenset(
            {
                "africa-south1",
                "asia-east1",
                "asia-east2",
                "asia-northeast1",
                "asia-northeast2",
                "asia-northeast3",
                "asia-south1",
                "asia-south2",
                "asia-southeast1",
                "asia-southeast2",
                "asia-southeast3",
                "australia-southeast1",
                "australia-southeast2",
                "europe-central2",
                "europe-north1",
                "europe-southwest1",
                "europe-west1",
                "europe-west2",
                "europe-west3",
                "europe-west4",
                "europe-west6",
                "europe-west8",
                "europe-west9",
                "europe-west10",
                "europe-west12",
                "me-central1",
                "me-central2",
                "me-west1",
                "northamerica-northeast1",
                "northamerica-northeast2",
                "southamerica-east1",
                "southamerica-west1",
                "us-central1",
                "us-east1",
                "us-east4",
                "us-east5",
                "us-south1",
                "us-west1",
                "us-west2",
                "us-west3",
                "us-west4",
            }
        ),
        "https://docs.cloud.google.com/memorystore/docs/cluster/locations",
        "2026-12-03",
    ),
}


def product_region_problem(product: str, region: str, unlisted_hint: bool = True) -> str | None:
    """Why `product` (a PRODUCT_REGIONS key) cannot be created in `region` (its locations table),
    or None. Not called when redis-vpc:unlistedRegion accepts the region (the same escape hatch as
    REGIONS); `unlisted_hint` False for a region the escape hatch cannot name (regions.<r>)."""
    table = PRODUCT_REGIONS[product]
    if not table.lacks(region):
        return None
    hint = (
        f"if Google has added {region} since, also set redis-vpc:unlistedRegion to the same value"
        if unlisted_hint
        else "another region than gcp:region must have it in the table (infra/limits.py)"
    )
    return (
        f"{table.name} ({product}) is not offered in {region} (its locations table, "
        f"{table.source}, read {table.as_of}). Choose a region that lists it, or, {hint}"
    )


def region_products(redis_product: str, egress: str, primary: bool) -> tuple[str, ...]:
    """The PRODUCT_REGIONS keys a region of the stack needs: Redis's product in gcp:region only,
    Cloud Run everywhere (the services run in every region), Serverless VPC Access where the
    egress is a connector."""
    return (
        *((redis_product,) if primary else ()),
        "cloud-run",
        *(("serverless-vpc-access",) if egress == "connector" else ()),
    )
