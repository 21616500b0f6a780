"""Every GCP name of the stack, derived from the environment and a role.

No other module builds a name by hand: a name that is derived in one place cannot drift between
stacks (the `staging-vpc`-in-production outage), and every derived name is checked here against
the rule Google Cloud applies, so a bad environment or service name fails in config, not at `up`.
"""

from __future__ import annotations

import re

from infra.records import record


@record(frozen=True)
class NameRule:
    """A GCP naming rule: a pattern, a length range, and where Google states it.

    `hyphen_weight` is how many characters a hyphen counts for: 2 for connector names, where
    Google counts every hyphen twice (and the API rejects names the pattern alone accepts)."""

    kind: str
    pattern: str
    min_len: int
    max_len: int
    source: str
    hyphen_weight: int = 1

    def length(self, name: str) -> int:
        """The length Google measures (hyphens weighted)."""
        return len(name) + (self.hyphen_weight - 1) * name.count("-")

    def describe(self) -> str:
        hyphens = ", every hyphen counting as two" if self.hyphen_weight == 2 else ""
        return f"{self.kind}: {self.min_len}-{self.max_len} characters{hyphens}"

    def violation(self, name: str) -> str | None:
        """Why `name` breaks this rule, or None when it is valid."""
        n = self.length(name)
        if not self.min_len <= n <= self.max_len:
            counted = " (hyphens counted twice)" if self.hyphen_weight == 2 else ""
            return f"a {self.describe()}; {name!r} has {n}{counted}"
        if re.fullmatch(self.pattern, name) is None:
            return f"a {self.kind} name must match {self.pattern}"
        return None


_COMPUTE = "https://cloud.google.com/compute/docs/naming-resources#resource-name-format"
_COMPUTE_PATTERN = r"[a-z]([-a-z0-9]*[a-z0-9])?"

NETWORK = NameRule("network/subnetwork", _COMPUTE_PATTERN, 1, 63, _COMPUTE)
# "The name must follow the Compute Engine naming convention and be less than 21 characters.
# Hyphens (-) count as two characters." (Serverless VPC Access, Create a connector); the API
# rejects longer names that the provider's 25-character pattern accepts (pulumi-gcp issue 923).
CONNECTOR = NameRule(
    "Serverless VPC Access connector",
    r"[a-z][-a-z0-9]{0,23}[a-z0-9]",
    2,
    20,
    "https://cloud.google.com/vpc/docs/configure-serverless-vpc-access#create-connector",
    hyphen_weight=2,
)
FIREWALL = NameRule("firewall rule", _COMPUTE_PATTERN, 1, 63, _COMPUTE)
# instanceId: lowercase letters, digits and hyphens, starts with a letter, ends with a letter or
# digit, 1-40 characters (instances.create). The provider's ^[a-z][a-z0-9-]{0,39}[a-z0-9]$
# (magic-modules mmv1/products/redis/Instance.yaml) is looser: it accepts 41.
REDIS = NameRule(
    "Memorystore Redis instance",
    r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?",
    1,
    40,
    "https://cloud.google.com/memorystore/docs/redis/reference/rest/v1/projects.locations.instances/create",
)
# instanceId: 4-63 characters, lowercase letters, digits and hyphens, not ending with a hyphen
# (provider, resource_memorystore_instance.go l.163-172); Google's gcloud pages say "must start
# with a lowercase letter": the intersection (docs/psc-products.md, section 3).
VALKEY = NameRule(
    "Memorystore for Valkey instance",
    r"[a-z][a-z0-9-]*[a-z0-9]",
    4,
    63,
    "https://docs.cloud.google.com/memorystore/docs/valkey/manage-iam-auth",
)
# cluster id: 1-63 characters, lowercase letters, digits and hyphens, starts with a lowercase
# letter, ends with a letter or digit (docs/psc-products.md, section 3).
REDIS_CLUSTER = NameRule(
    "Memorystore for Redis Cluster",
    _COMPUTE_PATTERN,
    1,
    63,
    "https://cloud.google.com/memorystore/docs/cluster/manage-in-transit-encryption",
)
# A service connection policy's id is a resource id in Google's API convention: RFC 1034 labels,
# 1-63 characters, lowercase letters, digits and hyphens, starting with a letter
# (ServiceConnectionPolicy.name "See: https://google.aip.dev/122"; AIP-122 "Resource ID segments").
SERVICE_CONNECTION_POLICY = NameRule(
    "service connection policy",
    _COMPUTE_PATTERN,
    1,
    63,
    "https://google.aip.dev/122#resource-id-segments",
)
SERVICE_ACCOUNT = NameRule(
    "service account id",
    r"[a-z]([-a-z0-9]*[a-z0-9])",
    6,
    30,
    "https://cloud.google.com/iam/docs/service-accounts-create#creating",
)
# serviceId: "must begin with letter, and cannot end with hyphen; must contain fewer than 50
# characters" (services.create).
CLOUD_RUN = NameRule(
    "Cloud Run service",
    _COMPUTE_PATTERN,
    1,
    49,
    "https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/create",
)
# Not documented for jobId; 63 is the Cloud Run API's own error text for names ("Max 63") and the
# provider's note that job name plus execution token must stay under 63 characters
# (magic-modules mmv1/products/cloudrunv2/Job.yaml). Our job name is far below either.
CLOUD_RUN_JOB = NameRule(
    "Cloud Run job",
    _COMPUTE_PATTERN,
    1,
    63,
    "https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.jobs/create",
)
SECRET = NameRule(
    "Secret Manager secret id",
    r"[a-zA-Z0-9_-]+",
    1,
    255,
    "https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/create",
)
ADDRESS = NameRule("global address", _COMPUTE_PATTERN, 1, 63, _COMPUTE)
NETWORK_TAG = NameRule(
    "network tag",
    _COMPUTE_PATTERN,
    1,
    63,
    "https://cloud.google.com/vpc/docs/add-remove-network-tags#restrictions",
)
# testId: lowercase letters, digits and hyphens, starts with a letter, ends with a letter or
# digit, 1-40 characters (connectivityTests.create).
CONNECTIVITY_TEST = NameRule(
    "Connectivity Test",
    _COMPUTE_PATTERN,
    1,
    40,
    "https://cloud.google.com/network-intelligence-center/docs/connectivity-tests/reference/networkmanagement/rest/v1/projects.locations.global.connectivityTests/create",
)


# Short region codes for names and logical names: the geography, then the first letter of each
# direction, then the number: us-central1 -> usc1, europe-west4 -> euw4, asia-northeast1 ->
# asne1. tests/test_naming.py checks that every known region gets a distinct code.
_GEOGRAPHY = {
    "africa": "af",
    "asia": "as",
    "australia": "au",
    "europe": "eu",
    "me": "me",
    "northamerica": "na",
    "southamerica": "sa",
    "us": "us",
}
_DIRECTIONS = ("north", "south", "east", "west", "central")


def region_code(region: str) -> str:
    geography, _, rest = region.partition("-")
    head = _GEOGRAPHY.get(geography, geography[:2])
    number = rest.lstrip("abcdefghijklmnopqrstuvwxyz")
    words = rest[: len(rest) - len(number)]
    letters = ""
    while words:
        word = next((d for d in _DIRECTIONS if words.startswith(d)), words)
        letters += word[0]
        words = words[len(word) :]
    return f"{head}{letters}{number}"


@record(frozen=True)
class Derived:
    """One derived name: what it names, the name, its rule, and the suffix after the prefix."""

    role: str
    name: str
    rule: NameRule
    prefix: str

    @property
    def violation(self) -> str | None:
        return self.rule.violation(self.name)

    def prefix_budget(self) -> int:
        """The longest prefix (as Google measures length) that still fits this name's rule."""
        return self.rule.max_len - (self.rule.length(self.name) - self.rule.length(self.prefix))


@record(frozen=True)
class Names:
    """The names of one environment's resources: `<environment>-<role>`. Pure: no Pulumi, no I/O.

    A name that is valid today never changes (a changed name replaces the resource): the only
    name with a fallback is the connector's, whose long form `<env>-connector` Google rejects
    for environments longer than 9 characters (hyphens counted twice); those get `<env>-conn`,
    which is the name they could ever have been created with."""

    environment: str

    def _n(self, role: str) -> str:
        return f"{self.environment}-{role}"

    @property
    def network(self) -> str:
        return self._n("vpc")

    @property
    def connector_subnet(self) -> str:
        return self._n("connector-subnet")

    def regional_subnet(self, base: str, region_code: str) -> str:
        """A subnet of another region than the primary: subnet names are unique per project and
        region, but the pack and operators tell them apart by name, so they carry the code."""
        return f"{base}-{region_code}"

    @property
    def direct_egress_subnet(self) -> str:
        return self._n("run-egress-subnet")

    @property
    def connector(self) -> str:
        long = self._n("connector")
        return long if CONNECTOR.violation(long) is None else self._n("conn")

    @property
    def redis_egress_firewall(self) -> str:
        return self._n("allow-redis-egress")

    @property
    def connector_serverless_firewall(self) -> str:
        """Host firewall rule: Google's serverless infrastructure to a service-project connector."""
        return self._n("serverless-to-connector")

    @property
    def connector_to_serverless_firewall(self) -> str:
        """Host firewall rule: a service-project connector to Google's serverless infrastructure."""
        return self._n("connector-to-serverless")

    @property
    def connector_health_firewall(self) -> str:
        """Host firewall rule: Google's health checks to a service-project connector."""
        return self._n("connector-health-checks")

    @property
    def redis(self) -> str:
        return self._n("redis")

    @property
    def psc_instance(self) -> str:
        """A Valkey instance or a Redis Cluster (one product per stack): the Redis one's name."""
        return self._n("redis")

    @property
    def psc_subnet(self) -> str:
        """The regular subnet whose addresses the service connection policy gives the PSC
        endpoints (dedicated to them: Google's advice, docs/psc-products.md)."""
        return self._n("psc-subnet")

    @property
    def service_connection_policy(self) -> str:
        return self._n("memorystore-scp")

    @property
    def psc_egress_firewall(self) -> str:
        return self._n("allow-psc-egress")

    @property
    def redis_auth_secret(self) -> str:
        return self._n("redis-auth")

    @property
    def psa_range(self) -> str:
        return self._n("redis-psa-range")

    @property
    def direct_egress_tag(self) -> str:
        """Network tag that Direct VPC egress puts on Cloud Run instances (the firewall target)."""
        return self._n("run-redis-client")

    @property
    def probe_job(self) -> str:
        return self._n("redis-probe")

    @property
    def probe_account(self) -> str:
        return self._n("redis-probe")

    @property
    def connectivity_test(self) -> str:
        return self._n("run-to-redis")

    def service(self, service: str) -> str:
        return self._n(service)

    def service_account(self, service: str) -> str:
        return self._n(f"{service}-run")

    def stack_names(self) -> list[Derived]:
        """Every environment-level name with its rule. All are checked whether or not this stack
        creates the resource, so an environment that is accepted stays valid when a stack turns
        on the probe, the connector or private services access later."""
        e = self.environment
        return [
            Derived("network", self.network, NETWORK, e),
            Derived("connector subnet", self.connector_subnet, NETWORK, e),
            Derived("Direct VPC egress subnet", self.direct_egress_subnet, NETWORK, e),
            Derived("connector", self.connector, CONNECTOR, e),
            Derived("Redis egress firewall rule", self.redis_egress_firewall, FIREWALL, e),
            Derived("connector firewall rule", self.connector_serverless_firewall, FIREWALL, e),
            Derived("connector firewall rule", self.connector_to_serverless_firewall, FIREWALL, e),
            Derived("connector firewall rule", self.connector_health_firewall, FIREWALL, e),
            Derived("Redis instance", self.redis, REDIS, e),
            Derived("Valkey instance", self.psc_instance, VALKEY, e),
            Derived("Redis Cluster", self.psc_instance, REDIS_CLUSTER, e),
            Derived("PSC subnet", self.psc_subnet, NETWORK, e),
            Derived(
                "service connection policy",
                self.service_connection_policy,
                SERVICE_CONNECTION_POLICY,
                e,
            ),
            Derived("PSC egress firewall rule", self.psc_egress_firewall, FIREWALL, e),
            Derived("Redis AUTH secret", self.redis_auth_secret, SECRET, e),
            Derived("private services access range", self.psa_range, ADDRESS, e),
            Derived("Direct VPC egress network tag", self.direct_egress_tag, NETWORK_TAG, e),
            Derived("probe job", self.probe_job, CLOUD_RUN_JOB, e),
            Derived("probe service account", self.probe_account, SERVICE_ACCOUNT, e),
            Derived("Connectivity Test", self.connectivity_test, CONNECTIVITY_TEST, e),
        ]

    def service_names(self, service: str) -> list[Derived]:
        """A service's names; the prefix is the service name, so budgets say how long it may be."""
        return [
            Derived("Cloud Run service", self.service(service), CLOUD_RUN, service),
            Derived("service account", self.service_account(service), SERVICE_ACCOUNT, service),
        ]

    def environment_problem(self) -> str | None:
        """Why no stack can use this environment: every derived name that cannot fit, each with
        the room it leaves for the environment; None when every name fits."""
        problems = []
        for d in self.stack_names():
            if d.violation is None:
                continue
            counted = " with every hyphen counted twice" if d.rule.hyphen_weight == 2 else ""
            problems.append(
                f"the derived {d.role} name {d.name!r} breaks the rule ({d.violation}) and "
                f"leaves at most {d.prefix_budget()} characters{counted} for the environment"
            )
        return "; ".join(problems) or None

    def service_problem(self, service: str) -> str | None:
        """Why `service` cannot be a service name in this environment, with the practical
        maximum length for this environment (the tightest of its derived names)."""
        derived = self.service_names(service)
        broken = [d for d in derived if d.violation is not None]
        if not broken:
            return None
        limit = min(d.prefix_budget() for d in derived)
        d = broken[0]
        return (
            f"the derived {d.role} name {d.name!r} breaks the rule ({d.violation}); in "
            f"environment {self.environment!r} a service name can have at most {limit} "
            "characters: lowercase letters, digits and hyphens, starting with a letter"
        )
