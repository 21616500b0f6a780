"""Pack processes forked from one parent that has already imported the policy SDK, for a gate run
that needs several packs (`--all`, `--state`).

The CLI starts a pack as `python -u -m pulumi.policy ENGINE_ADDRESS PACK_DIR` in the pack's
directory, with the stack's settings in its environment (preflight/analyzer.py
`PolicyPackProcess.launch`). Most of such a start (about 0.3 s of CPU) is the interpreter and the
SDK's imports (pulumi, pulumi_policy, grpc, protobuf), the same for every stack; on a 2-core
machine, six packs' starts compete with the gate's own work. Here one parent process imports
those modules once, with no stack in its environment, and forks a child per pack; the child
takes the pack's stdout, stderr, directory, environment and arguments, then runs the same entry
point the command runs (`runpy.run_module("pulumi.policy", run_name="__main__")`), which reads
the stack's settings from the environment when it runs, as a fresh process does. Nothing in the
parent reads a stack's setting at import: pulumi and pulumi_policy read PULUMI_* only when
called (pulumi/policy/__main__.py main, pulumi_policy/policy.py _configure_runtime_settings),
and the parent creates no gRPC channel, server or thread before it forks. The pack's own modules
(its __main__.py and what it imports) are imported by each child, never by the parent.

A single-stack run, and every test that speaks the protocol, starts its pack as the command
does; tests/test_gate_overlap.py proves that `--all` and `--state` answer as single runs do.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from typing import IO, Any

# Runs in the parent (`python -u -c _PARENT FD`): imports the SDK, then serves fork requests on
# the socket FD until it closes. A request is a JSON object (argv, env, cwd) with two file
# descriptors (the child's stdout and stderr); the reply is the child's pid.
_PARENT = r"""
import json, os, runpy, signal, socket, sys
import pulumi, pulumi.runtime, pulumi_policy  # what `python -m pulumi.policy` and a pack import
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
sock = socket.socket(fileno=int(sys.argv[1]))
while True:
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
    except OSError:
        break
    if not msg:
        break
    req = json.loads(msg)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        sock.sendall(json.dumps(pid).encode())
        continue
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = req["argv"]
        sys.path[0] = req["cwd"]  # what `-m` puts first: the directory it started in
        code = 0
        try:
            runpy.run_module("pulumi.policy", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
"""


class ForkedProcess:
    """A forked pack as `subprocess.Popen` is used by PolicyPackProcess: `stdout`, `poll`,
    `terminate`, `kill`, `wait`. It is the parent's child, not ours, so its exit is watched
    through a pidfd (Linux 5.3+); its exit status is not known here (None until it exits, then
    0)."""

    def __init__(self, pid: int, stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._pidfd = os.pidfd_open(pid)

    def _exited(self, timeout: float | None) -> bool:
        if self.returncode is None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if ready:
                self.returncode = 0
                os.close(self._pidfd)
        return self.returncode is not None

    def poll(self) -> int | None:
        self._exited(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited(timeout):
            raise subprocess.TimeoutExpired(f"pack process {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def _signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)


class PackForks:
    """The parent that forks packs. `spawn` is `subprocess.Popen` for a pack's command."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        self.python = python
        self._sock, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [python, "-u", "-c", _PARENT, str(theirs.fileno())],
            env=env,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # each child writes to its own pack's stdout and stderr
            stderr=subprocess.DEVNULL,
        )
        theirs.close()

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], stderr: Any) -> ForkedProcess:
        """Start `argv` (`python -u -m pulumi.policy ...`) as a child of the parent."""
        assert argv[1:4] == ["-u", "-m", "pulumi.policy"], argv
        read, write = os.pipe()
        try:
            request = {"argv": [argv[0], *argv[4:]], "env": env, "cwd": cwd}
            socket.send_fds(self._sock, [json.dumps(request).encode()], [write, stderr.fileno()])
            reply = self._sock.recv(64)
        finally:
            os.close(write)
        if not reply:
            os.close(read)
            raise OSError("the pack parent process ended")
        return ForkedProcess(int(json.loads(reply)), os.fdopen(read, "rb"))

    def close(self) -> None:
        self._sock.close()  # the parent's loop ends on EOF
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


ENV_SWITCH = "PREFLIGHT_PACK_FORKS"  # off|0|false|no: start every pack as the command does


def fork_supported() -> bool:
    """Linux with pidfds (5.3+), and not switched off (for comparisons, or a system where
    forking a parent with the SDK imported misbehaves)."""
    if os.environ.get(ENV_SWITCH, "").lower() in ("off", "0", "false", "no"):
        return False
    return hasattr(os, "pidfd_open") and hasattr(socket, "send_fds") and sys.platform == "linux"
