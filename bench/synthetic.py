"""Synthetic stacks of any size, shaped like ours: several networks ("cells"), each with a
connector subnet, a connector, a Redis instance, its AUTH secret and the Redis egress rule, then
many Cloud Run services (account, secret grant, service) and many other firewall rules (denies
for other tags, allows on other ports), all with the engine's dependencies and property
dependencies, in the recorded-graph format the gate and the pack consume."""

from __future__ import annotations

from preflight.graph import Graph, RecordedResource

PROJECT, STACK, REGION, GCP = "redis-vpc", "staging", "us-central1", "bench-project"


def _urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def _res(
    type_: str, name: str, props: dict, deps: dict[str, list[str]], **extra
) -> RecordedResource:
    urns = sorted({u for v in deps.values() for u in v})
    return RecordedResource(
        urn=_urn(type_, name),
        type=type_,
        name=name,
        parent=_urn("pulumi:pulumi:Stack", f"{PROJECT}-{STACK}"),
        custom=True,
        dependencies=urns + list(extra.get("after", [])),
        propertyDependencies={k: deps.get(k, []) for k in props},
        inputs=props,
        outputs=dict(props),
    )


def cell(i: int, services: int, rules: int) -> list[RecordedResource]:
    env = f"{STACK}-c{i}"
    o2, o3 = 4 + i // 250, i % 250
    net = _res(
        "gcp:compute/network:Network",
        f"c{i}-vpc",
        {"name": f"{env}-vpc", "autoCreateSubnetworks": False},
        {},
    )
    net_id = f"projects/{GCP}/global/networks/{env}-vpc"
    sub = _res(
        "gcp:compute/subnetwork:Subnetwork",
        f"c{i}-subnet",
        {
            "name": f"{env}-connector-subnet",
            "network": net_id,
            "ipCidrRange": f"10.2.{o3}.0/28",
            "region": REGION,
        },
        {"network": [net.urn]},
    )
    conn = _res(
        "gcp:vpcaccess/connector:Connector",
        f"c{i}-connector",
        {
            "name": f"{env}-conn",
            "region": REGION,
            "subnet": {"name": f"{env}-connector-subnet"},
            "minInstances": 2,
            "maxInstances": 3,
            "machineType": "e2-micro",
        },
        {"subnet": [sub.urn]},
    )
    host = f"10.{o2}.{o3}.3"
    redis = _res(
        "gcp:redis/instance:Instance",
        f"c{i}-redis",
        {
            "name": f"{env}-redis",
            "authorizedNetwork": net_id,
            "reservedIpRange": f"10.{o2}.{o3}.0/29",
            "tier": "BASIC",
            "authEnabled": True,
            "transitEncryptionMode": "SERVER_AUTHENTICATION",
            "host": host,
            "port": 6378,
            "connectMode": "DIRECT_PEERING",
        },
        {"authorizedNetwork": [net.urn]},
    )
    secret = _res(
        "gcp:secretmanager/secret:Secret", f"c{i}-secret", {"secretId": f"{env}-redis-auth"}, {}
    )
    version = _res(
        "gcp:secretmanager/secretVersion:SecretVersion",
        f"c{i}-secret-version",
        {"secret": f"projects/{GCP}/secrets/{env}-redis-auth", "version": "1"},
        {"secret": [secret.urn]},
    )
    tag = f"vpc-connector-{REGION}-{env}-conn"
    rule = _res(
        "gcp:compute/firewall:Firewall",
        f"c{i}-redis-egress",
        {
            "name": f"{env}-allow-redis-egress",
            "network": net_id,
            "direction": "EGRESS",
            "priority": 1000,
            "targetTags": [tag],
            "destinationRanges": [f"10.{o2}.{o3}.0/29"],
            "allows": [{"protocol": "tcp", "ports": ["6378"]}],
            "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
        },
        {"network": [net.urn], "targetTags": [conn.urn], "allows": [redis.urn]},
    )
    out = [net, sub, conn, redis, secret, version, rule]
    for s in range(services):
        email = f"{env}-s{s}@{GCP}.iam.gserviceaccount.com"
        sa = _res(
            "gcp:serviceaccount/account:Account",
            f"c{i}-s{s}-sa",
            {"accountId": f"{env}-s{s}", "email": email},
            {},
        )
        iam = _res(
            "gcp:secretmanager/secretIamMember:SecretIamMember",
            f"c{i}-s{s}-secret-access",
            {
                "secretId": f"{env}-redis-auth",
                "role": "roles/secretmanager.secretAccessor",
                "member": f"serviceAccount:{email}",
            },
            {"secretId": [secret.urn], "member": [sa.urn]},
        )
        template = {
            "serviceAccount": email,
            "vpcAccess": {
                "connector": f"projects/{GCP}/locations/{REGION}/connectors/{env}-conn",
                "egress": "PRIVATE_RANGES_ONLY",
            },
            "containers": [
                {
                    "image": "img",
                    "envs": [
                        {"name": "REDIS_HOST", "value": host},
                        {"name": "REDIS_PORT", "value": "6378"},
                        {"name": "REDIS_TLS", "value": "true"},
                        {
                            "name": "REDIS_AUTH",
                            "valueSource": {
                                "secretKeyRef": {"secret": f"{env}-redis-auth", "version": "1"}
                            },
                        },
                    ],
                }
            ],
        }
        svc = _res(
            "gcp:cloudrunv2/service:Service",
            f"c{i}-s{s}-service",
            {"name": f"{env}-s{s}", "location": REGION, "template": template},
            {"template": [sa.urn, conn.urn, redis.urn, secret.urn, version.urn]},
            after=[rule.urn, iam.urn],
        )
        out += [sa, iam, svc]
    for f in range(rules):
        if f % 2:
            props = {
                "name": f"{env}-deny-{f}",
                "network": net_id,
                "direction": "EGRESS",
                "priority": 2000 + f,
                "targetTags": [f"batch-{f}"],
                "destinationRanges": ["0.0.0.0/0"],
                "denies": [{"protocol": "all"}],
                "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
            }
        else:
            props = {
                "name": f"{env}-allow-{f}",
                "network": net_id,
                "direction": "EGRESS",
                "priority": 900 + f,
                "targetTags": [tag],
                "destinationRanges": [f"10.200.{f % 250}.0/24"],
                "allows": [{"protocol": "tcp", "ports": [str(7000 + f % 1000)]}],
                "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
            }
        out.append(
            _res("gcp:compute/firewall:Firewall", f"c{i}-rule-{f}", props, {"network": [net.urn]})
        )
    return out


def synthetic(n: int) -> Graph:
    """About `n` resources (exact for the sizes the benchmark uses)."""
    cells = max(1, n // 250)
    budget = n // cells
    services = max(1, int((budget - 7) * 0.6) // 3)
    rules = max(0, budget - 7 - 3 * services)
    resources: list[RecordedResource] = []
    for i in range(cells):
        resources += cell(i, services, rules)
    return Graph(PROJECT, STACK, False, resources, {})
