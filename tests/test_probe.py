"""The probe against a real redis-server on 127.0.0.1: healthy runs, and every failure class
produced for real on loopback (dns and no-route as far as loopback allows, see each test)."""

from __future__ import annotations

import errno
import functools
import socket
import subprocess
import sys
import time

import pytest

from probe.core import (
    HINTS,
    NO_PASSWORD_HINT,
    TIMEOUT_AFTER_CONNECT_HINT,
    Prober,
    ProbeSettings,
    classify_gaierror,
    classify_oserror,
)
from tests.redis_server import free_port, make_certs, probe_cli, redis_server, tcp_server
from tests.support import ROOT

DEADLINE = 3.0


def probe(**kw) -> tuple:
    settings = ProbeSettings(
        **{"host": "127.0.0.1", "deadline": DEADLINE, "rounds": 5, "attempt_timeout": 1.0, **kw}
    )
    t = time.monotonic()
    result = Prober(settings).run()
    return result, time.monotonic() - t


def assert_failure(
    result, elapsed, classification: str, deadline: float = DEADLINE, hint: str | None = None
) -> None:
    assert result.ok is False
    assert result.classification == classification, result
    assert result.hint == (hint or HINTS[classification])
    assert elapsed <= deadline + 0.5, f"ran {elapsed:.2f}s past its {deadline}s deadline"
    assert any(not s.ok for s in result.steps)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("tls"))


def test_plain_healthy(tmp_path):
    with redis_server(tmp_path) as port:
        result, _ = probe(port=port, rounds=20)
    assert result.ok and result.classification is None and result.hint is None
    assert [s.name for s in result.steps] == [
        "resolve",
        "tcp_connect",
        "ping",
        "set_get_del",
        "latency",
    ]
    assert (
        result.latency_ms["rounds"] == 20
        and 0 < result.latency_ms["p50"] <= result.latency_ms["p99"]
    )


def test_auth_healthy(tmp_path):
    with redis_server(tmp_path, password="correct horse") as port:
        result, _ = probe(port=port, password="correct horse")
    assert result.ok
    assert "auth" in [s.name for s in result.steps]


def test_tls_healthy_with_the_instance_ca(tmp_path, certs):
    with redis_server(tmp_path, tls=certs, password="pw") as port:
        result, _ = probe(port=port, tls=True, ca_file=str(certs.ca_cert), password="pw")
    assert result.ok, result
    assert [s.name for s in result.steps][:4] == ["resolve", "tcp_connect", "tls_handshake", "auth"]


def test_tls_with_ca_from_env_data(tmp_path, certs):
    with redis_server(tmp_path, tls=certs) as port:
        result, _ = probe(port=port, tls=True, ca_data=certs.ca_cert.read_text())
    assert result.ok, result


def test_refused():
    result, elapsed = probe(port=free_port())
    assert_failure(result, elapsed, "refused")
    assert result.attempts > 1, "refused is retried with backoff"


def test_timeout_listener_that_never_answers():
    with tcp_server(None) as port:
        result, elapsed = probe(port=port, deadline=2.0)
    # Connected, then silence: a timeout, but not the firewall (the handshake came back).
    assert_failure(result, elapsed, "timeout", 2.0, hint=TIMEOUT_AFTER_CONNECT_HINT)
    assert "firewall" not in result.hint


def test_dns_name_that_does_not_resolve():
    # getaddrinfo with AI_NUMERICHOST fails for any name inside libc (EAI_NONAME) without sending
    # a query: the machine's resolver is not on loopback, and tests never leave 127.0.0.1.
    settings = ProbeSettings(host="redis.invalid", port=6379, deadline=DEADLINE)
    numeric_only = functools.partial(socket.getaddrinfo, flags=socket.AI_NUMERICHOST)
    t = time.monotonic()
    result = Prober(settings, resolver=numeric_only).run()
    assert_failure(result, time.monotonic() - t, "dns")
    assert result.steps[-1].name == "resolve" and result.attempts == 1


def test_dns_temporary_failure_is_retried():
    def again(*_a, **_k):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    t = time.monotonic()
    result = Prober(
        ProbeSettings(host="redis.internal", port=6379, deadline=1.0), resolver=again
    ).run()
    assert_failure(result, time.monotonic() - t, "dns", 1.0)
    assert result.attempts > 1


def test_tls_client_against_plain_port(tmp_path, certs):
    with redis_server(tmp_path) as port:
        result, elapsed = probe(port=port, tls=True, ca_file=str(certs.ca_cert))
    assert_failure(result, elapsed, "tls")
    assert result.steps[-1].name == "tls_handshake"


def test_plain_client_against_tls_port(tmp_path, certs):
    with redis_server(tmp_path, tls=certs) as port:
        result, elapsed = probe(port=port)
    assert_failure(result, elapsed, "tls")


def test_untrusted_certificate(tmp_path, certs):
    other = make_certs(tmp_path, "other-ca")
    with redis_server(tmp_path, tls=certs) as port:
        result, elapsed = probe(port=port, tls=True, ca_file=str(other.ca_cert))
    assert_failure(result, elapsed, "tls")
    assert "not trusted" in result.error


def test_wrong_password(tmp_path):
    with redis_server(tmp_path, password="right") as port:
        result, elapsed = probe(port=port, password="wrong")
    assert_failure(result, elapsed, "auth")
    assert result.attempts == 1, "auth failures are not retried"


def test_missing_password(tmp_path):
    with redis_server(tmp_path, password="right") as port:
        result, elapsed = probe(port=port)
    assert_failure(result, elapsed, "auth", hint=NO_PASSWORD_HINT)
    assert "none was sent" in result.hint


def test_non_redis_server():
    with tcp_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as port:
        result, elapsed = probe(port=port)
    assert_failure(result, elapsed, "protocol")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.EHOSTUNREACH, "no-route"),
        (errno.ENETUNREACH, "no-route"),
        (errno.ECONNREFUSED, "refused"),
        (errno.ETIMEDOUT, "timeout"),
    ],
)
def test_errno_classification(code, expected):
    # No route cannot be produced on loopback without leaving it: the errno mapping is unit-tested.
    assert classify_oserror(OSError(code, "x")).classification == expected


def test_gaierror_classification():
    assert classify_gaierror(socket.gaierror(socket.EAI_NONAME, "x")).transient is False
    assert classify_gaierror(socket.gaierror(socket.EAI_AGAIN, "x")).transient is True


def test_cli_healthy_and_failing(tmp_path):
    with redis_server(tmp_path, password="pw") as port:
        code, out = probe_cli(
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--password-env",
            "PW",
            "--rounds",
            "3",
            env={"PW": "pw"},
        )
        assert code == 0 and out["ok"] is True and out["classification"] is None
        assert {"ok", "classification", "hint", "steps", "latency_ms"} <= out.keys()
        code, out = probe_cli("--host", "127.0.0.1", "--port", str(port), "--deadline", "2")
        assert code == 1 and out["classification"] == "auth"


def test_cli_reads_the_service_env(tmp_path):
    with redis_server(tmp_path, password="pw") as port:
        code, out = probe_cli(
            env={
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(port),
                "REDIS_TLS": "false",
                "REDIS_AUTH": "pw",
            }
        )
    assert code == 0 and out["port"] == port


def test_cli_with_host_does_not_send_redis_auth_from_env(tmp_path):
    with redis_server(tmp_path, password="pw") as port:
        target = ("--host", "127.0.0.1", "--port", str(port), "--deadline", "2")
        code, out = probe_cli(*target, env={"REDIS_AUTH": "pw"})
        assert code == 1 and out["classification"] == "auth"
        assert out["hint"] == NO_PASSWORD_HINT
        code, out = probe_cli(*target, "--password-env", "REDIS_AUTH", env={"REDIS_AUTH": "pw"})
        assert code == 0 and out["ok"] is True


def test_cli_usage_errors():
    run = subprocess.run(
        [sys.executable, "-m", "probe", "--port", "x"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 2


def test_deadline_during_latency_rounds_keeps_a_working_path_ok(tmp_path):
    with redis_server(tmp_path) as port:
        result, elapsed = probe(port=port, rounds=10_000_000, deadline=1.0)
    assert result.ok and result.classification is None
    assert 1 <= result.latency_ms["rounds"] < 10_000_000
    assert elapsed <= 1.5


def test_server_error_is_not_a_password_or_protocol_problem(tmp_path):
    import socket as _socket

    with redis_server(tmp_path, "--maxclients", "1") as port:
        # Take the only client slot (retrying while the start-up check's connection goes away).
        for _ in range(50):
            holder = _socket.create_connection(("127.0.0.1", port))
            holder.sendall(b"PING\r\n")
            if holder.recv(64).startswith(b"+PONG"):
                break
            holder.close()
            time.sleep(0.05)
        try:
            result, elapsed = probe(port=port)
        finally:
            holder.close()
    assert_failure(result, elapsed, "server")
    assert "max number of clients" in result.error


def test_auth_against_a_server_without_password(tmp_path):
    with redis_server(tmp_path) as port:
        result, elapsed = probe(port=port, password="unexpected")
    assert_failure(result, elapsed, "auth")


def test_slow_resolver_is_bounded_by_the_deadline():
    def slow(*_a, **_k):
        time.sleep(5)
        raise socket.gaierror(socket.EAI_AGAIN, "late")

    t = time.monotonic()
    result = Prober(
        ProbeSettings(host="redis.internal", port=6379, deadline=1.0, attempt_timeout=0.5),
        resolver=slow,
    ).run()
    assert_failure(result, time.monotonic() - t, "dns", 1.0)


def test_invalid_host_name_is_a_dns_failure_not_a_crash():
    result, elapsed = probe(host="a..b", port=6379)
    assert_failure(result, elapsed, "dns")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "127.0.0.1", "--port", "70000"], {}),
        ([], {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "abc"}),
    ],
)
def test_cli_bad_settings_still_print_one_json_verdict(args, env):
    code, out = probe_cli(*args, env=env)
    assert code == 2 and out["ok"] is False and out["classification"] == "config"


def test_the_probe_trusts_every_ca_of_a_rotated_instance(tmp_path):
    """Five years in, Memorystore adds a second CA and later signs the server certificate with
    it. The stack passes every CA of server_ca_certs in REDIS_CA_CERT (infra.redis.ca_bundle);
    the probe must trust all of them: a server certificate signed by the SECOND CA of a two-CA
    bundle verifies, from the env (as in Cloud Run) and from --ca-file. The first CA alone
    fails the handshake with `tls`, both ways."""
    from infra.redis import ca_bundle

    first = make_certs(tmp_path, "ca-2021")
    second = make_certs(tmp_path, "ca-2026")
    # As server_ca_certs gives them: in order, the first PEM without its final newline.
    bundle = ca_bundle(
        [{"cert": first.ca_cert.read_text().rstrip("\n")}, {"cert": second.ca_cert.read_text()}]
    )
    assert bundle.count("BEGIN CERTIFICATE") == 2
    assert bundle.index(first.ca_cert.read_text().strip()) == 0  # CA1 first, CA2 second
    (tmp_path / "bundle.pem").write_text(bundle)

    def from_file(ca_file) -> tuple[int, dict]:
        # REDIS_CA_CERT="" so that only the file is trusted, whatever the caller's env holds.
        return probe_cli(
            *("--host", "127.0.0.1", "--port", str(port), "--tls", "--ca-file", str(ca_file)),
            *("--password-env", "PW", "--deadline", "3"),
            env={"PW": "pw", "REDIS_CA_CERT": ""},
        )

    def untrusted(out: dict) -> bool:
        failed = [s for s in out["steps"] if not s["ok"]]
        return (
            out["classification"] == "tls"
            and [s["name"] for s in failed] == ["tls_handshake"]
            and "certificate" in out["error"]
        )

    with redis_server(tmp_path, tls=second, password="pw") as port:
        env = {
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(port),
            "REDIS_TLS": "true",
            "REDIS_AUTH": "pw",
            "REDIS_CA_CERT": bundle,
        }
        code, out = probe_cli("--deadline", "3", env=env)
        assert code == 0 and out["ok"] is True, out
        code, out = from_file(tmp_path / "bundle.pem")
        assert code == 0 and out["ok"] is True, out

        # Only the first CA (what the stack used to pass): the handshake fails.
        code, out = probe_cli(
            "--deadline", "3", env={**env, "REDIS_CA_CERT": first.ca_cert.read_text()}
        )
        assert code == 1 and untrusted(out), out
        code, out = from_file(first.ca_cert)
        assert code == 1 and untrusted(out), out
