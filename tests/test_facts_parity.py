"""One home for each fact, on each side of the boundary: infra/facts.py for the program (infra/,
preflight/, verify/) and policies/guardrails/facts.py for the pack (self-contained: it imports
nothing of ours). Every fact both hold is equal, and no other module writes a type token."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from guardrails import facts as pack
from guardrails import settings
from guardrails.model import Connector, Res

from infra import facts as program
from tests.support import ROOT

TOKEN = re.compile(r"\bgcp:[A-Za-z0-9]+/[A-Za-z0-9]+:[A-Za-z0-9]+\b")


def _tokens(module) -> dict[str, str]:
    return {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and TOKEN.fullmatch(value)
    }


def test_type_tokens_both_sides_hold_are_equal():
    ours, theirs = _tokens(program), _tokens(pack)
    shared = ours.keys() & theirs.keys()
    # the resources on the Cloud Run -> connector -> Redis path and the secrets, at least
    assert {
        "NETWORK",
        "SUBNETWORK",
        "FIREWALL",
        "CONNECTOR",
        "REDIS",
        "RUN_SERVICE",
        "RUN_JOB",
        "RUN_V1_SERVICE",
        "GLOBAL_ADDRESS",
        "PSA_CONNECTION",
        "SECRET",
        "SECRET_IAM_MEMBER",
        "SERVICE_ACCOUNT",
    } <= shared
    assert {n: ours[n] for n in shared} == {n: theirs[n] for n in shared}
    # one token, one name: neither side holds the other's token under another name
    by_value = {v: n for n, v in ours.items()}
    assert {v: n for n, v in theirs.items() if v in by_value} == {
        v: by_value[v] for v in theirs.values() if v in by_value
    }


def test_production_marker_is_the_same_label():
    assert (pack.PRODUCTION_LABEL, pack.PRODUCTION_VALUE) == (
        program.PRODUCTION_LABEL,
        program.PRODUCTION_VALUE,
    )
    assert settings.PRODUCTION_LABELS_SETTING.default == {
        program.PRODUCTION_LABEL: program.PRODUCTION_VALUE
    }


def test_the_environment_label_is_the_one_the_pack_reads_first():
    assert pack.ENVIRONMENT_LABELS[0] == pack.ENVIRONMENT_LABEL == program.ENVIRONMENT_LABEL


def test_secret_words_are_the_same_and_the_packs_default():
    assert pack.SECRET_ENV_WORDS == program.SECRET_ENV_WORDS
    assert settings.SECRET_PATTERNS.default == list(program.SECRET_ENV_WORDS)
    assert "REDIS_AUTH" in program.SECRET_ENV_WORDS  # the word that had drifted


@pytest.mark.parametrize(
    "name, secret",
    [
        ("DB_PASSWORD", True),
        ("db_password", True),
        ("PASSWD", True),
        ("API_KEY", True),
        ("STRIPE_API_KEY_V2", True),
        ("GITHUB_TOKEN", True),
        ("CLIENT_SECRET", True),
        ("GOOGLE_CREDENTIALS", True),
        ("SSH_PRIVATE_KEY", True),
        ("AUTH_KEY", True),
        ("REDIS_AUTH", True),
        ("MY_REDIS_AUTH_STRING", True),
        ("DB__PASSWORD", True),
        ("DB-PASSWORD", True),
        ("_TOKEN_", True),
        ("AUTH_SERVICE_URL", False),
        ("OAUTH_CALLBACK_URL", False),
        ("REDIS_AUTH_SECRET_ID", True),
        ("REDIS_HOST", False),
        ("PASSWORDLESS_LOGIN", False),
        ("TOKENIZER_MODEL", False),
        ("KEY", False),
        ("AUTH", False),
        ("LOG_LEVEL", False),
        ("", False),
    ],
)
def test_looks_like_secret_agrees_with_the_packs_check(name, secret):
    assert program.looks_like_secret(name) is secret
    # what env-secrets-from-secret-manager runs with its default config
    assert pack.looks_like_secret(name, settings.SECRET_PATTERNS.default) is secret


@pytest.mark.parametrize(
    "region, name", [("europe-west1", "rvpc-staging-conn"), ("us-central1", "c")]
)
def test_connector_tag_format(region, name):
    tag = program.connector_network_tag(region, name)
    assert tag == f"vpc-connector-{region}-{name}"
    assert pack.connector_network_tag(region, name) == tag
    assert pack.CONNECTOR_UNIVERSAL_TAG == program.CONNECTOR_UNIVERSAL_TAG
    res = Res(
        urn=f"urn:pulumi:s::p::{pack.CONNECTOR}::conn", type=pack.CONNECTOR, name="conn", props={}
    )
    connector = Connector(res, name=name, region=region, network=None, subnet=None, cidr=None)
    assert connector.tags == {tag, program.CONNECTOR_UNIVERSAL_TAG}


FACTS_MODULES = {ROOT / "infra" / "facts.py", ROOT / "policies" / "guardrails" / "facts.py"}
SCANNED = ("policies/guardrails", "preflight")


def _literal_tokens(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [(node.lineno, t) for t in TOKEN.findall(node.value)]
    return found


def test_no_type_token_literal_outside_the_facts_modules():
    files = sorted(f for d in SCANNED for f in (ROOT / d).rglob("*.py") if f not in FACTS_MODULES)
    assert len(files) > 20
    offenders = [
        f"{f.relative_to(ROOT)}:{line}: {token}"
        for f in files
        for line, token in _literal_tokens(f)
    ]
    assert not offenders, (
        "write the token in the facts module and read it from there:\n" + "\n".join(offenders)
    )


def test_the_pack_imports_nothing_of_the_program():
    for f in (ROOT / "policies").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for n in names:
                assert n.split(".")[0] not in {"infra", "preflight", "verify"}, f"{f}: {n}"


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "image, moving",
    [
        ("us-docker.pkg.dev/p/r/app:1.42.0", False),
        ("us-docker.pkg.dev/p/r/app:v1", False),
        (f"us-docker.pkg.dev/p/r/app@{DIGEST}", False),
        (f"us-docker.pkg.dev/p/r/app:latest@{DIGEST}", False),
        ("localhost:5000/app:3", False),
        ("us-docker.pkg.dev/p/r/app:latest", True),
        ("us-docker.pkg.dev/p/r/app:Latest", True),
        ("us-docker.pkg.dev/p/r/app", True),
        ("localhost:5000/app", True),
        ("app:stable", True),
        ("gcr.io/p/app:main", True),
        ("gcr.io/p/app@sha256:abc", True),
    ],
)
def test_image_pinning_is_one_rule_on_both_sides(image, moving):
    """What the config refuses in production is what cloud-run-images-pinned reports."""
    assert pack.MOVING_TAGS == program.MOVING_TAGS
    assert (program.image_pin_problem(image) is not None) is moving
    assert pack.image_pin_problem(image) == program.image_pin_problem(image)


CAPACITY_FACTS = (
    "DIRECT_EGRESS_BLOCK",
    "DIRECT_EGRESS_ADDRESSES_PER_INSTANCE",
    "ROLLOUT_REVISIONS",
    "SUBNET_RESERVED_ADDRESSES",
    "SUBNET_UTILISATION_ADVICE",
    "DIRECT_EGRESS_SOURCE",
)


def test_direct_egress_capacity_is_one_rule_on_both_sides():
    """What the config refuses is what direct-vpc-egress-subnet-capacity reports: the same
    figures, the same rounding, the same usable count."""
    for name in CAPACITY_FACTS:
        assert getattr(pack, name) == getattr(program, name), name
    for instances in (0, 1, 4, 8, 9, 10, 20, 24, 100, 1000):
        need = program.direct_egress_addresses(instances)
        assert pack.direct_egress_addresses(instances) == need
        assert need % 16 == 0 and need >= 2 * instances and need - 2 * instances < 16
    assert program.direct_egress_addresses(10, revisions=2) == 48  # 40 -> three blocks of 16
    assert program.direct_egress_addresses(1) == 16
    assert program.direct_egress_addresses(0) == 0
    for prefix in (20, 24, 26, 28):
        usable = program.usable_addresses(prefix)
        assert pack.usable_addresses(prefix) == usable == 2 ** (32 - prefix) - 4
    assert program.usable_addresses(26) == 60
    for addresses, prefix in ((48, 26), (48, 25), (0, 28), (112, 24)):
        share = program.subnet_utilisation(addresses, prefix)
        assert pack.subnet_utilisation(addresses, prefix) == share
    assert program.subnet_utilisation(48, 26) == 52 / 64  # Network Analyzer's ratio: 81 %


def test_private_service_connect_facts_are_equal():
    for name in (
        "SERVICE_CONNECTION_POLICY",
        "PSC_SERVICE_CLASS",
        "PSC_SERVICE_CLASS_SOURCES",
        "PSC_PORTS_SOURCE",
        "PSC_DISCOVERY_PORT",
        "PSC_NODE_PORTS",
        "PSC_CONNECTION_ROLE",
    ):
        assert getattr(pack, name) == getattr(program, name), name
    assert set(program.PSC_SERVICE_CLASS) == {program.VALKEY, program.REDIS_CLUSTER}
    assert set(program.PSC_SERVICE_CLASS.values()) == set(program.PSC_SERVICE_CLASS_SOURCES)
