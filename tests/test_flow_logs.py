"""Direct VPC egress is observable: Cloud Run's Direct VPC egress is not recorded by VPC firewall
rules logging (https://cloud.google.com/run/docs/configuring/vpc-direct-vpc, Limitations), so
the egress subnet's VPC Flow Logs are the path's record. The program turns them on (with all
metadata) on every Direct VPC egress subnet it creates, with the stack's interval and sampling;
the pack requires them on the egress subnet of every Direct VPC egress workload, through the
Analyzer protocol, in update and preview."""

from __future__ import annotations

import copy
import json

import pytest

from preflight import wire
from preflight.engine import Emulation
from preflight.graph import Graph
from tests.mutations import del_prop, drop_dep, named, set_prop
from tests.support import MODES, ROOT, PackPool, config_errors, settings, stack_config, stack_graph

SUBNET = "gcp:compute/subnetwork:Subnetwork"
RUN = "gcp:cloudrunv2/service:Service"
POLICY = "direct-egress-flow-logs"
ADVICE = "direct-egress-flow-logs-unverified"
DEV_SUBNET = "network-run-egress-subnet"  # the dev stack's Direct VPC egress subnet


def _network(stack: str, **flow_logs: object) -> dict[str, str]:
    raw = stack_config(stack)
    net = json.loads(raw.get("redis-vpc:network", "{}"))
    net["flowLogs"] = flow_logs
    raw["redis-vpc:network"] = json.dumps(net)
    return raw


def _direct_multi_region(**flow_logs: object) -> dict[str, str]:
    raw = stack_config("multi-region")
    raw["redis-vpc:vpcEgress"] = "direct"
    # /23s: the multi-region backend's 50 instances need 208 addresses per region during a
    # rollout (infra.config's Direct VPC egress capacity check refuses a /26).
    net = {"directEgressCidr": "10.3.0.0/23", "redisReservedRange": "10.5.0.0/24"}
    if flow_logs:
        net["flowLogs"] = flow_logs  # type: ignore[assignment]
    raw["redis-vpc:network"] = json.dumps(net)
    raw["redis-vpc:regions"] = json.dumps({"us-east4": {"directEgressCidr": "10.3.2.0/23"}})
    return raw


# -- stack config ------------------------------------------------------------------------------


def test_flow_log_defaults_are_googles_finest_interval_and_half_the_flows():
    flow = settings("dev").network.flow_logs
    assert (flow.aggregation_interval, flow.flow_sampling) == ("INTERVAL_5_SEC", 0.5)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"aggregationInterval": "5s"}, "aggregationInterval", "INTERVAL_5_SEC"),
        ({"flowSampling": 0}, "flowSampling", "0 reports no flows"),
        ({"flowSampling": -0.1}, "flowSampling", "greater than 0"),
        ({"flowSampling": 1.5}, "flowSampling", "must be at most 1"),
        ({"flowSampling": "half"}, "flowSampling", "number"),
        (
            {"metadata": "EXCLUDE_ALL_METADATA"},
            "metadata",
            "unknown key: known keys here: aggregationInterval",
        ),
    ],
)
def test_bad_flow_log_settings_name_the_key(change, key, words):
    errors = config_errors(_network("dev", **change))
    full = f"redis-vpc:network.flowLogs.{key}"
    assert list(errors) == [full], errors
    assert words in errors[full], errors[full]


def test_the_intervals_are_the_ones_google_lists():
    from typing import get_args

    from infra import limits
    from infra.config import FlowLogsConfig

    field = FlowLogsConfig.model_fields["aggregation_interval"]
    assert get_args(field.annotation) == limits.FLOW_LOG_INTERVALS


def test_a_sampling_of_one_written_as_an_integer_is_accepted():
    from infra.config import parse_config

    assert parse_config(_network("dev", flowSampling=1)).network.flow_logs.flow_sampling == 1.0


# -- the program -------------------------------------------------------------------------------


def _log_config(r) -> dict:
    return wire.plain(r.inputs.get("logConfig"))


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_the_dev_stacks_egress_subnet_logs_flows_with_all_metadata(preview):
    (subnet,) = [r for r in stack_graph("dev", preview).resources if r.type == SUBNET]
    assert _log_config(subnet) == {
        "aggregationInterval": "INTERVAL_5_SEC",
        "flowSampling": 0.5,
        "metadata": "INCLUDE_ALL_METADATA",
    }


def test_every_direct_egress_region_logs_flows_with_the_stacks_settings():
    raw = _direct_multi_region(aggregationInterval="INTERVAL_30_SEC", flowSampling=1.0)
    g = Emulation(ROOT, "multi-region", config=raw).run()
    subnets = [r for r in g.resources if r.type == SUBNET]
    assert len(subnets) == 2
    for s in subnets:
        assert _log_config(s) == {
            "aggregationInterval": "INTERVAL_30_SEC",
            "flowSampling": 1.0,
            "metadata": "INCLUDE_ALL_METADATA",
        }, s.name


def test_connector_subnets_carry_no_flow_logs():
    """A connector's path is recorded by firewall rules logging on the connector VMs; flow logs
    on its /28 would be a cost nobody asked for."""
    for r in stack_graph("staging").resources:
        if r.type == SUBNET:
            assert r.inputs.get("logConfig") is None, r.name


# -- the pack, through the protocol ------------------------------------------------------------


@pytest.fixture(scope="module")
def pack():
    with PackPool() as packs:
        yield lambda preview: packs.get("dev", preview)


def _dev(preview: bool) -> Graph:
    return copy.deepcopy(stack_graph("dev", preview))


def _name(d) -> str:
    return d.urn.rsplit("::", 1)[-1]


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_the_dev_stack_passes(pack, preview):
    verdict = pack(preview).evaluate(stack_graph("dev", preview))
    assert verdict.by_policy(POLICY) == [] and verdict.by_policy(ADVICE) == []


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda s: del_prop(s, "logConfig"), "logs no flows"),
        (lambda s: set_prop(s, "logConfig.metadata", "EXCLUDE_ALL_METADATA"), "EXCLUDE_ALL"),
        (lambda s: set_prop(s, "logConfig.flowSampling", 0.0), "flowSampling 0"),
    ],
    ids=["no-flow-logs", "no-metadata", "sampling-zero"],
)
def test_a_direct_egress_subnet_without_flow_logs_is_mandatory(pack, preview, mutate, words):
    g = _dev(preview)
    mutate(named(g, DEV_SUBNET))
    verdict = pack(preview).evaluate(g)
    (d,) = verdict.by_policy(POLICY)
    assert (_name(d), d.level) == (DEV_SUBNET, "mandatory")
    assert words in d.message, d.message
    # Why a logged firewall rule does not do: Google's Direct VPC egress limitation.
    assert "firewall rules logging" in d.message and "not supported" in d.message
    assert "INCLUDE_ALL_METADATA" in d.message and "svc-backend-service" in d.message


@pytest.mark.parametrize("preview", MODES, ids=["update", "preview"])
def test_a_shared_vpc_host_subnet_is_advice_not_mandatory(pack, preview):
    """The host's subnet is not in the stack: its flow logs cannot be seen, only asked for."""
    g = _dev(preview)
    subnet = named(g, DEV_SUBNET)
    host_subnet = "projects/acme-net-host/regions/europe-west1/subnetworks/shared-run"
    for svc in g.resources:
        if svc.type != RUN:
            continue
        set_prop(svc, "template.vpcAccess.networkInterfaces.0.subnetwork", host_subnet)
        drop_dep(svc, subnet.urn)
    verdict = pack(preview).evaluate(g)
    assert verdict.by_policy(POLICY) == []
    advice = verdict.by_policy(ADVICE)
    assert {_name(d) for d in advice} >= {"svc-backend-service"}
    assert all(d.level == "advisory" for d in advice)
    assert "shared-run" in advice[0].message and "acme-net-host" in advice[0].message
