"""The engine address a pack is started with (`preflight.analyzer._EngineAddress`): a socket
listening on 127.0.0.1 whose engine gRPC server starts only when something connects, every
connection relayed to it. The Python policy runtime never calls the engine (pulumi/policy/
__main__.py parses the address and uses it nowhere), so a gate run starts no server; a pack that
does call it is answered as before."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from preflight.analyzer import PolicyPackProcess, _Engine, _EngineAddress
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


def test_nothing_connects_no_server_is_started_and_close_ends_the_listener() -> None:
    before = _engine_threads()
    address = _EngineAddress(_Engine())
    assert not address.served
    address.close()
    assert not address.served
    assert _refused(address.address)
    assert _engine_threads() == before  # the accept thread ended


def test_a_grpc_client_is_answered_through_the_relay_and_close_ends_its_connection() -> None:
    engine = _Engine()
    address = _EngineAddress(engine)
    try:
        with grpc.insecure_channel(address.address) as channel:
            stub = engine_pb2_grpc.EngineStub(channel)
            stub.Log(engine_pb2.LogRequest(message="one"), timeout=30)
            stub.Log(engine_pb2.LogRequest(message="two"), timeout=30)
            assert stub.GetRootResource(engine_pb2.GetRootResourceRequest(), timeout=30).urn == ""
        assert address.served
        assert engine.logs == ["one", "two"]
        # A raw connection left open: `close` must end it, not wait for the client.
        raw = socket.create_connection(("127.0.0.1", _port(address.address)), timeout=5)
    finally:
        address.close()
    assert _ended(raw)
    raw.close()
    assert _refused(address.address)
    assert not [t for t in _engine_threads() if t.is_alive()]


def test_a_connection_after_close_is_refused_and_starts_nothing() -> None:
    address = _EngineAddress(_Engine())
    address.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", _port(address.address)), timeout=5)
    assert not address.served


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
