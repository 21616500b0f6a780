"""A real redis-server on 127.0.0.1 for tests: started on a free port, stopped afterwards."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_cluster_port() -> int:
    """A free port for a cluster node: the cluster bus listens 10000 above it, so the port must
    be 55535 or less (redis-server refuses to start otherwise) and port+10000 free as well."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait_listening(
    port: int, proc: subprocess.Popen, timeout: float = 10.0, log: Path | None = None
) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            said = proc.stderr.read().decode() if proc.stderr else ""
            if log is not None and log.exists():
                said += log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited: {said}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start listening")


def _binary(name: str = "redis-server") -> str:
    binary = shutil.which(name)
    if binary is None:
        pytest.fail(
            f"{name} is not installed (.ci/run and `make test` install Debian's redis-server, "
            "which brings redis-tools with redis-cli)"
        )
    return binary


def start_redis(
    workdir: Path,
    port: int,
    *args: str,
    tls: Certs | None = None,
    password: str | None = None,
) -> subprocess.Popen:
    """A redis-server on 127.0.0.1:port, listening when this returns."""
    cmd = [
        _binary(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--protected-mode",
        "no",
        *args,
    ]
    if tls is None:
        cmd += ["--port", str(port)]
    else:
        cmd += [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(tls.server_cert),
            "--tls-key-file",
            str(tls.server_key),
            "--tls-ca-cert-file",
            str(tls.ca_cert),
            "--tls-auth-clients",
            "no",
        ]
    if password:
        cmd += ["--requirepass", password]
    # redis-server logs to stdout: into a file, so a server that will not start says why.
    log = workdir / f"redis-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc, log=log)
    except BaseException:
        stop_redis(proc)
        raise
    return proc


def stop_redis(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


@contextlib.contextmanager
def redis_server(
    workdir: Path, *args: str, tls: Certs | None = None, password: str | None = None
) -> Iterator[int]:
    port = free_port()
    proc = start_redis(workdir, port, *args, tls=tls, password=password)
    try:
        yield port
    finally:
        stop_redis(proc)


def redis_cli(port: int, *args: str, password: str | None = None) -> str:
    cmd = [_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(port)]
    if password:
        cmd += ["-a", password, "--no-auth-warning"]
    run = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=30, check=True)
    return run.stdout


@dataclass
class RedisCluster:
    """Real redis-server nodes with `--cluster-enabled yes` on loopback, slots split evenly."""

    dirs: list[Path]
    ports: list[int]
    procs: list[subprocess.Popen]
    password: str | None
    args: tuple[str, ...]

    def kill(self, i: int) -> None:
        self.procs[i].kill()
        self.procs[i].wait()
        if self.procs[i].stderr:
            self.procs[i].stderr.close()

    def start(self, i: int) -> None:
        """(Re)start node i from its nodes.conf: it rejoins with the same id and slots."""
        self.procs[i] = start_redis(self.dirs[i], self.ports[i], *self.args, password=self.password)
        self.wait_ok()

    def wait_ok(self, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            infos = [redis_cli(p, "CLUSTER", "INFO", password=self.password) for p in self.ports]
            if all("cluster_state:ok" in info for info in infos):
                return
            time.sleep(0.05)
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    @contextlib.contextmanager
    def down(self, i: int) -> Iterator[int]:
        """Node i killed (connection refused on its port), restarted afterwards."""
        self.kill(i)
        try:
            yield self.ports[i]
        finally:
            self.start(i)

    @contextlib.contextmanager
    def blocked(self, i: int) -> Iterator[int]:
        """Node i's port silently drops new connections, as a firewall deny looks: the node
        was started with `--tcp-backlog 0`, is stopped (SIGSTOP, so it accepts nothing), and
        one held connection fills its accept queue; Linux then drops every further SYN
        (net.ipv4.tcp_abort_on_overflow=0, the default), so a connect times out on loopback
        without root. The node is continued and the held connection closed afterwards."""
        proc = self.procs[i]
        proc.send_signal(signal.SIGSTOP)
        held = socket.create_connection(("127.0.0.1", self.ports[i]), timeout=2)
        try:
            yield self.ports[i]
        finally:
            held.close()
            proc.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def redis_cluster(
    workdir: Path, nodes: int = 3, password: str | None = None
) -> Iterator[RedisCluster]:
    """`nodes` primaries created with `redis-cli --cluster create`, stopped afterwards. A long
    cluster-node-timeout keeps a node stopped or killed by a test from being failed over."""
    args = (
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "60000",
        "--tcp-backlog",
        "0",
    )
    if password:
        args += ("--masterauth", password)
    ports: list[int] = []
    while len(ports) < nodes:
        port = free_cluster_port()
        if port not in ports:
            ports.append(port)
    dirs = []
    for i in range(nodes):
        d = workdir / f"node{i}"
        d.mkdir()
        dirs.append(d)
    cluster = RedisCluster(dirs, ports, [], password, args)
    try:
        for i in range(nodes):
            cluster.procs.append(start_redis(dirs[i], ports[i], *args, password=password))
        redis_cli(
            ports[0],
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-yes",
            password=password,
        )
        cluster.wait_ok()
        yield cluster
    finally:
        for proc in cluster.procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGCONT)
                stop_redis(proc)


@dataclass
class Certs:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_certs(workdir: Path, name: str = "ca") -> Certs:
    """A throwaway CA and a server certificate for 127.0.0.1, like Memorystore's server CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"redis-vpc test {name}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redis-test-instance")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = Certs(
        workdir / f"{name}.pem", workdir / f"{name}-server.pem", workdir / f"{name}-server.key"
    )
    out.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out


@contextlib.contextmanager
def tcp_server(reply: bytes | None) -> Iterator[int]:
    """A loopback TCP server that answers every connection with `reply` (None: accept and say
    nothing, as a black hole behind a firewall would look after the handshake)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)
            if reply is not None:
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for c in held:
            c.close()
        srv.close()


def probe_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """`python -m probe ARGS` as the job runs it (with `env` over this process's): its exit code
    and the JSON report, the last line it prints."""
    from tests.support import ROOT

    run = subprocess.run(
        [sys.executable, "-m", "probe", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return run.returncode, json.loads(run.stdout.strip().splitlines()[-1])
