"""Config errors a user can act on at once: every error of a file in one run, the known keys (and
the nearest one) for a misspelled key at any depth, and messages in our words."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError, ConfigErrors, parse_config
from tests.support import stack_config


def _with(stack: str = "staging", **keys: object) -> dict[str, str]:
    raw = stack_config(stack)
    for key, change in keys.items():
        full = f"redis-vpc:{key}"
        value = json.loads(raw[full]) if full in raw else {}
        value.update(change)  # type: ignore[call-overload]
        raw[full] = json.dumps(value)
    return raw


def _errors(raw: dict[str, str]) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    err = info.value
    return err.errors if isinstance(err, ConfigErrors) else [err]


def test_a_misspelled_nested_key_names_the_nearest_and_the_known_keys():
    (err,) = _errors(_with(redis={"memorySizeGB": 2}))
    assert err.key == "redis-vpc:redis.memorySizeGB"
    assert "did you mean memorySizeGb?" in err.rule
    assert "known keys here:" in err.rule and "transitEncryption" in err.rule
    raw = _with()
    services = json.loads(raw["redis-vpc:services"])
    services["backend"]["minInstance"] = 1
    raw["redis-vpc:services"] = json.dumps(services)
    (err,) = _errors(raw)
    assert err.key == "redis-vpc:services.backend.minInstance"
    assert "did you mean minInstances?" in err.rule
    (err,) = _errors(_with(redis={"maintenanceWindow": {"hours": 3}}))
    assert "did you mean hour?" in err.rule


def test_a_misspelled_top_level_key_names_the_nearest():
    raw = stack_config("staging")
    raw["redis-vpc:vpcEgres"] = "connector"
    errs = _errors(raw)
    assert [e.key for e in errs] == ["redis-vpc:vpcEgres"]
    assert "did you mean vpcEgress?" in errs[0].rule


def test_every_error_of_a_file_in_one_run():
    raw = _with(
        connector={"minInstances": 5, "maxInstances": 4},
        redis={"memorySizeGb": 0, "version": "REDIS_5_0"},
        probe={"rounds": 0},
    )
    raw["redis-vpc:firewal"] = "{}"
    del raw["gcp:region"]
    keys = [e.key for e in _errors(raw)]
    assert keys == [
        "gcp:region",
        "redis-vpc:firewal",
        "redis-vpc:redis.memorySizeGb",
        "redis-vpc:redis.version",
        "redis-vpc:probe.rounds",
    ], keys
    # Structure first; the rules between fields run once the structure is sound, all of them.
    raw = _with(connector={"minInstances": 5, "maxInstances": 4}, redis={"readReplicas": 2})
    errs = _errors(raw)
    assert [e.key for e in errs] == [
        "redis-vpc:connector.minInstances",
        "redis-vpc:redis.readReplicas",
        "redis-vpc:redis.memorySizeGb",
        "redis-vpc:network.redisReservedRange",
    ], [str(e) for e in errs]
    message = str(ConfigErrors(errs))
    assert len(message.splitlines()) == len(errs) >= 2


def test_production_requirements_are_all_reported():
    keys = [
        e.key
        for e in _errors(
            _with("production", redis={"authEnabled": False, "transitEncryption": False})
        )
    ]
    assert keys == ["redis-vpc:redis.authEnabled", "redis-vpc:redis.transitEncryption"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"redis": {"tier": "PREMIUM"}}, "must be one of: 'BASIC', 'STANDARD_HA'"),
        ({"redis": {"memorySizeGb": "big"}}, "must be a whole number"),
        ({"redis": {"authEnabled": "yes"}}, "must be true or false"),
        ({"firewall": {"priority": 70000}}, "must be at most 65535"),
        ({"connector": {"minInstances": 1}}, "must be at least 2"),
    ],
)
def test_messages_are_in_our_words(change, words):
    (err,) = _errors(_with(**change))
    assert words in str(err)
    assert "Input should" not in str(err) and "pydantic" not in str(err)


def test_request_timeout_is_bounded_by_cloud_run():
    raw = stack_config("staging")
    services = json.loads(raw["redis-vpc:services"])
    first = next(iter(services))
    services[first]["timeoutSeconds"] = 3601
    raw["redis-vpc:services"] = json.dumps(services)
    (err,) = _errors(raw)
    assert err.key == f"redis-vpc:services.{first}.timeoutSeconds"
    assert "must be at most 3600" in str(err)
