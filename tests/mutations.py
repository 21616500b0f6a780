"""Mutations of recorded graphs: the ways a change can break or weaken the Cloud Run -> Redis path.

Each mutation edits a deep copy of a shipped stack's graph the way a bad program change would
(inputs and outputs alike, and the dependencies the engine would then record) and names the policy
that must catch it and the resource it must be reported on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from preflight.graph import Graph, RecordedResource

FIREWALL = "gcp:compute/firewall:Firewall"
# A mutation's `stack` naming a program of tests/thirdparty rather than a shipped stack: the
# Private Service Connect products (Valkey, Redis Cluster) are proven on programs that have them.
THIRDPARTY = "thirdparty/"


def _walk(data: dict[str, Any], path: str) -> tuple[Any, str]:
    parts = path.split(".")
    cur: Any = data
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    return cur, parts[-1]


def set_prop(r: RecordedResource, path: str, value: Any) -> None:
    """Set a property in both inputs and outputs (what the engine would hold after the change)."""
    for data in (r.inputs, r.outputs):
        parent, key = _walk(data, path)
        if isinstance(parent, list):
            parent[int(key)] = copy.deepcopy(value)
        else:
            parent[key] = copy.deepcopy(value)


def del_prop(r: RecordedResource, path: str) -> None:
    for data in (r.inputs, r.outputs):
        parent, key = _walk(data, path)
        parent.pop(key, None)


def drop_dep(r: RecordedResource, urn: str, key: str | None = None) -> None:
    """Forget a dependency, as the engine would when the value is a literal instead of an output."""
    keys = [key] if key else list(r.propertyDependencies)
    for k in keys:
        r.propertyDependencies[k] = [u for u in r.propertyDependencies.get(k, []) if u != urn]
    still = {u for v in r.propertyDependencies.values() for u in v}
    if urn not in still:
        r.dependencies = [u for u in r.dependencies if u != urn]


def named(g: Graph, name: str) -> RecordedResource:
    for r in g.resources:
        if r.name == name:
            return r
    raise KeyError(name)


def add_rule(g: Graph, name: str, props: dict[str, Any]) -> RecordedResource:
    """A new firewall rule in the firewall component, on the stack's network, logging fully."""
    net = named(g, "network-vpc")
    comp = named(g, "firewall")
    base = {
        "name": f"{g.stack}-{name}",
        "project": net.inputs["project"],
        "network": f"projects/{net.inputs['project']}/global/networks/{net.inputs['name']}",
        "logConfig": {"metadata": "INCLUDE_ALL_METADATA"},
    }
    base.update(props)
    r = RecordedResource(
        urn=f"urn:pulumi:{g.stack}::{g.project}::redis-vpc:firewall:RedisFirewall${FIREWALL}::firewall-{name}",
        type=FIREWALL,
        name=f"firewall-{name}",
        parent=comp.urn,
        custom=True,
        dependencies=[net.urn],
        propertyDependencies={k: ([net.urn] if k == "network" else []) for k in base},
        inputs=copy.deepcopy(base),
        outputs=copy.deepcopy(base),
    )
    g.resources.append(r)
    return r


def add_network(g: Graph, name: str) -> RecordedResource:
    net = named(g, "network-vpc")
    r = copy.deepcopy(net)
    r.name = f"network-{name}"
    r.urn = net.urn.rsplit("::", 1)[0] + f"::network-{name}"
    set_prop(r, "name", f"{g.stack}-{name}")
    r.protect = net.protect
    g.resources.append(r)
    return r


SCORES = THIRDPARTY + "scores-valkey-psc"
FEED = THIRDPARTY + "feed-redis-cluster-no-policy"


def _psc_set(name: str, path: str, value: Any) -> Callable[[Graph], None]:
    return lambda g: set_prop(named(g, name), path, value)


def _psc_del(name: str, path: str) -> Callable[[Graph], None]:
    return lambda g: del_prop(named(g, name), path)


def _psc_remove(name: str) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        r = named(g, name)
        g.resources.remove(r)
        for other in g.resources:
            drop_dep(other, r.urn)

    return apply


def _psc_literal(name: str, key: str) -> Callable[[Graph], None]:
    """The network typed in instead of taken from the network's output."""

    def apply(g: Graph) -> None:
        r = named(g, name)
        drop_dep(r, named(g, f"{name.split('-')[0]}-vpc").urn, key)

    return apply


@dataclass(frozen=True)
class Mutation:
    id: str
    stack: str
    policy: str
    target: str  # the logical name of the resource the diagnostic must name
    apply: Callable[[Graph], None]
    level: str = "mandatory"


def mutated(graph: Graph, m: Mutation) -> Graph:
    g = copy.deepcopy(graph)
    m.apply(g)
    return g


# -- the mutations ------------------------------------------------------------------------------
def _literal_firewall_network(g: Graph) -> None:
    rule = named(g, "firewall-redis-egress")
    drop_dep(rule, named(g, "network-vpc").urn, "network")


def _literal_redis_network(g: Graph) -> None:
    redis = named(g, "redis-instance")
    set_prop(redis, "authorizedNetwork", "staging-vpc")
    drop_dep(redis, named(g, "network-vpc").urn, "authorizedNetwork")


def _literal_connector_in_service(g: Graph) -> None:
    svc = named(g, "svc-backend-service")
    set_prop(
        svc,
        "template.vpcAccess.connector",
        "projects/acme-chat-staging/locations/us-central1/connectors/staging-connector",
    )
    drop_dep(svc, named(g, "connector-connector").urn, "template")


def _remove_rule(g: Graph) -> None:
    rule = named(g, "firewall-redis-egress")
    g.resources.remove(rule)
    for r in g.resources:
        drop_dep(r, rule.urn)


def _rule_port(port: str) -> Callable[[Graph], None]:
    return lambda g: set_prop(
        named(g, "firewall-redis-egress"), "allows", [{"protocol": "tcp", "ports": [port]}]
    )


def _deny_all_egress(priority: int) -> Callable[[Graph], None]:
    return lambda g: add_rule(
        g,
        "deny-all-egress",
        {
            "direction": "EGRESS",
            "priority": priority,
            "denies": [{"protocol": "all"}],
            "destinationRanges": ["0.0.0.0/0"],
        },
    )


def _rule_on_other_network(g: Graph) -> None:
    other = add_network(g, "other-vpc")
    rule = named(g, "firewall-redis-egress")
    set_prop(rule, "network", f"projects/x/global/networks/{other.inputs['name']}")
    rule.propertyDependencies["network"] = [other.urn]
    rule.dependencies = [u for u in rule.dependencies if u != named(g, "network-vpc").urn] + [
        other.urn
    ]


def _ingress_rule(props: dict[str, Any]) -> Callable[[Graph], None]:
    base = {"direction": "INGRESS", "allows": [{"protocol": "tcp", "ports": ["6379"]}]}
    return lambda g: add_rule(g, "allow-redis-ingress", {**base, **props})


def _no_logconfig(g: Graph) -> None:
    rule = named(g, "firewall-redis-egress")
    del_prop(rule, "logConfig")
    set_prop(rule, "enableLogging", True)


def _connector_subnet_cidr(cidr: str) -> Callable[[Graph], None]:
    return lambda g: set_prop(named(g, "network-connector-subnet"), "ipCidrRange", cidr)


def _redis_range(cidr: str) -> Callable[[Graph], None]:
    return lambda g: set_prop(named(g, "redis-instance"), "reservedIpRange", cidr)


def _service_region(g: Graph) -> None:
    set_prop(named(g, "svc-backend-service"), "location", "europe-west1")


def _no_vpc_access(g: Graph) -> None:
    svc = named(g, "svc-backend-service")
    del_prop(svc, "template.vpcAccess")
    drop_dep(svc, named(g, "connector-connector").urn)


def _typed_redis_host(g: Graph) -> None:
    svc = named(g, "svc-auth-service")
    redis = named(g, "redis-instance")
    for env in svc.inputs["template"]["containers"][0]["envs"]:
        if env["name"] == "REDIS_HOST":
            env["value"] = redis.outputs["host"]
    svc.outputs["template"] = copy.deepcopy(svc.inputs["template"])
    drop_dep(svc, redis.urn, "template")


def _redis_on_other_network(g: Graph) -> None:
    other = add_network(g, "other-vpc")
    redis = named(g, "redis-instance")
    set_prop(redis, "authorizedNetwork", f"projects/x/global/networks/{other.inputs['name']}")
    redis.propertyDependencies["authorizedNetwork"] = [other.urn]


def _drop_service_dep_on(
    resource: str, workload: str = "svc-backend-service"
) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        svc = named(g, workload)
        urn = named(g, resource).urn
        svc.dependencies = [u for u in svc.dependencies if u != urn]
        for k in svc.propertyDependencies:
            svc.propertyDependencies[k] = [u for u in svc.propertyDependencies[k] if u != urn]

    return apply


def _service_not_after_connector(workload: str) -> Callable[[Graph], None]:
    """The service takes no edge to its connector, nor does the Redis egress rule (its target
    tag typed in), so nothing orders the service after the connector."""

    def apply(g: Graph) -> None:
        _drop_service_dep_on("connector-connector", workload)(g)
        drop_dep(named(g, "firewall-redis-egress"), named(g, "connector-connector").urn)

    return apply


def _connector_without_subnet_dep(g: Graph) -> None:
    c = named(g, "connector-connector")
    drop_dep(c, named(g, "network-connector-subnet").urn)


def _plain_env(name: str, value: str) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        svc = named(g, "svc-backend-service")
        for data in (svc.inputs, svc.outputs):
            data["template"]["containers"][0]["envs"].append({"name": name, "value": value})

    return apply


def _auth_in_plain_env(g: Graph) -> None:
    auth = named(g, "redis-instance").outputs["authString"]["value"]
    _plain_env("CACHE_URL_PART", auth)(g)


def _secret_version(version: str) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        svc = named(g, "svc-backend-service")
        for data in (svc.inputs, svc.outputs):
            for env in data["template"]["containers"][0]["envs"]:
                if env["name"] == "REDIS_AUTH":
                    env["valueSource"]["secretKeyRef"]["version"] = version

    return apply


def _image(target: str, image: str) -> Callable[[Graph], None]:
    """A workload's container image swapped for another reference (a job's sits one level
    deeper, in template.template)."""

    def apply(g: Graph) -> None:
        r = named(g, target)
        path = (
            "template.template.containers.0.image"
            if r.type.endswith(":Job")
            else ("template.containers.0.image")
        )
        set_prop(r, path, image)

    return apply


def _public_invoker(service: str, name: str, typ: str, member: str) -> Callable[[Graph], None]:
    """A grant of roles/run.invoker to a public member on one of the stack's services (an IAM
    member, or a binding when `typ` is one), as a program that opens the service would add."""

    def apply(g: Graph) -> None:
        svc = named(g, service)
        props: dict[str, Any] = {"location": svc.inputs["location"], "role": "roles/run.invoker"}
        props["name"] = svc.inputs["name"]
        props.update({"members": [member]} if typ.endswith("Binding") else {"member": member})
        stack_urn = svc.urn.split("::")[:2]
        g.resources.append(
            RecordedResource(
                urn="::".join([*stack_urn, typ, name]),
                type=typ,
                name=name,
                parent=g.resources[0].urn,
                custom=True,
                provider=svc.provider,
                dependencies=[svc.urn],
                propertyDependencies={"name": [svc.urn]},
                inputs=copy.deepcopy(props),
                outputs=copy.deepcopy(props),
            )
        )

    return apply


def _typed_redis_url(g: Graph) -> None:
    """The client reads one REDIS_URL, pasted from the console instead of built from the
    instance's outputs."""
    svc = named(g, "svc-backend-service")
    redis = named(g, "redis-instance")
    url = f"rediss://{redis.outputs['host']}:{int(redis.outputs['port'])}/0"
    for data in (svc.inputs, svc.outputs):
        envs = data["template"]["containers"][0]["envs"]
        envs[:] = [e for e in envs if e["name"] not in ("REDIS_HOST", "REDIS_PORT")]
        envs.append({"name": "REDIS_URL", "value": url})
    drop_dep(svc, redis.urn, "template")


def _unprotect(name: str) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        named(g, name).protect = False

    return apply


def _drop_resource(name: str) -> Callable[[Graph], None]:
    def apply(g: Graph) -> None:
        gone = named(g, name)
        g.resources.remove(gone)
        for r in g.resources:
            drop_dep(r, gone.urn)

    return apply


def _as_production(*changes: Callable[[Graph], None]) -> Callable[[Graph], None]:
    """A stack the pack must treat as production (its Redis carries production=true), with
    `changes` on top: production rules hold any stack so marked, whatever its name."""

    def apply(g: Graph) -> None:
        redis = named(g, "redis-instance")
        for data in (redis.inputs, redis.outputs):
            data["labels"] = {**data.get("labels", {}), "production": "true"}
        for change in changes:
            change(g)

    return apply


def _rename(name: str, new: str) -> Callable[[Graph], None]:
    return lambda g: set_prop(named(g, name), "name", new)


# -- Shared VPC and several regions (Pulumi.shared-vpc.yaml, Pulumi.multi-region.yaml) ----------
def _shared_subnet_as_own(g: Graph) -> None:
    """The connector's shared subnet named as if it were in the service project: a bare literal
    of the stack's own project, which no resource of the stack backs."""
    c = named(g, "connector-connector")
    set_prop(c, "subnet.projectId", c.inputs["project"])


def _redis_on_another_host_network(g: Graph) -> None:
    redis = named(g, "redis-instance")
    set_prop(redis, "authorizedNetwork", "projects/acme-net-host/global/networks/legacy-vpc")


def _remove_host_rule(g: Graph) -> None:
    g.resources.remove(named(g, "firewall-redis-egress"))


def _second_region_on_primary_connector(g: Graph) -> None:
    """us-east4's service wired to us-central1's connector: a connector serves its own region."""
    svc = named(g, "svc-backend-use4-service")
    primary = named(g, "connector-connector")
    second = named(g, "connector-use4-connector")
    set_prop(
        svc,
        "template.vpcAccess.connector",
        svc.inputs["template"]["vpcAccess"]["connector"].replace("us-east4", "us-central1"),
    )
    deps = svc.propertyDependencies["template"]
    svc.propertyDependencies["template"] = [primary.urn if u == second.urn else u for u in deps]


def _rule_misses_second_region(g: Graph) -> None:
    rule = named(g, "firewall-redis-egress")
    second = named(g, "connector-use4-connector")
    set_prop(rule, "targetTags", [t for t in rule.inputs["targetTags"] if "us-east4" not in t])
    drop_dep(rule, second.urn, "targetTags")


def _egress_subnet_cidr(cidr: str) -> Callable[[Graph], None]:
    return lambda g: set_prop(named(g, "network-run-egress-subnet"), "ipCidrRange", cidr)


def _backend_max_instances(count: int) -> Callable[[Graph], None]:
    return lambda g: set_prop(
        named(g, "svc-backend-service"), "template.scaling.maxInstanceCount", count
    )


def _backend_manual_instances(g: Graph) -> None:
    """Manual scaling at 24 instances for all revisions: 48 addresses, 81 % of dev's /26."""
    svc = named(g, "svc-backend-service")
    for data in (svc.inputs, svc.outputs):
        data["scaling"] = {"scalingMode": "MANUAL", "manualInstanceCount": 24}


def _dev_subnet_flow_logs(path: str | None, value: Any = None) -> Callable[[Graph], None]:
    """The dev stack's Direct VPC egress subnet without flow logs (path None) or with one of
    its logConfig fields set to `value`."""

    def apply(g: Graph) -> None:
        subnet = named(g, "network-run-egress-subnet")
        if path is None:
            del_prop(subnet, "logConfig")
        else:
            set_prop(subnet, path, value)

    return apply


def _dev_egress_subnet_elsewhere(raw: str) -> Callable[[Graph], None]:
    """The dev service sends from a subnet the stack does not own: a Shared VPC host's, named by
    its id or self link (a literal: no dependency on the stack's subnet)."""

    def apply(g: Graph) -> None:
        svc = named(g, "svc-backend-service")
        set_prop(svc, "template.vpcAccess.networkInterfaces.0.subnetwork", raw)
        drop_dep(svc, named(g, "network-run-egress-subnet").urn)

    return apply


MUTATIONS = [
    Mutation(
        "literal-firewall-network",
        "staging",
        "no-hardcoded-network-references",
        "firewall-redis-egress",
        _literal_firewall_network,
    ),
    Mutation(
        "literal-redis-authorized-network",
        "staging",
        "no-hardcoded-network-references",
        "redis-instance",
        _literal_redis_network,
    ),
    Mutation(
        "literal-connector-in-service",
        "staging",
        "no-hardcoded-network-references",
        "svc-backend-service",
        _literal_connector_in_service,
    ),
    Mutation(
        "staging-vpc-in-production",
        "production",
        "environment-derived-names",
        "network-vpc",
        _rename("network-vpc", "staging-vpc"),
    ),
    Mutation(
        "other-env-inside-name",
        "production",
        "environment-derived-names",
        "firewall-redis-egress",
        _rename("firewall-redis-egress", "production-staging-redis-egress"),
    ),
    Mutation(
        "redis-port-egress-to-world-in-production",
        "production",
        "redis-egress-not-to-internet",
        "firewall-egress-world",
        lambda g: add_rule(
            g,
            "egress-world",
            {
                "direction": "EGRESS",
                "destinationRanges": ["0.0.0.0/0"],
                "allows": [{"protocol": "tcp", "ports": ["6378"]}],
            },
        ),
    ),
    Mutation(
        "redis-port-egress-to-world-in-staging",
        "staging",
        "redis-egress-not-to-internet",
        "firewall-egress-world",
        lambda g: add_rule(
            g,
            "egress-world",
            {"direction": "EGRESS", "allows": [{"protocol": "tcp", "ports": ["6000-7000"]}]},
        ),
        "advisory",
    ),
    Mutation(
        "redis-auto-named",
        "staging",
        "environment-name-prefix",
        "redis-instance",
        lambda g: del_prop(named(g, "redis-instance"), "name"),
        "advisory",
    ),
    Mutation(
        "network-named-without-environment",
        "staging",
        "environment-name-prefix",
        "network-vpc",
        _rename("network-vpc", "chat-network"),
        "advisory",
    ),
    Mutation(
        "no-firewall-rule",
        "staging",
        "redis-egress-firewall-rule",
        "svc-backend-service",
        _remove_rule,
    ),
    Mutation(
        "rule-on-6379-while-tls-serves-6378",
        "staging",
        "redis-egress-firewall-rule",
        "svc-auth-service",
        _rule_port("6379"),
    ),
    Mutation(
        "rule-disabled",
        "production",
        "redis-egress-firewall-rule",
        "svc-backend-service",
        lambda g: set_prop(named(g, "firewall-redis-egress"), "disabled", True),
    ),
    Mutation(
        "rule-shadowed-by-deny",
        "staging",
        "redis-egress-firewall-rule",
        "svc-backend-service",
        _deny_all_egress(100),
    ),
    Mutation(
        "rule-on-wrong-network",
        "staging",
        "redis-egress-firewall-rule",
        "svc-auth-service",
        _rule_on_other_network,
    ),
    Mutation(
        "rule-range-misses-redis",
        "production",
        "redis-egress-firewall-rule",
        "svc-auth-service",
        lambda g: set_prop(named(g, "firewall-redis-egress"), "destinationRanges", ["10.9.0.0/24"]),
    ),
    Mutation(
        "ingress-rule-from-connector-subnet",
        "staging",
        "redis-ingress-rule-ineffective",
        "firewall-allow-redis-ingress",
        _ingress_rule({"sourceRanges": ["10.2.0.0/28"]}),
        "advisory",
    ),
    Mutation(
        "ingress-rule-to-redis-range",
        "production",
        "redis-ingress-rule-ineffective",
        "firewall-allow-redis-ingress",
        _ingress_rule(
            {
                "sourceRanges": ["10.8.0.0/24"],
                "destinationRanges": ["10.5.0.0/24"],
                "allows": [{"protocol": "tcp", "ports": ["6378"]}],
            }
        ),
        "advisory",
    ),
    Mutation(
        "redis-port-from-anywhere",
        "staging",
        "redis-port-open-to-internet",
        "firewall-allow-redis-ingress",
        _ingress_rule({"sourceRanges": ["0.0.0.0/0"]}),
    ),
    Mutation(
        "port-range-from-anywhere",
        "production",
        "redis-port-open-to-internet",
        "firewall-allow-redis-ingress",
        _ingress_rule(
            {"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["6000-7000"]}]}
        ),
    ),
    Mutation(
        "logging-excludes-metadata",
        "staging",
        "firewall-logging-all-metadata",
        "firewall-redis-egress",
        lambda g: set_prop(
            named(g, "firewall-redis-egress"), "logConfig", {"metadata": "EXCLUDE_ALL_METADATA"}
        ),
    ),
    Mutation(
        "legacy-enable-logging-only",
        "production",
        "firewall-logging-all-metadata",
        "firewall-redis-egress",
        _no_logconfig,
    ),
    Mutation(
        "direct-egress-subnet-without-flow-logs",
        "dev",
        "direct-egress-flow-logs",
        "network-run-egress-subnet",
        _dev_subnet_flow_logs(None),
    ),
    Mutation(
        "direct-egress-subnet-sampling-zero",
        "dev",
        "direct-egress-flow-logs",
        "network-run-egress-subnet",
        _dev_subnet_flow_logs("logConfig.flowSampling", 0.0),
    ),
    Mutation(
        "direct-egress-shared-vpc-host-subnet",
        "dev",
        "direct-egress-flow-logs-unverified",
        "svc-backend-service",
        _dev_egress_subnet_elsewhere(
            "projects/acme-net-host/regions/europe-west1/subnetworks/dev-run"
        ),
        level="advisory",
    ),
    Mutation(
        "direct-egress-host-subnet-self-link",
        "dev",
        "direct-egress-flow-logs-unverified",
        "svc-backend-service",
        _dev_egress_subnet_elsewhere(
            "https://www.googleapis.com/compute/v1/projects/acme-net-host/regions/europe-west1/"
            "subnetworks/dev-run"
        ),
        level="advisory",
    ),
    Mutation(
        "connector-subnet-not-28",
        "staging",
        "connector-range-size",
        "network-connector-subnet",
        _connector_subnet_cidr("10.2.0.0/27"),
    ),
    Mutation(
        "redis-range-overlaps-connector",
        "staging",
        "network-ranges-disjoint",
        "redis-instance",
        _redis_range("10.2.0.8/29"),
    ),
    Mutation(
        "connector-in-another-region",
        "staging",
        "connector-in-service-region",
        "connector-connector",
        _service_region,
    ),
    Mutation(
        "connector-off-redis-network",
        "production",
        "connector-on-redis-network",
        "connector-connector",
        _redis_on_other_network,
    ),
    Mutation(
        "service-without-vpc-access",
        "staging",
        "cloud-run-private-redis-path",
        "svc-backend-service",
        _no_vpc_access,
    ),
    Mutation(
        "redis-host-typed-in",
        "production",
        "cloud-run-private-redis-path",
        "svc-auth-service",
        _typed_redis_host,
    ),
    Mutation(
        "redis-url-typed-in",
        "staging",
        "cloud-run-private-redis-path",
        "svc-backend-service",
        _typed_redis_url,
    ),
    Mutation(
        "redis-on-another-network",
        "staging",
        "cloud-run-private-redis-path",
        "svc-backend-service",
        _redis_on_other_network,
    ),
    Mutation(
        "service-not-after-firewall-rule",
        "staging",
        "service-depends-on-redis-egress-rule",
        "svc-backend-service",
        _drop_service_dep_on("firewall-redis-egress"),
    ),
    Mutation(
        "service-not-after-secret-iam",
        "production",
        "service-depends-on-secret-grant",
        "svc-backend-service",
        _drop_service_dep_on("svc-backend-secret-access"),
    ),
    Mutation(
        "connector-not-after-subnet",
        "staging",
        "connector-depends-on-subnet",
        "connector-connector",
        _connector_without_subnet_dep,
    ),
    Mutation(
        "production-auth-off",
        "production",
        "redis-auth-enabled",
        "redis-instance",
        lambda g: set_prop(named(g, "redis-instance"), "authEnabled", False),
    ),
    Mutation(
        "production-redis-unprotected",
        "production",
        "redis-protected",
        "redis-instance",
        _unprotect("redis-instance"),
    ),
    Mutation(
        "production-basic-tier",
        "production",
        "redis-standard-ha",
        "redis-instance",
        lambda g: set_prop(named(g, "redis-instance"), "tier", "BASIC"),
    ),
    Mutation(
        "production-password-in-env",
        "production",
        "env-secrets-from-secret-manager",
        "svc-backend-service",
        _plain_env("DB_PASSWORD", "hunter2"),
    ),
    Mutation(
        "production-secret-latest",
        "production",
        "secret-versions-pinned",
        "svc-backend-service",
        _secret_version("latest"),
    ),
    Mutation(
        "production-image-latest",
        "production",
        "cloud-run-images-pinned",
        "svc-backend-service",
        _image("svc-backend-service", "us-docker.pkg.dev/acme-chat-prod/chat/backend:latest"),
    ),
    Mutation(
        "production-probe-image-untagged",
        "production",
        "cloud-run-images-pinned",
        "probe-job",
        _image("probe-job", "us-docker.pkg.dev/acme-chat-prod/chat/redis-probe"),
    ),
    Mutation(
        "production-backend-open-to-all-users",
        "production",
        "cloud-run-redis-clients-not-public",
        "backend-public",
        _public_invoker(
            "svc-backend-service",
            "backend-public",
            "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
            "allUsers",
        ),
    ),
    Mutation(
        "production-auth-open-to-all-authenticated-users",
        "production",
        "cloud-run-redis-clients-not-public",
        "auth-invokers",
        _public_invoker(
            "svc-auth-service",
            "auth-invokers",
            "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
            "allAuthenticatedUsers",
        ),
    ),
    Mutation(
        "production-network-unprotected",
        "production",
        "network-protected",
        "network-vpc",
        _unprotect("network-vpc"),
    ),
    Mutation(
        "staging-tls-off",
        "staging",
        "redis-tls-enabled",
        "redis-instance",
        lambda g: set_prop(named(g, "redis-instance"), "transitEncryptionMode", "DISABLED"),
        "advisory",
    ),
    Mutation(
        "staging-auth-string-in-env",
        "staging",
        "env-secrets-from-secret-manager",
        "svc-backend-service",
        _auth_in_plain_env,
        "advisory",
    ),
    # -- a second case for each rule split out of a bundle ------------------------------------
    Mutation(
        "production-connector-subnet-29",
        "production",
        "connector-range-size",
        "network-connector-subnet",
        _connector_subnet_cidr("10.2.0.0/29"),
    ),
    Mutation(
        "connector-subnet-overlaps-redis-range",
        "staging",
        "network-ranges-disjoint",
        "redis-instance",
        _connector_subnet_cidr("10.4.0.0/28"),
    ),
    Mutation(
        "service-on-a-connector-of-no-stack",
        "production",
        "connector-in-service-region",
        "svc-backend-service",
        _literal_connector_in_service,
    ),
    Mutation(
        "staging-connector-off-redis-network",
        "staging",
        "connector-on-redis-network",
        "connector-connector",
        _redis_on_other_network,
    ),
    Mutation(
        "production-service-not-after-firewall-rule",
        "production",
        "service-depends-on-redis-egress-rule",
        "svc-auth-service",
        _drop_service_dep_on("firewall-redis-egress", "svc-auth-service"),
    ),
    Mutation(
        "staging-service-not-after-secret-iam",
        "staging",
        "service-depends-on-secret-grant",
        "svc-auth-service",
        _drop_service_dep_on("svc-auth-secret-access", "svc-auth-service"),
    ),
    Mutation(
        "production-connector-not-after-subnet",
        "production",
        "connector-depends-on-subnet",
        "connector-connector",
        _connector_without_subnet_dep,
    ),
    Mutation(
        "service-not-after-connector",
        "staging",
        "service-depends-on-vpc-egress",
        "svc-backend-service",
        _service_not_after_connector("svc-backend-service"),
    ),
    Mutation(
        "production-service-not-after-connector",
        "production",
        "service-depends-on-vpc-egress",
        "svc-auth-service",
        _service_not_after_connector("svc-auth-service"),
    ),
    Mutation(
        "secret-grant-missing",
        "staging",
        "secret-access-granted",
        "svc-backend-service",
        _drop_resource("svc-backend-secret-access"),
    ),
    Mutation(
        "production-secret-grant-missing",
        "production",
        "secret-access-granted",
        "svc-auth-service",
        _drop_resource("svc-auth-secret-access"),
    ),
    Mutation(
        "staging-auth-off",
        "staging",
        "redis-auth-enabled",
        "redis-instance",
        lambda g: set_prop(named(g, "redis-instance"), "authEnabled", False),
        "advisory",
    ),
    Mutation(
        "production-tls-off",
        "production",
        "redis-tls-enabled",
        "redis-instance",
        lambda g: set_prop(named(g, "redis-instance"), "transitEncryptionMode", "DISABLED"),
    ),
    Mutation(
        "staging-secret-latest",
        "staging",
        "secret-versions-pinned",
        "svc-backend-service",
        _secret_version("latest"),
        "advisory",
    ),
    Mutation(
        "staging-marked-production-is-basic",
        "staging",
        "redis-standard-ha",
        "redis-instance",
        _as_production(),
    ),
    Mutation(
        "production-persistence-off",
        "production",
        "redis-rdb-persistence",
        "redis-instance",
        lambda g: set_prop(
            named(g, "redis-instance"), "persistenceConfig", {"persistenceMode": "DISABLED"}
        ),
    ),
    Mutation(
        "staging-marked-production-without-persistence",
        "staging",
        "redis-rdb-persistence",
        "redis-instance",
        _as_production(),
    ),
    Mutation(
        "production-deletion-protection-off",
        "production",
        "redis-deletion-protection",
        "redis-instance",
        lambda g: set_prop(named(g, "redis-instance"), "deletionProtection", False),
    ),
    Mutation(
        "staging-marked-production-deletion-protection-off",
        "staging",
        "redis-deletion-protection",
        "redis-instance",
        _as_production(lambda g: set_prop(named(g, "redis-instance"), "deletionProtection", False)),
    ),
    Mutation(
        "staging-marked-production-redis-unprotected",
        "staging",
        "redis-protected",
        "redis-instance",
        _as_production(_unprotect("redis-instance")),
    ),
    Mutation(
        "staging-marked-production-network-unprotected",
        "staging",
        "network-protected",
        "network-vpc",
        _as_production(_unprotect("network-vpc")),
    ),
    Mutation(
        "shared-subnet-named-as-own",
        "shared-vpc",
        "no-hardcoded-network-references",
        "connector-connector",
        _shared_subnet_as_own,
    ),
    Mutation(
        "redis-on-another-host-network",
        "shared-vpc",
        "cloud-run-private-redis-path",
        "svc-backend-service",
        _redis_on_another_host_network,
    ),
    Mutation(
        "no-redis-rule-on-the-host",
        "shared-vpc",
        "redis-egress-firewall-rule",
        "svc-backend-service",
        _remove_host_rule,
    ),
    Mutation(
        "second-region-on-primary-connector",
        "multi-region",
        "connector-in-service-region",
        "connector-connector",
        _second_region_on_primary_connector,
    ),
    Mutation(
        "rule-misses-second-region",
        "multi-region",
        "redis-egress-firewall-rule",
        "svc-backend-use4-service",
        _rule_misses_second_region,
    ),
    # Direct VPC egress capacity (dev: backend at 5 a revision on a /26)
    Mutation(
        "dev-egress-subnet-a-27",
        "dev",
        "direct-vpc-egress-subnet-capacity",
        "network-run-egress-subnet",
        _egress_subnet_cidr("10.3.0.0/27"),
    ),
    Mutation(
        "dev-backend-20-a-revision",
        "dev",
        "direct-vpc-egress-subnet-capacity",
        "network-run-egress-subnet",
        _backend_max_instances(20),
    ),
    Mutation(
        "dev-backend-10-a-revision",
        "dev",
        "direct-vpc-egress-subnet-headroom",
        "network-run-egress-subnet",
        _backend_max_instances(10),
        level="advisory",
    ),
    Mutation(
        "dev-backend-manual-24",
        "dev",
        "direct-vpc-egress-subnet-headroom",
        "network-run-egress-subnet",
        _backend_manual_instances,
        level="advisory",
    ),
    # Memorystore for Valkey and Redis Cluster over Private Service Connect (third-party programs)
    Mutation(
        "psc-policy-of-redis-cluster-class",
        SCORES,
        "psc-service-connection-policy",
        "scores-valkey",
        _psc_set("scores-valkey-policy", "serviceClass", "gcp-memorystore-redis"),
    ),
    Mutation(
        "psc-policy-in-another-region",
        SCORES,
        "psc-service-connection-policy",
        "scores-valkey",
        _psc_set("scores-valkey-policy", "location", "us-east1"),
    ),
    Mutation(
        "psc-allow-discovery-port-only",
        SCORES,
        "psc-egress-firewall-rule",
        "scores-api",
        _psc_set("scores-to-valkey", "allows", [{"protocol": "tcp", "ports": ["6379"]}]),
    ),
    Mutation(
        "psc-allow-removed",
        SCORES,
        "psc-egress-firewall-rule",
        "scores-rollup",
        _psc_remove("scores-to-valkey"),
    ),
    Mutation(
        "psc-allow-not-logged",
        SCORES,
        "psc-egress-logged",
        "scores-api",
        _psc_del("scores-to-valkey", "logConfig"),
    ),
    Mutation(
        "psc-allow-logs-without-metadata",
        SCORES,
        "psc-egress-logged",
        "scores-api",
        _psc_set("scores-to-valkey", "logConfig", {"metadata": "EXCLUDE_ALL_METADATA"}),
    ),
    Mutation(
        "psc-instance-network-literal",
        SCORES,
        "no-hardcoded-psc-references",
        "scores-valkey",
        _psc_literal("scores-valkey", "desiredAutoCreatedEndpoints"),
    ),
    Mutation(
        "psc-policy-network-literal",
        SCORES,
        "no-hardcoded-psc-references",
        "scores-valkey-policy",
        _psc_literal("scores-valkey-policy", "network"),
    ),
    Mutation(
        "valkey-without-replicas",
        SCORES,
        "valkey-production-baseline",
        "scores-valkey",
        _psc_set("scores-valkey", "replicaCount", 0),
    ),
    Mutation(
        "valkey-auth-disabled",
        SCORES,
        "valkey-production-baseline",
        "scores-valkey",
        _psc_set("scores-valkey", "authorizationMode", "AUTH_DISABLED"),
    ),
    Mutation(
        "redis-cluster-single-zone",
        FEED,
        "redis-cluster-production-baseline",
        "feed-cluster",
        _psc_set("feed-cluster", "zoneDistributionConfig", {"mode": "SINGLE_ZONE"}),
    ),
    Mutation(
        "redis-cluster-plain-text",
        FEED,
        "redis-cluster-production-baseline",
        "feed-cluster",
        _psc_set("feed-cluster", "transitEncryptionMode", "TRANSIT_ENCRYPTION_MODE_DISABLED"),
    ),
]
