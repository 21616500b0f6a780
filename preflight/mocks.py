"""Mocked provider answers that look like Google Cloud's (ids, self links, Redis host and port).

Used in update mode only: in preview the monitor echoes the inputs, as the engine does for a
create, and every computed output stays unknown.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from infra import facts

COMPUTE = "https://www.googleapis.com/compute/v1"
REDIS_PORT = 6379
# Memorystore serves TLS on 6378 as users report (Google does not document it); the program reads
# the port from the instance, so only this mock depends on the figure.
REDIS_TLS_PORT = 6378
FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBmockedCAforPreflight\n-----END CERTIFICATE-----\n"
# An instance has one or more CAs: Memorystore adds a new one five years into the old one's ten.
# The mock answers with two, as an instance past that point does, so the whole list is exercised.
FAKE_CA_ROTATED = (
    "-----BEGIN CERTIFICATE-----\nMIIBrotatedCAforPreflight\n-----END CERTIFICATE-----"
)


def _project_number(project: str) -> str:
    return str(int(hashlib.sha256(project.encode()).hexdigest()[:10], 16))[:12]


class GcpMocks(Mocks):
    def __init__(self, project: str, region: str) -> None:
        self.project = project
        self.region = region
        self.psa_ranges: dict[str, str] = {}
        self.subnets: dict[str, str] = {}  # subnet id -> range
        # (network id, region, service class) -> the policy's first subnet's id
        self.psc_policies: dict[tuple[str, str, str], str] = {}
        # Every provider function the program invoked, with its arguments, in order: what the
        # engine would call the provider for (infra/roles.py reads which project each reads).
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == facts.GET_PROJECT:
            return {"projectId": self.project, "number": _project_number(self.project)}, []
        if args.token == facts.GET_GLOBAL_ADDRESS:
            return self._existing_range(args.args), []
        return {}, []

    @staticmethod
    def _range_cidr(project: str, name: str) -> str:
        """A Shared VPC host's allocated range: a /20 in 10.128.0.0/9 chosen from its project and
        name (the emulation cannot know the host's real range)."""
        third = int(hashlib.sha256(f"{project}/{name}".encode()).hexdigest()[:4], 16) % 128
        return f"10.{128 + third}.0.0/20"

    def _existing_range(self, a: dict) -> dict:
        """A Shared VPC host's allocated range, read by name (`_range_cidr`), remembered so that
        Redis takes its address from it."""
        name, project = a.get("name", ""), a.get("project") or self.project
        cidr = self._range_cidr(project, name)
        self.psa_ranges[name] = cidr
        return {
            "name": name,
            "project": project,
            "address": cidr.split("/")[0],
            "prefixLength": 20,
            "purpose": "VPC_PEERING",
            "addressType": "INTERNAL",
            "network": f"{COMPUTE}/projects/{project}/global/networks/host",
            "selfLink": f"{COMPUTE}/projects/{project}/global/addresses/{name}",
        }

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom:
            return "", dict(args.inputs)
        i = dict(args.inputs)
        project = i.get("project") or self.project
        region = i.get("region") or i.get("location") or self.region
        name = i.get("name") or args.name
        method = _HANDLERS.get(args.typ)
        if method is None:
            return f"{args.name}-id", i
        rid, extra = getattr(self, method)(i, project, region, name)
        return rid, {**i, **extra}

    def _network(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        rid = f"projects/{p}/global/networks/{n}"
        return rid, {"name": n, "selfLink": f"{COMPUTE}/{rid}", "gatewayIpv4": ""}

    def _subnetwork(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        rid = f"projects/{p}/regions/{r}/subnetworks/{n}"
        gw = str(next(ipaddress.ip_network(i["ipCidrRange"]).hosts()))
        self.subnets[rid] = i["ipCidrRange"]
        return rid, {"name": n, "region": r, "selfLink": f"{COMPUTE}/{rid}", "gatewayAddress": gw}

    def _connector(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        rid = f"projects/{p}/locations/{r}/connectors/{n}"
        return rid, {"name": n, "region": r, "state": "READY", "selfLink": rid}

    def _firewall(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        rid = f"projects/{p}/global/firewalls/{n}"
        return rid, {"name": n, "selfLink": f"{COMPUTE}/{rid}", "priority": i.get("priority", 1000)}

    def _global_address(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        self.psa_ranges[n] = f"{i['address']}/{int(i['prefixLength'])}"
        rid = f"projects/{p}/global/addresses/{n}"
        return rid, {"name": n, "selfLink": f"{COMPUTE}/{rid}"}

    def _psa_connection(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"{i['network']}:{i['service']}", {"peering": "servicenetworking-googleapis-com"}

    def _redis(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        reserved = i.get("reservedIpRange", "")
        # Without reserved_ip_range "the service will choose an unused /29 block" (Redis API,
        # Instance.reservedIpRange: https://cloud.google.com/memorystore/docs/redis/reference/
        # rest/v1/projects.locations.instances): one from the instance's name here.
        third = int(hashlib.sha256(f"{p}/{n}".encode()).hexdigest()[:4], 16) % 256
        cidr = self.psa_ranges.get(reserved, reserved) or f"10.250.{third}.0/29"
        if reserved and reserved not in self.psa_ranges and "/" not in reserved:
            # An allocated range's name whose read (getGlobalAddress) is not answered yet: the
            # monitor answers on threads, in no fixed order. The range is the one that read will
            # give, in the project of the network Redis is authorized on (the host's).
            found = re.search(r"projects/([^/]+)/", str(i.get("authorizedNetwork", "")))
            cidr = self._range_cidr(found.group(1) if found else p, reserved)
        net = ipaddress.ip_network(cidr)
        hosts = list(net.hosts())
        tls = i.get("transitEncryptionMode") == "SERVER_AUTHENTICATION"
        out: dict[str, Any] = {
            "host": str(hosts[2]),
            "port": REDIS_TLS_PORT if tls else REDIS_PORT,
            "currentLocationId": f"{r}-a",
            "serverCaCerts": (
                [
                    {"cert": FAKE_CA, "serialNumber": "1"},
                    {"cert": FAKE_CA_ROTATED, "serialNumber": "2"},
                ]
                if tls
                else []
            ),
            "persistenceIamIdentity": f"serviceAccount:service-{_project_number(p)}@cloud-redis.iam.gserviceaccount.com",
        }
        if i.get("authEnabled"):
            out["authString"] = hashlib.sha256(f"auth:{p}:{n}".encode()).hexdigest()[:32]
        if i.get("readReplicasMode") == "READ_REPLICAS_ENABLED":
            out["readEndpoint"] = str(hosts[3])
            out["readEndpointPort"] = out["port"]
        return f"projects/{p}/locations/{r}/instances/{n}", out

    def _service_connection_policy(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        subnets = list((i.get("pscConfig") or {}).get("subnetworks") or [])
        if subnets:
            self.psc_policies[(i.get("network", ""), r, i.get("serviceClass", ""))] = subnets[0]
        rid = f"projects/{p}/locations/{r}/serviceConnectionPolicies/{n}"
        return rid, {"etag": "BwY=", "infrastructure": "PSC"}

    def _psc_addresses(self, network: str, r: str, typ: str, n: str, count: int) -> list[str]:
        """The endpoints' addresses: from the service connection policy's subnet for the
        instance's network, region and class (service connectivity automation takes them there:
        docs/psc-products.md §1); a Shared VPC host's subnet (not in the program): a /28 in
        10.96.0.0/11 chosen from the network."""
        subnet = self.psc_policies.get((network, r, facts.PSC_SERVICE_CLASS[typ]))
        cidr = self.subnets.get(subnet or "")
        if cidr is None:
            third = int(hashlib.sha256(f"{network}/{r}".encode()).hexdigest()[:4], 16) % 8192
            cidr = f"10.{96 + third // 256}.{third % 256}.0/28"
        hosts = list(ipaddress.ip_network(cidr).hosts())
        # Google takes the first addresses after the subnet's reserved ones (an example:
        # 10.128.0.58 in connect-instance); a fixed offset per instance keeps it deterministic.
        start = 1 + int(hashlib.sha256(n.encode()).hexdigest()[:2], 16) % 4
        return [str(hosts[start + k]) for k in range(count)]

    @staticmethod
    def _managed_cas(tls: bool) -> list[dict]:
        """`managed_server_cas[].ca_certs[].certificates`, leaf to root, populated only with
        in-transit encryption (memorystore l.867)."""
        return [{"caCerts": [{"certificates": [FAKE_CA, FAKE_CA_ROTATED]}]}] if tls else []

    def _valkey(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        n = i.get("instanceId", n)
        endpoint = (i.get("desiredAutoCreatedEndpoints") or [{}])[0]
        network = endpoint.get("network", "")
        consumer = endpoint.get("projectId") or p
        # Cluster mode: the discovery connection; off: a primary and a reader endpoint
        # (provider l.776-779). Port 6379 as in Google's example output (connect-instance).
        kinds = (
            ["CONNECTION_TYPE_DISCOVERY"]
            if i.get("mode", "CLUSTER") == "CLUSTER"
            else ["CONNECTION_TYPE_PRIMARY", "CONNECTION_TYPE_READER"]
        )
        ips = self._psc_addresses(network, r, facts.VALKEY, n, len(kinds))
        connections = [
            {
                "pscAutoConnection": {
                    "connectionType": kind,
                    "ipAddress": ip,
                    "port": facts.PSC_DISCOVERY_PORT,
                    "network": network,
                    "projectId": consumer,
                    "forwardingRule": f"{COMPUTE}/projects/{consumer}/regions/{r}/forwardingRules/sca-auto-fr-{k}",
                    "pscConnectionId": str(k + 1),
                }
            }
            for k, (kind, ip) in enumerate(zip(kinds, ips, strict=True))
        ]
        tls = i.get("transitEncryptionMode") == "SERVER_AUTHENTICATION"
        return f"projects/{p}/locations/{r}/instances/{n}", {
            "name": f"projects/{p}/locations/{r}/instances/{n}",
            "state": "ACTIVE",
            "endpoints": [{"connections": connections}],
            "managedServerCas": self._managed_cas(tls),
            "uid": hashlib.sha256(n.encode()).hexdigest()[:8],
        }

    def _redis_cluster(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        network = ((i.get("pscConfigs") or [{}])[0]).get("network", "")
        ip = self._psc_addresses(network, r, facts.REDIS_CLUSTER, n, 1)[0]
        tls = i.get("transitEncryptionMode") == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
        return f"projects/{p}/locations/{r}/clusters/{n}", {
            "state": "ACTIVE",
            # "Currently only one endpoint is supported." (resource_redis_cluster.go l.688)
            "discoveryEndpoints": [
                {"address": ip, "port": facts.PSC_DISCOVERY_PORT, "pscConfig": {"network": network}}
            ],
            "managedServerCas": self._managed_cas(tls),
            "uid": hashlib.sha256(n.encode()).hexdigest()[:8],
        }

    def _secret(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        sid = i["secretId"]
        return f"projects/{p}/secrets/{sid}", {
            "name": f"projects/{_project_number(p)}/secrets/{sid}"
        }

    def _secret_version(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        secret = i["secret"].replace(f"projects/{p}/", f"projects/{_project_number(p)}/")
        name = f"{secret}/versions/1"
        return name, {"name": name, "version": "1", "enabled": True}

    def _service_account(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        email = f"{i['accountId']}@{p}.iam.gserviceaccount.com"
        return f"projects/{p}/serviceAccounts/{email}", {
            "email": email,
            "member": f"serviceAccount:{email}",
            "name": f"projects/{p}/serviceAccounts/{email}",
            "uniqueId": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)),
        }

    def _secret_iam_member(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"projects/{p}/secrets/{i['secretId']}/{i['role']}/{i['member']}", {"etag": "BwY="}

    def _api(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"{p}/{i['service']}", {}

    def _service_identity(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        """generateServiceIdentity answers the agent's email (resource_project_service_identity.go
        sets `email`, and `member` = "serviceAccount:" + email): Google's format for the agents
        the program creates (facts.SERVICE_AGENT_DOMAINS)."""
        email = facts.service_agent_email(i["service"], _project_number(p))
        return f"projects/{p}/services/{i['service']}", {
            "email": email,
            "member": f"serviceAccount:{email}",
        }

    def _run_job(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"projects/{p}/locations/{r}/jobs/{n}", {
            "uid": hashlib.sha256(n.encode()).hexdigest()[:8]
        }

    def _connectivity_test(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"projects/{p}/locations/global/connectivityTests/{n}", {}

    def _run_service(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        # Cloud Run's deterministic URL: https://SERVICE-PROJECT_NUMBER.REGION.run.app
        # (https://cloud.google.com/run/docs/triggering/https-request#deterministic), distinct
        # per region as a service's URLs in two regions are.
        return f"projects/{p}/locations/{r}/services/{n}", {
            "uri": f"https://{n}-{_project_number(p)}.{r}.run.app",
            "latestReadyRevision": f"projects/{p}/locations/{r}/services/{n}/revisions/{n}-00001-abc",
        }

    # The bootstrap program's resources (bootstrap/): ids and names as the API gives them
    # (https://cloud.google.com/iam/docs/reference/rest/v1/projects.locations.workloadIdentityPools,
    # https://cloud.google.com/kms/docs/resource-hierarchy): pools and providers by project number.
    def _wi_pool(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        name = f"projects/{_project_number(p)}/locations/global/workloadIdentityPools/"
        name += i["workloadIdentityPoolId"]
        return (
            f"projects/{p}/locations/global/workloadIdentityPools/{i['workloadIdentityPoolId']}",
            {
                "name": name,
                "state": "ACTIVE",
            },
        )

    def _wi_provider(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        pool = f"locations/global/workloadIdentityPools/{i['workloadIdentityPoolId']}"
        tail = f"{pool}/providers/{i['workloadIdentityPoolProviderId']}"
        return f"projects/{p}/{tail}", {
            "name": f"projects/{_project_number(p)}/{tail}",
            "state": "ACTIVE",
        }

    def _key_ring(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"projects/{p}/locations/{i['location']}/keyRings/{n}", {}

    def _crypto_key(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return f"{i['keyRing']}/cryptoKeys/{n}", {}

    def _custom_role(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        name = f"projects/{p}/roles/{i['roleId']}"
        return name, {"name": name, "deleted": False}

    def _bucket(self, i: dict, p: str, r: str, n: str) -> tuple[str, dict]:
        return n, {"url": f"gs://{n}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{n}"}


_HANDLERS = {
    facts.NETWORK: "_network",
    facts.SUBNETWORK: "_subnetwork",
    facts.CONNECTOR: "_connector",
    facts.FIREWALL: "_firewall",
    facts.GLOBAL_ADDRESS: "_global_address",
    facts.PSA_CONNECTION: "_psa_connection",
    facts.REDIS: "_redis",
    facts.VALKEY: "_valkey",
    facts.REDIS_CLUSTER: "_redis_cluster",
    facts.SERVICE_CONNECTION_POLICY: "_service_connection_policy",
    facts.SECRET: "_secret",
    facts.SECRET_VERSION: "_secret_version",
    facts.SERVICE_ACCOUNT: "_service_account",
    facts.SECRET_IAM_MEMBER: "_secret_iam_member",
    facts.PROJECT_SERVICE: "_api",
    facts.SERVICE_IDENTITY: "_service_identity",
    facts.RUN_SERVICE: "_run_service",
    facts.RUN_JOB: "_run_job",
    facts.CONNECTIVITY_TEST: "_connectivity_test",
    facts.WORKLOAD_IDENTITY_POOL: "_wi_pool",
    facts.WORKLOAD_IDENTITY_POOL_PROVIDER: "_wi_provider",
    facts.KMS_KEY_RING: "_key_ring",
    facts.KMS_CRYPTO_KEY: "_crypto_key",
    facts.STORAGE_BUCKET: "_bucket",
    facts.PROJECT_CUSTOM_ROLE: "_custom_role",
}
