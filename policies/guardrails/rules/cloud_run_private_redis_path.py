"""A Cloud Run service or job that is a Redis client reaches Redis privately: VPC egress on
Redis's network covering private ranges, and the address and port taken from the instance."""

from __future__ import annotations

from typing import Any

from pulumi_policy import Severity

from guardrails import settings
from guardrails.common import Analysis, Findings, shared_vpc_host
from guardrails.model import (
    DEFAULT_REDIS_PORT,
    V1_EGRESS,
    EnvVar,
    Redis,
    RedisClient,
    Service,
    StackModel,
    client_host,
    client_port,
)
from guardrails.path import Path, egress_covers_private
from guardrails.rule import MANDATORY, Rule
from guardrails.values import UNKNOWN, as_int


def check(a: Analysis, cfg: dict[str, Any], out: Findings) -> None:
    m = a.model
    by_service: dict[str, list[Path]] = {}
    for p in a.paths:
        by_service.setdefault(p.service.res.urn, []).append(p)
    for svc in m.services:
        env = svc.env
        if env is UNKNOWN:
            out.unknown(svc.res, "env unknown")
            continue
        client = m.redis_client(svc)
        if client is None:
            continue
        for var in client.addresses:
            _typed_in_address(m, svc, var, out)
        for p in by_service.get(svc.res.urn, []):
            problems = list(p.problems)
            if p.host is not None and not shared_vpc_host(m, p.host, cfg):
                problems.append(_not_a_host(svc, p.host))
            for problem in problems:
                out.violation(
                    svc.res, f"{svc.res.name}: cannot reach Redis {p.redis.name}: {problem}"
                )
            if p.via is not None and (p.elsewhere is None or p.host is not None):
                covers = egress_covers_private(svc.egress)
                if covers is UNKNOWN:
                    out.unknown(svc.res, "egress setting unknown")
                elif not covers:
                    fix = (
                        f"{V1_EGRESS}: private-ranges-only"
                        if svc.v1
                        else "egress=PRIVATE_RANGES_ONLY"
                    )
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: {svc.prop('egress')} {svc.egress!r} does not send "
                        f"private ranges through the VPC. Fix: {fix}.",
                    )
            _env_from_instance(m, svc, client, p.redis, out)


def _not_a_host(svc: Service, host: str) -> str:
    return (
        f"its {svc.prop('connector')} {svc.connector.raw if svc.connector else None!r} is not a "
        f"connector of this stack, and {host} is not a Shared VPC host it may use (neither the "
        "host its Redis is authorized on nor one of policy config sharedVpcHostProjects). Fix: "
        "the connector's output (connector.id), a shared connector's id from its stack through a "
        "StackReference, or the connector of the host Redis is on."
    )


def _typed_in_address(m: StackModel, svc: Service, var: EnvVar, out: Findings) -> None:
    """A REDIS_HOST or Redis URL typed in that names no Memorystore instance of the stack. A value
    from another resource (a VM's address) or another stack is not Memorystore's business."""
    value = var.value
    if not isinstance(value, str) or var.secret is not None or m.instances_for(svc, var):
        return
    if not isinstance(client_host(var), str) or m.origin_elsewhere(svc, var):
        return
    out.violation(
        svc.res,
        f"{svc.res.name}: {var.name}={value!r} is typed in: it names no Memorystore instance of "
        "this stack and comes from no resource or stack reference, so it keeps pointing there "
        "whatever this stack creates. Fix: take it from the Redis instance's host output (or "
        "from an output of the stack or resource that serves Redis).",
    )


def _env_from_instance(
    m: StackModel, svc: Service, client: RedisClient, inst: Redis, out: Findings
) -> None:
    env = svc.env
    assert isinstance(env, dict)
    linked = inst.res.urn in svc.template_deps
    for address in client.addresses:
        if address.name != "REDIS_HOST" and _points_at(m, svc, address, inst):
            _url_from_instance(svc, address, inst, linked, out)
    if "REDIS_HOST" not in env:
        if not svc.env_complete:
            out.unknown(svc.res, "whether REDIS_HOST is set (an env name is unknown)")
        return  # a client by URL or by dependency: no host/port pair to check
    if not _points_at(m, svc, env["REDIS_HOST"], inst):
        return  # REDIS_HOST names another Redis (a VM, another stack's)
    for var, actual in (("REDIS_HOST", inst.host), ("REDIS_PORT", inst.port)):
        if var not in env:
            if not svc.env_complete:
                out.unknown(svc.res, f"whether {var} is set (an env name is unknown)")
            elif var == "REDIS_PORT":
                tls = inst.transit_encryption
                if tls is UNKNOWN:
                    out.unknown(svc.res, f"whether Redis {inst.name} serves on the default port")
                elif tls not in (None, "DISABLED"):
                    # Without TLS Memorystore serves on 6379, which clients assume; under TLS the
                    # instance serves on another port, which its `port` output reports (Google
                    # does not document the number; users report 6378).
                    out.violation(
                        svc.res,
                        f"{svc.res.name}: no REDIS_PORT, so clients assume 6379, but Redis "
                        f"{inst.name} uses TLS (transit encryption SERVER_AUTHENTICATION) and "
                        "then serves on another port, the one its port output reports (Google "
                        "does not document the number). Fix: REDIS_PORT from the instance's port "
                        "output.",
                    )
            continue
        value = env[var].value
        if value is UNKNOWN or env[var].secret is not None:
            continue  # computed, or read from Secret Manager: not typed in
        typed = not linked
        if (
            not typed
            and actual in (None, UNKNOWN)
            and var == "REDIS_PORT"
            and _tls_on_6379(inst, value)
        ):
            out.violation(svc.res, _tls_port_message(svc, inst, f"{var}={value!r}"))
            continue
        if not typed and actual is UNKNOWN:
            # A known value beside an unknown output may still be derived from the instance
            # (the dependency is recorded per top-level property): it cannot be proven typed in.
            out.unknown(svc.res, f"whether {var} is the instance's value")
            continue
        if not typed and actual is not None and str(value) != str(actual):
            out.violation(
                svc.res,
                f"{svc.res.name}: {var}={value!r} but Redis {inst.name} serves on {actual!r}. "
                f"Fix: {var} from the instance's output.",
            )
        elif typed:
            out.violation(
                svc.res,
                f"{svc.res.name}: {var}={value!r} is typed in, not taken from Redis {inst.name}. "
                f"Fix: {var} from the instance's {'host' if var == 'REDIS_HOST' else 'port'} "
                "output.",
            )


def _points_at(m: StackModel, svc: Service, var: EnvVar, inst: Redis) -> bool:
    return any(i is inst for i in m.instances_for(svc, var))


def _url_from_instance(svc: Service, var: EnvVar, inst: Redis, linked: bool, out: Findings) -> None:
    """A Redis URL (REDIS_URL, or any redis:// value) for this instance: built from its outputs,
    naming its address and port (a URL without a port means 6379)."""
    value = var.value
    if not isinstance(value, str) or var.secret is not None:
        return  # computed (not known yet), or read from Secret Manager
    scheme = "rediss" if inst.transit_encryption == "SERVER_AUTHENTICATION" else "redis"
    fix = f"Fix: build it from the instance's host and port outputs ({scheme}://HOST:PORT)."
    if not linked:
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name}={value!r} is typed in, not built from Redis "
            f"{inst.name}'s outputs. {fix}",
        )
        return
    host, port = client_host(var), client_port(var)
    if isinstance(inst.host, str) and host not in (inst.host, inst.res.props.get("readEndpoint")):
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name} names host {host!r} but Redis {inst.name} serves at "
            f"{inst.host!r}. {fix}",
        )
        return
    if inst.transit_encryption == "SERVER_AUTHENTICATION" and value.startswith("redis://"):
        # "When in-transit encryption is enabled Redis clients communicate exclusively across a
        # secure port connection. Redis clients that are not configured for TLS will be blocked."
        # (https://cloud.google.com/memorystore/docs/redis/in-transit-encryption)
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name}={value!r} uses the plain redis:// scheme, but Redis "
            f"{inst.name} serves TLS (transit encryption SERVER_AUTHENTICATION) and blocks "
            f"clients not configured for TLS. Fix: the rediss:// scheme, with the instance's CA "
            "certificate (server_ca_certs output) installed in the client.",
        )
        return
    if inst.port in (None, UNKNOWN) and port is not None and _tls_on_6379(inst, port):
        out.violation(svc.res, _tls_port_message(svc, inst, f"{var.name}={value!r}"))
        return
    if inst.host is UNKNOWN or inst.port is UNKNOWN:
        out.unknown(svc.res, f"whether {var.name} names Redis {inst.name}'s address and port")
        return
    if isinstance(inst.port, int) and port is not None and port != inst.port:
        out.violation(
            svc.res,
            f"{svc.res.name}: {var.name} names port {port} (6379 when it names none) but Redis "
            f"{inst.name} serves on {inst.port}. {fix}",
        )


def _tls_on_6379(inst: Redis, port: Any) -> bool:
    """A literal client port of 6379 for a TLS instance, while its port output is not known yet
    (preview): without TLS Memorystore serves on 6379, under TLS on another port (the same fact
    the missing-REDIS_PORT check above relies on; Google does not document the number)."""
    return inst.transit_encryption == "SERVER_AUTHENTICATION" and as_int(port) == DEFAULT_REDIS_PORT


def _tls_port_message(svc: Service, inst: Redis, what: str) -> str:
    return (
        f"{svc.res.name}: {what} is 6379, but Redis {inst.name} uses TLS (transit encryption "
        "SERVER_AUTHENTICATION) and then serves on another port, the one its port output "
        "reports. Fix: take the port from the instance's port output."
    )


RULE = Rule(
    name="cloud-run-private-redis-path",
    description="A Cloud Run service or job (v2, or v1 through its revision annotations) that is a "
    "Redis client (REDIS_HOST, REDIS_URL, a redis:// or rediss:// value, or a dependency on a "
    "Memorystore instance) reaches Redis privately: VPC egress on the Redis network covering "
    "private ranges, and the address and port taken from the instance.",
    level=MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Give the service VPC egress (connector or network interfaces) on Redis's network "
    "with egress PRIVATE_RANGES_ONLY, and take REDIS_HOST/REDIS_PORT from the instance's outputs.",
    tags=("cloud-run", "path"),
    check=check,
    settings=(settings.SHARED_VPC_HOSTS,),
)
