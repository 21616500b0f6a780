"""Application secrets (`redis-vpc:services.<name>.secrets`): an env var read from an existing
Secret Manager secret through secretKeyRef, with accessor for the service's own account on that
secret only — from the stack file, through the recorded requests, to the pack's verdict."""

from __future__ import annotations

import copy
import json

import pytest

from infra import facts
from infra.config import ConfigError, parse_config
from preflight.analyzer import PolicyPackProcess
from preflight.engine import Emulation
from tests.support import MODES, ROOT, env_vars, stack_config

SECRETS = {"DB_PASSWORD": "chat-db-password:3", "STRIPE_API_KEY": "stripe-key"}


def _raw(stack: str = "staging", secrets: dict[str, str] | None = None) -> dict[str, str]:
    raw = stack_config(stack)
    services = json.loads(raw["redis-vpc:services"])
    services["backend"]["secrets"] = SECRETS if secrets is None else secrets
    raw["redis-vpc:services"] = json.dumps(services)
    return raw


def _error(raw: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return info.value


def test_refs_resolve_to_id_and_version():
    cfg = parse_config(_raw())
    refs = cfg.services["backend"].secret_refs
    assert {v: (r.secret_id, r.version) for v, r in refs.items()} == {
        "DB_PASSWORD": ("chat-db-password", "3"),
        "STRIPE_API_KEY": ("stripe-key", "latest"),
    }
    assert cfg.services["auth"].secret_refs == {}


@pytest.mark.parametrize(
    "ref", ["", "has space", "a/b", "id:0", "id:v1", "id:", "x" * 256, "id:3:4"]
)
def test_a_malformed_ref_names_the_key(ref):
    err = _error(_raw(secrets={"DB_PASSWORD": ref}))
    assert err.key == "redis-vpc:services.backend.secrets.DB_PASSWORD"
    assert "secret-id or secret-id:version" in err.rule


def test_reserved_and_duplicate_vars_are_rejected():
    err = _error(_raw(secrets={"REDIS_AUTH": "mine:1"}))
    assert err.key == "redis-vpc:services.backend.secrets.REDIS_AUTH"
    assert "set by the stack" in err.rule
    err = _error(_raw(secrets={"LOG_LEVEL": "level:1"}))
    assert err.key == "redis-vpc:services.backend.secrets.LOG_LEVEL"
    assert "also a plain value" in err.rule


def test_production_pins_versions():
    err = _error(_raw("production", secrets={"DB_PASSWORD": "chat-db-password"}))
    assert err.key == "redis-vpc:services.backend.secrets.DB_PASSWORD"
    assert "pins secret versions" in err.rule
    parse_config(_raw("production", secrets={"DB_PASSWORD": "chat-db-password:7"}))


def test_a_plain_secret_like_value_says_how_to_use_secrets():
    raw = stack_config("staging")
    services = json.loads(raw["redis-vpc:services"])
    services["backend"]["env"]["DB_PASSWORD"] = "hunter2"
    raw["redis-vpc:services"] = json.dumps(services)
    err = _error(raw)
    assert err.key == "redis-vpc:services.backend.env.DB_PASSWORD"
    assert "hunter2" not in str(err)
    assert "redis-vpc:services.backend.secrets: {DB_PASSWORD: <secret-id>:<version>}" in str(err)


@pytest.fixture(scope="module", params=MODES, ids=["update", "preview"])
def graph(request):
    return Emulation(ROOT, "staging", config=_raw(), preview=request.param).run()


def _named(graph, name):
    return next(r for r in graph.resources if r.name == name)


def test_service_reads_each_secret_through_secret_key_ref(graph):
    env = env_vars(_named(graph, "svc-backend-service"))
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueSource": {"secretKeyRef": {"secret": "chat-db-password", "version": "3"}},
    }
    assert env["STRIPE_API_KEY"]["valueSource"]["secretKeyRef"] == {
        "secret": "stripe-key",
        "version": "latest",
    }
    assert "value" not in env["DB_PASSWORD"]
    # The other service reads none of them.
    assert "DB_PASSWORD" not in env_vars(_named(graph, "svc-auth-service"))


def test_each_secret_is_granted_to_the_services_own_account_only(graph):
    grants = {r.name: r for r in graph.by_type(facts.SECRET_IAM_MEMBER)}
    redis_auth = {"svc-backend-secret-access", "svc-auth-secret-access", "probe-secret-access"}
    backend = {n: g for n, g in grants.items() if n.startswith("svc-backend-secret-")}
    backend = {n: g for n, g in backend.items() if n not in redis_auth}
    assert sorted(g.inputs["secretId"] for g in backend.values()) == [
        "chat-db-password",
        "stripe-key",
    ]
    # Nobody else is granted the application's secrets.
    assert set(grants) == redis_auth | set(backend)
    account = _named(graph, "svc-backend-sa")
    for g in backend.values():
        assert g.inputs["role"] == "roles/secretmanager.secretAccessor"
        assert g.propertyDependencies["member"] == [account.urn]
        assert g.parent == _named(graph, "svc-backend").urn
    assert not any(
        n.startswith("svc-auth-secret-") and "-access" in n and "stripe" in n for n in grants
    )
    # The service starts only after every grant it needs exists.
    service = _named(graph, "svc-backend-service")
    assert {g.urn for g in backend.values()} <= set(service.dependencies)


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_the_pack_accepts_it_and_catches_a_missing_grant(preview):
    from tests.mutations import named

    graph = Emulation(ROOT, "staging", config=_raw(), preview=preview).run()
    pack = PolicyPackProcess(
        ROOT / "policies", project="redis-vpc", stack="staging", dry_run=preview, config=_raw()
    )
    pack.start()
    try:
        verdict = pack.evaluate(graph)
        assert verdict.mandatory == [], [d.message for d in verdict.mandatory]
        broken = copy.deepcopy(graph)
        grant = named(broken, "svc-backend-secret-chat-db-password-access")
        broken.resources.remove(grant)
        for r in broken.resources:
            r.dependencies = [d for d in r.dependencies if d != grant.urn]
        verdict = pack.evaluate(broken)
        messages = [d.message for d in verdict.by_policy("secret-access-granted")]
        # Decided in preview too: the account's email is unknown, but no grant left in the
        # stack may cover the secret for it (the other grants depend on other accounts, or
        # cover other secrets).
        assert any("chat-db-password" in m and "DB_PASSWORD" in m for m in messages), messages
        assert verdict.by_policy("secret-access-granted")[0].level == "mandatory"
    finally:
        pack.stop()
