"""The engine address a pack is started with (`preflight.analyzer._EngineAddress`): a socket
listening on 127.0.0.1 whose engine gRPC server starts only when something connects, every
connection relayed to it. The Python policy runtime never calls the engine (pulumi/policy/
__main__.py parses the address and uses it nowhere), so a gate run starts no server; a pack that
does call it is answered as before."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from preflight import analyzer
from preflight.analyzer import PolicyPackProcess, _Engine, _EngineAddress, _relay
from tests.support import ROOT, stack_config, write_pack

# A pack of no one's that calls the engine it was given (its first argument after the module's
# name, as the CLI passes it) before it serves: its start waits for the engine's answers.
ENGINE_CALLING_PACK = """
import sys
import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

with grpc.insecure_channel(sys.argv[1]) as channel:
    engine = engine_pb2_grpc.EngineStub(channel)
    engine.Log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message="pack starting"), timeout=30)
    root = engine.GetRootResource(engine_pb2.GetRootResourceRequest(), timeout=30)
    engine.Log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message="root=" + root.urn), timeout=30)

PolicyPack(
    name="calls-engine",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[ResourceValidationPolicy(name="nothing", description="d", validate=lambda a, r: None)],
)
"""


def _port(address: str) -> int:
    host, _, port = address.rpartition(":")
    assert host == "127.0.0.1"
    return int(port)


def _refused(address: str) -> bool:
    try:
        socket.create_connection(("127.0.0.1", _port(address)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def _ended(sock: socket.socket) -> bool:
    """Whether the peer ended the connection (closed or reset) within 5 s, after whatever it had
    sent (the server's HTTP/2 settings)."""
    sock.settimeout(5)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("engine-accept", "engine-relay")]


def _sockets_on(engine_port: int, server_port: int = 0) -> int:
    """This process's open TCP sockets on the engine's side: listening or accepted on either
    port, or connected to the server's from the relay (not a gRPC client's own sockets, which
    grpc closes when it likes). From /proc: each descriptor's socket inode, and /proc/net/tcp's
    local and remote ports of each inode."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local = int(fields[1].split(":")[1], 16)
            remote = int(fields[2].split(":")[1], 16)
            if fields[9] in inodes and (
                local in (engine_port, server_port) or (server_port and remote == server_port)
            ):
                count += 1
    return count


def test_nothing_connects_no_server_is_started_and_close_ends_the_listener() -> None:
    before = _engine_threads()
    address = _EngineAddress(_Engine())
    assert not address.served
    address.close()
    assert not address.served
    assert _refused(address.address)
    assert _engine_threads() == before  # the accept thread ended


def test_a_grpc_client_is_answered_through_the_relay_and_close_leaves_nothing_open() -> None:
    engine = _Engine()
    address = _EngineAddress(engine)
    port = _port(address.address)
    try:
        with grpc.insecure_channel(address.address) as channel:
            stub = engine_pb2_grpc.EngineStub(channel)
            stub.Log(engine_pb2.LogRequest(message="one"), timeout=30)
            stub.Log(engine_pb2.LogRequest(message="two"), timeout=30)
            assert stub.GetRootResource(engine_pb2.GetRootResourceRequest(), timeout=30).urn == ""
            assert address.served
            assert engine.logs == ["one", "two"]
            # A raw connection left open: `close` must end it, not wait for the client.
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            raw.settimeout(5)
            assert raw.recv(1)  # the server's first bytes: this connection is relayed too
            server_port = address._server_port
            with address._lock:  # kept under it, once each relay has started
                relayed = [sock for conn, up, _ in address._relays for sock in (conn, up)]
            assert len(relayed) == 4 and all(sock.fileno() != -1 for sock in relayed)
            # the listener, two accepted, two relayed to the server, the server's own two
            assert _sockets_on(port, server_port) >= 5
            address.close()
            assert all(sock.fileno() == -1 for sock in relayed)  # each relay closed its two
            assert _sockets_on(port, server_port) == 0
    finally:
        address.close()  # a second call is harmless
    assert address.served  # it was
    assert _ended(raw)
    raw.close()
    assert _refused(address.address)
    assert _refused(f"127.0.0.1:{server_port}")  # the server stopped
    assert not [t for t in _engine_threads() if t.is_alive()]


def test_each_way_is_relayed_until_its_own_sender_ends_it() -> None:
    """A client that ends its sending side (shutdown SHUT_WR) still gets what the other side
    sends after that; each end is passed on."""
    client, relay_a = socket.socketpair()
    relay_b, server = socket.socketpair()
    relay = threading.Thread(target=_relay, args=(relay_a, relay_b))
    relay.start()
    client.sendall(b"request")
    client.shutdown(socket.SHUT_WR)
    server.settimeout(5)
    got = b""
    while chunk := server.recv(65536):
        got += chunk
    assert got == b"request"  # and then the end the client sent
    server.sendall(b"x" * 200_000)  # more than a socket buffer
    server.close()
    client.settimeout(5)
    got = b""
    while chunk := client.recv(65536):
        got += chunk
    assert got == b"x" * 200_000
    relay.join(5)
    assert not relay.is_alive()
    client.close()


def test_a_connection_that_comes_as_close_begins_is_ended_and_starts_nothing() -> None:
    address = _EngineAddress(_Engine())
    address._closed = True  # what `close` sets first, under the lock, before it stops listening
    raw = socket.create_connection(("127.0.0.1", _port(address.address)), timeout=5)
    assert _ended(raw)
    raw.close()
    address._accepting.join(5)
    assert not address._accepting.is_alive()  # it ended instead of serving
    assert not address.served
    address.close()


class _FailingAccepts(socket.socket):
    """A listener whose next `accept`s fail with these errnos, then accept as usual."""

    errnos: list[int] = []

    def accept(self) -> tuple[socket.socket, Any]:
        if self.errnos:
            code = self.errnos.pop(0)
            raise OSError(code, os.strerror(code))
        return super().accept()


def _listening_with_failures(monkeypatch, errnos: list[int]) -> _EngineAddress:
    monkeypatch.setattr(_FailingAccepts, "errnos", list(errnos))
    monkeypatch.setattr(analyzer.socket, "socket", _FailingAccepts)
    address = _EngineAddress(_Engine())  # its listener is a _FailingAccepts
    monkeypatch.undo()
    return address


def test_a_client_that_gave_up_before_accept_does_not_stop_the_listener(monkeypatch) -> None:
    address = _listening_with_failures(monkeypatch, [errno.ECONNABORTED, errno.EPROTO])
    try:
        with grpc.insecure_channel(address.address) as channel:
            engine_pb2_grpc.EngineStub(channel).Log(engine_pb2.LogRequest(message="x"), timeout=30)
        assert address.served
    finally:
        address.close()


def test_a_listener_that_cannot_accept_refuses_rather_than_leaves_clients_waiting(
    monkeypatch,
) -> None:
    address = _listening_with_failures(monkeypatch, [errno.EMFILE])
    try:
        address._accepting.join(5)  # its first accept failed: it accepts no more
        assert not address._accepting.is_alive()
        assert _refused(address.address)
        assert not address.served
    finally:
        address.close()


def test_a_relay_that_cannot_start_ends_its_connection_and_close_still_works(monkeypatch) -> None:
    real = threading.Thread

    class NoRelay(real):  # type: ignore[misc,valid-type]
        def start(self) -> None:
            if self.name == "engine-relay":
                raise RuntimeError("can't start new thread")
            super().start()

    monkeypatch.setattr(analyzer.threading, "Thread", NoRelay)
    address = _EngineAddress(_Engine())
    port = _port(address.address)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert _ended(raw)
    raw.close()
    assert address.served  # the server started; the relay did not
    address.close()  # does not raise: no relay was kept
    assert _sockets_on(port, address._server_port) == 0


def test_a_server_that_cannot_start_ends_the_connection(monkeypatch) -> None:
    def no_port(self, address):  # what grpc raises when it cannot bind
        raise RuntimeError(f"Failed to add port to server: {address}")

    monkeypatch.setattr(grpc._server._Server, "add_insecure_port", no_port)
    address = _EngineAddress(_Engine())
    try:
        raw = socket.create_connection(("127.0.0.1", _port(address.address)), timeout=5)
        assert _ended(raw)
        raw.close()
        assert not address.served
    finally:
        address.close()


def test_a_pack_that_cannot_start_leaves_nothing_open(monkeypatch) -> None:
    made: list[_EngineAddress] = []

    class Recorded(_EngineAddress):
        def __init__(self, engine: _Engine) -> None:
            super().__init__(engine)
            made.append(self)

    monkeypatch.setattr(analyzer, "_EngineAddress", Recorded)
    before = _engine_threads()
    pack = PolicyPackProcess(
        ROOT / "policies",
        project="redis-vpc",
        stack="dev",
        dry_run=True,
        python="/nonexistent/python",
    )
    with pytest.raises(FileNotFoundError):
        pack.start()
    assert len(made) == 1
    assert pack._engine_address is None
    assert pack not in analyzer._LIVE
    assert pack._stderr is None
    assert _engine_threads() == before
    assert _refused(made[0].address)
    assert _sockets_on(_port(made[0].address)) == 0


def test_the_shipped_pack_never_calls_the_engine_so_a_gate_run_starts_no_server() -> None:
    pack = PolicyPackProcess(
        ROOT / "policies",
        project="redis-vpc",
        stack="production",
        dry_run=False,
        config=stack_config("production"),
    )
    pack.start()
    try:
        pack.configure(None)
        engine_address = pack._engine_address
        assert engine_address is not None
        assert not engine_address.served
    finally:
        pack.stop()
    assert pack._engine_address is None
    assert _refused(engine_address.address)


def test_a_pack_that_calls_the_engine_is_answered_before_it_serves(tmp_path: Path) -> None:
    pack_dir = write_pack(tmp_path / "calls-engine", ENGINE_CALLING_PACK)
    pack = PolicyPackProcess(pack_dir, project="redis-vpc", stack="dev", dry_run=True)
    pack.start()  # the pack prints its port only once both of its Log calls were answered
    try:
        assert pack.engine.logs == ["pack starting", "root="]
        engine_address = pack._engine_address
        assert engine_address is not None and engine_address.served
        assert [p.name for p in pack.policies] == ["nothing"]
    finally:
        pack.stop()
    assert _refused(engine_address.address)
