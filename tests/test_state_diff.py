"""The gate reviews a change against the deployed state (`--state`, what `pulumi stack export`
writes): fixtures in the export format, built from the program's own run and edited."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from preflight.changes import hazards, render_steps, unacknowledged
from preflight.diff import Step, against_state, diff
from preflight.replacements import BLOCKS, FORCE_NEW, replaces
from preflight.stackfile import load_stack_config, stacks
from preflight.state import ENCRYPTED, StateError, parse_state
from tests import statefix as sf
from tests.support import ROOT, run_module, run_preflight

IMAGE_V41 = "us-docker.pkg.dev/acme-chat-staging/chat/backend:v41"


def changes(data: dict, stack: str = "staging") -> dict[str, Step]:
    state = sf.state(data)
    _, steps = against_state(ROOT, stack, load_stack_config(ROOT, stack), state)
    return {s.name: s for s in steps}


def changed(steps: dict[str, Step]) -> dict[str, str]:
    return {n: s.op for n, s in steps.items() if s.op != "same"}


def config_with(stack: str, key: str, **fields: object) -> dict[str, str]:
    """A structured config key with some fields changed (full key -> JSON string)."""
    value = json.loads(load_stack_config(ROOT, stack)[f"redis-vpc:{key}"])
    value.update(fields)
    return {f"redis-vpc:{key}": json.dumps(value)}


@pytest.fixture(scope="module")
def staging() -> dict:
    return sf.deployed_export("staging")


@pytest.fixture(scope="module")
def moved_region() -> dict:
    """Deployed in europe-west1 with Redis's deletion protection off (the first deploy of the
    two-step path: with it on, the move is blocked, tests/test_state_engine.py)."""
    off = config_with("staging", "redis", deletionProtection=False)
    return sf.deployed_export("staging", **{"gcp:region": "europe-west1"}, **off)


def bump_image(data: dict) -> None:
    svc = sf.entry(data, "svc-backend-service")
    for side in ("inputs", "outputs"):
        svc[side]["template"]["containers"][0]["image"] = IMAGE_V41


# -- the export format ---------------------------------------------------------------------------
def test_the_fixture_is_what_the_cli_exports(staging):
    """Version 3 deployment with manifest, secrets provider, the stack and the default provider
    first; custom resources carry the provider reference and the bridge's __defaults."""
    dep = staging["deployment"]
    assert staging["version"] == 3 and set(dep) >= {"manifest", "secrets_providers", "resources"}
    types = [r["type"] for r in dep["resources"][:2]]
    assert types == ["pulumi:pulumi:Stack", "pulumi:providers:gcp"]
    redis = sf.entry(staging, "redis-instance")
    assert redis["custom"] and redis["id"].startswith("projects/acme-chat-staging/locations/")
    assert redis["provider"].startswith("urn:pulumi:staging::redis-vpc::pulumi:providers:gcp::")
    assert redis["inputs"]["__defaults"] == []
    state = sf.state(staging)
    assert (state.stack, state.project, state.secrets) == ("staging", "redis-vpc", "passphrase")


@pytest.mark.parametrize("stack", stacks(ROOT))
def test_no_change_is_all_same(stack):
    data = sf.deployed_export(stack)
    steps = changes(data, stack)
    assert changed(steps) == {}
    assert len(steps) == len([r for r in sf.state(data).resources if r.managed]) > 10


# -- updates and replacements -------------------------------------------------------------------
def test_an_image_bump_is_an_in_place_update(staging):
    steps = changes(sf.edited(staging, bump_image))
    assert changed(steps) == {"svc-backend-service": "update"}
    s = steps["svc-backend-service"]
    assert s.diffs == ["template.containers[0].image"] and s.replace_because == []
    text = render_steps(list(steps.values()), hazards(steps.values()), [])
    assert f"~ template.containers[0].image: {IMAGE_V41} -> " in text
    assert re.search(r"^ ~ +gcp:cloudrunv2/service:Service  svc-backend-service$", text, re.M)


def test_a_region_change_replaces_redis_and_the_path(moved_region):
    steps = changes(moved_region)
    ops = changed(steps)
    for name in ("redis-instance", "connector-connector", "network-connector-subnet"):
        assert ops[name] == "replace" and steps[name].replace_because == ["region"]
    # A new instance means a new AUTH string: the secret version is replaced with it, and every
    # service reads the new host, port and CA (unknown until the instance exists).
    assert ops["redis-auth-secret-version"] == "replace"
    assert steps["redis-auth-secret-version"].computed == ["secretData"]
    assert "template.containers[0].envs[1].value" in steps["svc-backend-service"].computed
    found = hazards(steps.values())
    assert {h.step.name for h in found} == {
        "redis-instance",
        "connector-connector",
        "network-connector-subnet",
    }
    (redis,) = [h.text() for h in found if h.step.name == "redis-instance"]
    assert "forced by region (ForceNew)" in redis and "every session is lost" in redis


def test_a_smaller_connector_is_replaced_a_larger_one_updated():
    smaller = changes(
        sf.deployed_export("staging", **config_with("staging", "connector", maxInstances=5))
    )
    assert changed(smaller)["connector-connector"] == "replace"
    assert "fewer instances" in hazards(smaller.values())[0].text()

    def fewer(data: dict) -> None:  # deployed with 2 at most; the program asks for 3
        sf.entry(data, "connector-connector")["inputs"]["maxInstances"] = 2

    larger = changes(sf.edited(sf.deployed_export("staging"), fewer))
    assert changed(larger) == {"connector-connector": "update"}
    assert larger["connector-connector"].diffs == ["maxInstances"]
    assert hazards(larger.values()) == []


def test_a_changed_reserved_range_is_flagged_where_ignore_changes_hides_it():
    """Redis ignores reservedIpRange (it is not read back after an import): the firewall follows
    the new range, the instance would keep the old one."""
    steps = changes(
        sf.deployed_export(
            "staging", **config_with("staging", "network", redisReservedRange="10.4.0.8/29")
        )
    )
    assert changed(steps) == {"firewall-redis-egress": "update"}
    assert steps["redis-instance"].ignored == ["reservedIpRange"]
    (h,) = hazards(steps.values())
    assert h.step.name == "redis-instance" and "10.4.0.8/29 -> 10.4.0.0/29" in h.text()
    assert unacknowledged([h], ["redis-instance"]) == []


def test_a_removed_service_is_deleted():
    cfg = json.loads(load_stack_config(ROOT, "staging")["redis-vpc:services"])
    cfg["legacy"] = dict(cfg["auth"])
    steps = changes(sf.deployed_export("staging", **{"redis-vpc:services": json.dumps(cfg)}))
    assert changed(steps) == {
        "svc-legacy": "delete",
        "svc-legacy-sa": "delete",
        "svc-legacy-secret-access": "delete",
        "svc-legacy-service": "delete",
    }
    assert hazards(steps.values()) == []  # a service holds no data: shown, not blocking
    text = render_steps(list(steps.values()), [], [])
    assert " -  gcp:cloudrunv2/service:Service  svc-legacy-service" in text


def test_a_protected_resource_is_blocked_and_no_acknowledgement_lifts_it():
    steps = changes(
        sf.deployed_export("production", **{"gcp:region": "europe-west1"}), "production"
    )
    found = hazards(steps.values())
    blocked = {h.step.name: h.text() for h in found if h.blocked}
    # Pulumi `protect` on the subnet; on Redis too, and the provider's deletionProtection on
    # Redis and on production's Cloud Run services and job (replaced by the region move).
    assert set(blocked) == {
        "redis-instance",
        "network-connector-subnet",
        "svc-auth-service",
        "svc-backend-service",
        "probe-job",
    }
    every = [h.step.name for h in found]
    assert {h.step.name for h in unacknowledged(found, every)} == set(blocked)
    assert "pulumi state unprotect" in blocked["network-connector-subnet"]
    assert "deletionProtection is true in the deployed state" in blocked["probe-job"]


def test_a_protected_resource_removed_from_the_program_is_blocked(staging):
    def extra(data: dict) -> None:
        gone = json.loads(json.dumps(sf.entry(data, "svc-auth-sa")))
        gone["urn"] = gone["urn"].replace("svc-auth-sa", "old-sa")
        gone["protect"] = True
        sf.resources(data).append(gone)

    steps = changes(sf.edited(staging, extra))
    assert changed(steps) == {"old-sa": "delete"}
    (h,) = hazards(steps.values())
    assert h.blocked and "refuses to delete" in h.text()


# -- adopting hand-made resources ---------------------------------------------------------------
def imported(data: dict) -> None:
    """What `pulumi import` stores for the hand-made network, connector and Redis: every field
    the provider reads back as an input (computed ones included), no reservedIpRange (not read
    back), the import id, and no propertyDependencies."""
    redis = sf.entry(data, "redis-instance")
    redis["inputs"].pop("reservedIpRange")
    redis["inputs"].update(
        locationId="us-central1-a",
        redisConfigs={},
        replicaCount=0,
        readReplicasMode="READ_REPLICAS_DISABLED",
    )
    net = sf.entry(data, "network-vpc")
    net["inputs"].update(routingMode="REGIONAL", mtu=1460, deleteDefaultRoutesOnCreate=False)
    conn = sf.entry(data, "connector-connector")
    conn["inputs"].update(minThroughput=200, maxThroughput=300)
    for entry in (redis, net, conn):
        entry["importID"] = entry["id"]
        entry.pop("propertyDependencies", None)
        entry.pop("dependencies", None)


def test_an_imported_network_connector_and_redis_are_not_replaced(staging):
    steps = changes(sf.edited(staging, imported))
    for name in ("redis-instance", "network-vpc", "connector-connector"):
        assert steps[name].op == "same", (name, steps[name].diffs)
    assert hazards(steps.values()) == []


def test_without_ignore_changes_an_imported_redis_would_be_replaced(staging):
    """The same import against a program that sets reservedIpRange and does not ignore it."""
    state = sf.state(sf.edited(staging, imported))
    graph, _ = sf.run("staging", deployed=state, preview=True)
    (redis,) = [r for r in graph.resources if r.name == "redis-instance"]
    redis.options["ignoreChanges"] = []
    (step,) = [s for s in diff(graph, state) if s.name == "redis-instance"]
    assert step.op == "replace" and step.replace_because == ["reservedIpRange"]


# -- secrets -------------------------------------------------------------------------------------
def test_secrets_compare_when_shown_and_are_never_guessed_when_encrypted():
    graph, ids = sf.run("staging")
    shown, hidden = sf.export_of(graph, ids), sf.export_of(graph, ids, show_secrets=False)
    version = sf.entry(shown, "redis-auth-secret-version")["inputs"]["secretData"]
    assert set(version) == {sf.wire.SIG, "plaintext"} and json.loads(version["plaintext"])
    assert "ciphertext" in sf.entry(hidden, "redis-auth-secret-version")["inputs"]["secretData"]
    assert sf.state(hidden).encrypted > 0 and sf.state(shown).encrypted == 0
    assert changed(changes(shown)) == {}
    quiet = changes(hidden)
    assert changed(quiet) == {}
    assert "secretData" in quiet["redis-auth-secret-version"].unverified
    text = render_steps(list(quiet.values()), [], [])
    assert "Not compared (encrypted in the export" in text
    assert "redis-auth-secret-version.secretData" in text

    def rotated(data: dict) -> None:
        entry = sf.entry(data, "redis-auth-secret-version")
        entry["inputs"]["secretData"]["plaintext"] = json.dumps("an-old-auth-string")

    steps = changes(sf.edited(shown, rotated))
    assert steps["redis-auth-secret-version"].op == "replace"
    assert "an-old-auth-string" not in render_steps(list(steps.values()), [], [])


def test_a_plaintext_secret_is_decoded_from_its_json():
    data = {
        "version": 3,
        "deployment": {
            "resources": [
                {
                    "urn": "urn:pulumi:s::p::gcp:x/y:Z::a",
                    "custom": True,
                    "type": "gcp:x/y:Z",
                    "inputs": {"k": {sf.wire.SIG: sf.wire.SECRET_SIG, "plaintext": '{"a": [1]}'}},
                    "outputs": {"k": {sf.wire.SIG: sf.wire.SECRET_SIG, "ciphertext": "v1:x"}},
                }
            ]
        },
    }
    (r,) = parse_state(data).resources
    assert r.inputs["k"] == sf.wire.secret({"a": [1]})
    assert r.outputs["k"] == sf.wire.secret(ENCRYPTED)


# -- the provider's facts -----------------------------------------------------------------------
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def test_the_replace_table_matches_docs_provider_facts():
    """docs/provider-facts.md's "replace on any change" column, top-level fields, is the code's
    FORCE_NEW plus the ForceNew blocks, for every shipped type."""
    rows = {}
    for line in (ROOT / "docs" / "provider-facts.md").read_text().splitlines():
        m = re.match(r"^\| `(gcp:[^`]+)` \(`google_[a-z0-9_]+`\) \| [^|]+ \| ([^|]+) \|", line)
        if m:
            rows[m[1]] = {_camel(f) for f in re.findall(r"`([a-z0-9_.]+)`", m[2]) if "." not in f}
    assert set(rows) == set(FORCE_NEW), "every shipped type has one row and one entry"
    for type_, fields in rows.items():
        blocks = {b for b in BLOCKS.get(type_, ()) if "." not in b}
        assert fields == FORCE_NEW[type_] | blocks, type_


@pytest.mark.parametrize(
    ("type_", "path", "old", "new", "replaced"),
    [
        ("gcp:redis/instance:Instance", "redisVersion", "REDIS_7_2", "REDIS_7_0", True),
        ("gcp:redis/instance:Instance", "redisVersion", "REDIS_7_0", "REDIS_7_2", False),
        ("gcp:redis/instance:Instance", "memorySizeGb", 5, 1, False),
        ("gcp:compute/subnetwork:Subnetwork", "ipCidrRange", "10.2.0.0/28", "10.2.0.0/27", False),
        ("gcp:compute/subnetwork:Subnetwork", "ipCidrRange", "10.2.0.0/27", "10.2.0.0/28", True),
        ("gcp:vpcaccess/connector:Connector", "subnet.name", "a", "b", True),
        ("gcp:vpcaccess/connector:Connector", "machineType", "e2-micro", "f1-micro", False),
        ("gcp:vpcaccess/connector:Connector", "subnet", None, {"name": "a"}, True),
        ("gcp:compute/firewall:Firewall", "network", "a", "b", False),
        ("gcp:secretmanager/secret:Secret", "replication.auto", {}, None, True),
    ],
)
def test_replace_on_change_rules(type_, path, old, new, replaced):
    assert (replaces(type_, path, old, new) is not None) is replaced


# -- the gate --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory, staging, moved_region) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("state")
    return {
        "image": sf.write(sf.edited(staging, bump_image), d / "image.json"),
        "region": sf.write(moved_region, d / "region.json"),
    }


def test_the_gate_passes_an_image_bump_and_shows_it(files):
    run = run_preflight("staging", "--state", str(files["image"]))
    assert run.returncode == 0, run.stderr
    assert f"template.containers[0].image: {IMAGE_V41} -> " in run.stdout
    assert "The policy pack on the deployed state:" in run.stdout


def test_the_gate_fails_a_region_change_until_acknowledged(files):
    run = run_preflight("staging", "--state", str(files["region"]), "--format", "json")
    assert run.returncode == 1, run.stderr
    (stack,) = json.loads(run.stdout)["stacks"]
    ops = {s["urn"].rsplit("::", 1)[1]: s for s in stack["steps"]}
    assert ops["redis-instance"]["op"] == "replace" and "region" in ops["redis-instance"]["diffs"]
    assert {"urn", "type", "op", "diffs"} <= set(ops["redis-instance"])
    ack = [
        a
        for name in ("redis-instance", "connector-connector", "network-connector-subnet")
        for a in ("--allow-replace", name)
    ]
    run = run_preflight("staging", "--state", str(files["region"]), *ack)
    assert run.returncode == 0, run.stdout[-2000:]
    assert run.stdout.count("acknowledged: ") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["production"], "is the export of stack 'staging', not 'production'"),
        (
            ["staging", "--allow-replace", "redis-instanc"],
            "--allow-replace redis-instanc: no resource",
        ),
        (["--all"], "--state is one stack's export"),
    ],
)
def test_the_gate_refuses_what_does_not_fit(files, args, message):
    run = run_preflight(*args, "--state", str(files["image"]))
    assert run.returncode == 2 and message in run.stderr, run.stderr


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 2, "deployment": {}}, "version 2 is not a deployment version"),
        ({"target": "dev", "latest": {}}, "no deployment or checkpoint"),
        (
            {"version": 3, "deployment": {"resources": [{"type": "x"}]}},
            "resources[0]: urn is missing",
        ),
        (
            {"version": 3, "deployment": {"resources": [{"urn": "u", "type": "t"}]}},
            "resources[0]: invalid URN 'u'",
        ),
        (
            {
                "version": 3,
                "deployment": {
                    "resources": [
                        {"urn": "urn:pulumi:s::p::t::u", "type": "t", "dependencies": "x"}
                    ]
                },
            },
            "dependencies must be a list of URNs",
        ),
    ],
)
def test_a_broken_export_is_named(data, message):
    with pytest.raises(StateError, match=re.escape(message)):
        parse_state(data)


def test_a_broken_export_file_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = run_module("preflight", "staging", "--state", str(bad))
    assert run.returncode == 2 and f"--state {bad}: not JSON" in run.stderr


def test_private_services_access_moved_to_the_network_is_not_replaced():
    """The allocated range and the peering moved from the Redis component to the network (one
    peering per VPC): a production stack deployed before the move plans no change at all, since
    their aliases name the URNs they had."""
    data = sf.deployed_export("production")
    text = json.dumps(data)
    for new, old in (
        ("network-psa-range", "redis-psa-range"),
        ("network-psa-peering", "redis-psa-peering"),
    ):
        (res,) = [r for r in sf.resources(data) if r["urn"].endswith("::" + new)]
        urn = res["urn"]
        head, chain, _ = urn.rsplit("::", 2)
        parent_type = "redis-vpc:redis:Redis"
        old_urn = f"{head}::{parent_type}${chain.split('$')[-1]}::{old}"
        text = text.replace(f'"{urn}"', f'"{old_urn}"')
    before = json.loads(text)
    for old in ("redis-psa-range", "redis-psa-peering"):
        sf.entry(before, old)["parent"] = sf.entry(before, "redis")["urn"]
    steps = changes(before, "production")
    assert changed(steps) == {}
    assert {
        steps[n].deployed_urn.rsplit("::", 1)[1]
        for n in ("network-psa-range", "network-psa-peering")
    } == {
        "redis-psa-range",
        "redis-psa-peering",
    }
