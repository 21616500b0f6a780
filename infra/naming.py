"""Every GCP name of the stack, derived from the environment and a role.

No other module builds a name by hand: a name that is derived in one place cannot drift between
stacks (the `staging-vpc`-in-production outage), and every derived name is checked here against
the rule Google Cloud applies, so a bad environment or service name fails in config, not at `up`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    """A GCP naming rule: a pattern and a length range (REFERENCE.md, "Naming and other limits")."""

    kind: str
    pattern: str
    min_len: int
    max_len: int

    def violation(self, name: str) -> str | None:
        """Why `name` breaks this rule, or None when it is valid."""
        if not self.min_len <= len(name) <= self.max_len:
            return (
                f"a {self.kind} name must be {self.min_len}-{self.max_len} characters, "
                f"{name!r} has {len(name)}"
            )
        if re.fullmatch(self.pattern, name) is None:
            return f"a {self.kind} name must match {self.pattern}"
        return None


NETWORK = NameRule("network/subnetwork", r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", 1, 63)
CONNECTOR = NameRule("VPC Access connector", r"[a-z][-a-z0-9]{0,23}[a-z0-9]", 2, 25)
FIREWALL = NameRule("firewall rule", r"[a-z]([-a-z0-9]*[a-z0-9])?", 1, 63)
REDIS = NameRule("Memorystore Redis instance", r"[a-z][a-z0-9-]{0,38}[a-z0-9]", 2, 40)
SERVICE_ACCOUNT = NameRule("service account id", r"[a-z]([-a-z0-9]*[a-z0-9])", 6, 30)
CLOUD_RUN = NameRule("Cloud Run service", r"[a-z]([-a-z0-9]*[a-z0-9])?", 1, 49)
SECRET = NameRule("Secret Manager secret id", r"[a-zA-Z0-9_-]+", 1, 255)
ADDRESS = NameRule("global address", r"[a-z]([-a-z0-9]*[a-z0-9])?", 1, 63)
NETWORK_TAG = NameRule("network tag", r"[a-z]([-a-z0-9]*[a-z0-9])?", 1, 63)
CONNECTIVITY_TEST = NameRule("connectivity test", r"[a-z]([-a-z0-9]*[a-z0-9])?", 1, 63)


@dataclass(frozen=True)
class Names:
    """The names of one environment's resources. Pure: no Pulumi, no I/O."""

    environment: str

    def _n(self, role: str) -> str:
        return f"{self.environment}-{role}"

    @property
    def network(self) -> str:
        return self._n("vpc")

    @property
    def connector_subnet(self) -> str:
        return self._n("connector-subnet")

    @property
    def direct_egress_subnet(self) -> str:
        return self._n("run-egress-subnet")

    @property
    def connector(self) -> str:
        return self._n("connector")

    @property
    def redis_egress_firewall(self) -> str:
        return self._n("allow-redis-egress")

    @property
    def redis(self) -> str:
        return self._n("redis")

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

    def stack_names(self) -> list[tuple[str, NameRule]]:
        """Every environment-level name with its rule (service names come from `service_names`)."""
        return [
            (self.network, NETWORK),
            (self.connector_subnet, NETWORK),
            (self.direct_egress_subnet, NETWORK),
            (self.connector, CONNECTOR),
            (self.redis_egress_firewall, FIREWALL),
            (self.redis, REDIS),
            (self.redis_auth_secret, SECRET),
            (self.psa_range, ADDRESS),
            (self.direct_egress_tag, NETWORK_TAG),
            (self.probe_job, CLOUD_RUN),
            (self.probe_account, SERVICE_ACCOUNT),
            (self.connectivity_test, CONNECTIVITY_TEST),
        ]

    def service_names(self, service: str) -> list[tuple[str, NameRule]]:
        return [
            (self.service(service), CLOUD_RUN),
            (self.service_account(service), SERVICE_ACCOUNT),
        ]


def connector_network_tag(region: str, connector_name: str) -> str:
    """The tag Google puts on one connector's VMs (REFERENCE.md): the egress rule's target."""
    return f"vpc-connector-{region}-{connector_name}"
