"""The probe in cluster mode and with IAM tokens, against a real three-node redis-server cluster
on 127.0.0.1 (`--cluster-enabled yes`, created with `redis-cli --cluster create`): healthy, a
node down, a node port blocked, a wrong token, CLUSTERDOWN, a non-cluster server in cluster mode,
and a MOVED loop (two fake nodes, the one case a real cluster does not produce on demand)."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from probe.cluster import crc16, keyslot, parse_slots, tag_for
from probe.core import HINTS, IAM_AUTH_HINT, Prober, ProbeSettings
from probe.tokens import EnvTokenSource, FileTokenSource, MetadataServerTokenSource
from tests.redis_server import (
    free_cluster_port,
    free_port,
    probe_cli,
    redis_cli,
    redis_cluster,
    redis_server,
    start_redis,
    stop_redis,
)
from tests.support import ROOT

TOKEN = "ya29.c.test-access-token-" + "x" * 40  # the shape of a Google OAuth access token
DEADLINE = 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with redis_cluster(tmp_path_factory.mktemp("cluster"), 3, password=TOKEN) as c:
        yield c


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def probe(port: int, source, **kw):
    settings = ProbeSettings(
        **{
            "host": "127.0.0.1",
            "port": port,
            "cluster": True,
            "token_source": source,
            "deadline": DEADLINE,
            "rounds": 3,
            "attempt_timeout": 0.7,
            **kw,
        }
    )
    t = time.monotonic()
    result = Prober(settings).run()
    assert time.monotonic() - t <= settings.deadline + 1.0, "ran past its deadline"
    return result


def by_port(result) -> dict:
    return {n.port: n for n in result.nodes}


def test_hash_slots_are_the_servers():
    # The spec's check value, then the real server's CLUSTER KEYSLOT (tags included).
    assert crc16(b"123456789") == 0x31C3
    assert [keyslot(k) for k in ("{user1000}.following", "{user1000}.followers")] == [
        keyslot("user1000")
    ] * 2
    assert keyslot("a{}b") == crc16(b"a{}b") % 16384


def test_cluster_keyslot_agrees(cluster):
    for key in ("foo", "{p7}:x", "redis-vpc:probe:{p1}:ab", "a{}b", "{}", "x{y}{z}"):
        assert keyslot(key) == int(
            redis_cli(cluster.ports[0], "CLUSTER", "KEYSLOT", key, password=TOKEN)
        )


def test_tags_route_to_every_shard(cluster):
    reply = redis_cli(cluster.ports[0], "--json", "CLUSTER", "SLOTS", password=TOKEN)
    shards = parse_slots(json.loads(reply), "127.0.0.1")
    assert len(shards) == 3
    for shard in shards:
        start, end = shard.ranges[0]
        assert start <= keyslot("{" + tag_for(start, end) + "}:k") <= end


def test_healthy_cluster_with_a_token(cluster, token_file):
    result = probe(cluster.ports[0], FileTokenSource(token_file))
    assert result.ok and result.classification is None, result
    assert [s.name for s in result.steps] == [
        "token",
        "resolve",
        "tcp_connect",
        "auth",
        "ping",
        "cluster_slots",
        "latency",
    ]
    nodes = by_port(result)
    assert set(nodes) == set(cluster.ports)
    assert all(n.ok and n.role == "primary" for n in nodes.values())
    assert all([s.name for s in n.steps][-2:] == ["ping", "set_get_del"] for n in nodes.values())
    covered = sorted(tuple(r) for n in nodes.values() for r in n.slots)
    assert covered[0][0] == 0 and covered[-1][1] == 16383


def test_wrong_token_is_an_auth_failure(cluster, monkeypatch):
    monkeypatch.setenv("PROBE_TEST_TOKEN", "ya29.expired-or-other-account")
    result = probe(cluster.ports[0], EnvTokenSource("PROBE_TEST_TOKEN"))
    assert not result.ok and result.classification == "auth", result
    assert result.hint == IAM_AUTH_HINT and result.attempts == 1
    assert result.nodes is None  # failed at the discovery endpoint


def test_missing_token_is_a_token_failure(cluster, tmp_path):
    result = probe(cluster.ports[0], FileTokenSource(str(tmp_path / "absent")))
    assert not result.ok and result.classification == "token"
    assert [s.name for s in result.steps] == ["token"] and result.hint == HINTS["token"]


class _MetadataServer(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        flavor = self.headers.get("Metadata-Flavor")
        type(self).seen.append((self.path, flavor))
        if flavor != "Google":  # the real server refuses requests without the header
            self.send_response(403)
            self.end_headers()
            return
        body = json.dumps({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def metadata_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MetadataServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_metadata_server_token_source(cluster, monkeypatch):
    """The production source, against a loopback stand-in for the metadata server."""
    with metadata_server() as host:
        monkeypatch.setenv("GCE_METADATA_HOST", host)
        result = probe(cluster.ports[0], MetadataServerTokenSource())
    assert result.ok, result
    assert _MetadataServer.seen[-1] == (
        "/computeMetadata/v1/instance/service-accounts/default/token",
        "Google",
    )


def test_node_down(cluster, token_file):
    with cluster.down(2) as port:
        result = probe(cluster.ports[0], FileTokenSource(token_file))
    assert not result.ok and result.classification == "node-down", result
    assert result.hint == HINTS["node-down"] and f"127.0.0.1:{port}" in result.error
    nodes = by_port(result)
    assert nodes[port].classification == "node-down" and nodes[port].attempts > 1
    assert [n.ok for p, n in nodes.items() if p != port] == [True, True]


def test_node_port_blocked(cluster, token_file):
    with cluster.blocked(1) as port:
        result = probe(cluster.ports[0], FileTokenSource(token_file))
    assert not result.ok and result.classification == "node-port-blocked", result
    nodes = by_port(result)
    failed = [s for s in nodes[port].steps if not s.ok]
    assert [s.name for s in failed] == ["tcp_connect"] and "timeout" in failed[0].error
    assert [n.ok for p, n in nodes.items() if p != port] == [True, True]


def test_non_cluster_server_in_cluster_mode(tmp_path):
    with redis_server(tmp_path) as port:
        result = probe(port, None)
    assert not result.ok and result.classification == "cluster-mode", result
    assert result.steps[-1].name == "cluster_slots" and result.attempts == 1


def test_cluster_down(tmp_path):
    """One node with only part of the slots: cluster_state:fail, every key CLUSTERDOWN."""
    args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
    port = free_cluster_port()
    proc = start_redis(tmp_path, port, *args)
    try:
        redis_cli(port, "CLUSTER", "ADDSLOTSRANGE", "0", "100")
        result = probe(port, None)
    finally:
        stop_redis(proc)
    assert not result.ok and result.classification == "cluster-down", result
    (node,) = result.nodes
    assert node.slots == [[0, 100]] and "CLUSTERDOWN" in node.error
    assert node.hint == HINTS["cluster-down"]


@contextlib.contextmanager
def moved_loop() -> Iterator[int]:
    """Two fake nodes: A's topology says A owns every slot; A answers SET with MOVED to B and
    B with MOVED back to A (a slot map the nodes disagree on)."""
    servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    ports = [s.getsockname()[1] for s in servers]
    stop = threading.Event()

    def bulk(text: str) -> bytes:
        return f"${len(text)}\r\n{text}\r\n".encode()

    def serve(conn: socket.socket, me: int) -> None:
        buf = b""
        with conn:
            while not stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while buf.startswith(b"*") and buf.count(b"\r\n") >= 1:
                    n = int(buf[1 : buf.index(b"\r\n")])
                    parts = buf.split(b"\r\n")
                    if len(parts) < 1 + 2 * n + 1:
                        break
                    args = [parts[2 + 2 * i].decode() for i in range(n)]
                    buf = b"\r\n".join(parts[1 + 2 * n :])
                    cmd = args[0].upper()
                    if cmd == "PING":
                        conn.sendall(b"+PONG\r\n")
                    elif cmd == "CLUSTER":
                        node = (
                            b"*3\r\n"
                            + bulk("127.0.0.1")
                            + f":{ports[0]}\r\n".encode()
                            + bulk("a" * 40)
                        )
                        conn.sendall(b"*1\r\n*3\r\n:0\r\n:16383\r\n" + node)
                    else:
                        slot = keyslot(args[1]) if len(args) > 1 else 0
                        conn.sendall(f"-MOVED {slot} 127.0.0.1:{ports[1 - me]}\r\n".encode())

    def accept(i: int) -> None:
        servers[i].settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = servers[i].accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn, i), daemon=True).start()

    threads = [threading.Thread(target=accept, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    try:
        yield ports[0]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for s in servers:
            s.close()


def test_moved_loop():
    with moved_loop() as port:
        result = probe(port, None)
    assert not result.ok and result.classification == "moved-loop", result
    assert "MOVED back to" in result.error and result.hint == HINTS["moved-loop"]


def test_cli_cluster_from_the_service_env(cluster):
    """As the Cloud Run job runs it: REDIS_CLUSTER_MODE and REDIS_IAM_AUTH from the env, the
    token from the metadata server (here a loopback stand-in); a bad flag value is refused."""
    with metadata_server() as host:
        env = {
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(cluster.ports[0]),
            "REDIS_CLUSTER_MODE": "true",
            "REDIS_IAM_AUTH": "true",
            "REDIS_AUTH": "",
            "GCE_METADATA_HOST": host,
        }
        code, out = probe_cli("--deadline", "5", env=env)
    assert code == 0 and out["ok"] is True and out["cluster"] is True, out
    assert sorted(n["port"] for n in out["nodes"]) == sorted(cluster.ports)
    code, out = probe_cli(env={**env, "REDIS_CLUSTER_MODE": "maybe"})
    assert code == 2 and out["classification"] == "config"
    assert "REDIS_CLUSTER_MODE" in out["error"]


def test_free_port_is_refused_not_blocked():
    # Sanity for the two node classes: a port nobody listens on refuses at once on loopback.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=1)


def test_every_classification_is_in_the_runbook():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    missing = [c for c in HINTS if f"| `{c}`" not in runbook]
    assert not missing, f"docs/runbook.md, 'What a failed probe means', lacks {missing}"
