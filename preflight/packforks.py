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
and the parent creates no gRPC channel, server or thread before it forks (so no fork with
tracing asked for: `fork_supported`). Each child dies with the parent (PR_SET_PDEATHSIG), which
ends when the gate's end of its socket closes, the gate killed or not. The pack's own modules
(its __main__.py and what it imports) are imported by each child, never by the parent.

A single-stack run, and every test that speaks the protocol, starts its pack as the command
does; tests/test_gate_overlap.py proves that `--all` and `--state` answer as single runs do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import IO, Any

from preflight.analyzer import fd_readable

# Runs in the parent (`python -u -c _PARENT FD`): imports the SDK, then serves fork requests on
# the socket FD until it closes. A request: its length (8 bytes) with three file descriptors
# (the child's stdin, stdout and stderr), then a JSON object (argv, env, cwd). The reply: the
# child's pid (8 bytes) with its pidfd. (On a Unix stream socket a read never runs past data
# that carried descriptors, so one reply is one read.)
_PARENT = r"""
import ctypes, json, os, runpy, signal, socket, struct, sys
import pulumi, pulumi.runtime, pulumi_policy  # what `python -m pulumi.policy` and a pack import
sock = socket.socket(fileno=int(sys.argv[1]))

def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return

while True:
    reap()
    try:
        head, fds, _, _ = socket.recv_fds(sock, 8, 3)
        if len(head) < 8:
            break
        (size,) = struct.unpack("!Q", head)
        body = b""
        while len(body) < size:
            chunk = sock.recv(min(1 << 20, size - len(body)))
            if not chunk:
                raise EOFError
            body += chunk
    except (OSError, EOFError):
        break
    req = json.loads(body)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)  # before any reap: the pid is still this child's
        socket.send_fds(sock, [struct.pack("!q", pid)], [pidfd])
        os.close(pidfd)
        continue
    code = 1
    try:
        # Die with the parent (it ends when the gate's end of the socket closes, the gate
        # killed or not): prctl(PR_SET_PDEATHSIG, SIGKILL).
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        sock.close()
        for target, fd in enumerate(fds):  # stdin, stdout, stderr
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = req["argv"]
        sys.path[0] = req["cwd"]  # what `-m` puts first: the directory it started in
        code = 0
        try:
            runpy.run_module("pulumi.policy", run_name="__main__", alter_sys=True)
        except SystemExit as exc:  # as the interpreter ends on it (Py_Exit): a message, code 1
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                sys.stderr.write(f"{exc.code}\n")
                code = 1
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
reap()
os._exit(0)  # no teardown of the SDK's modules: nothing to clean up, and it takes a while
"""


class ForkedProcess:
    """A forked pack as `subprocess.Popen` is used by PolicyPackProcess: `stdout`, `poll`,
    `terminate`, `kill`, `wait`. It is the parent's child, not ours, so its exit is watched
    through a pidfd (Linux 5.3+) that the parent opened; its exit status is not known here
    (None until it exits, then 0). Its pid and pidfd arrive with the parent's reply, read when
    first needed: the parent answers once it has imported the SDK, and the gate does not wait
    for that (the child's port line comes through `stdout`, which is ours from the start)."""

    def __init__(self, forks: PackForks, stdout: IO[bytes]) -> None:
        self._forks = forks
        self.stdout = stdout
        self.returncode: int | None = None
        self._pid: int | None = None
        self._pidfd = -1
        self._answered = False

    def answer(self, pid: int | None, pidfd: int) -> None:
        """The parent's reply (None: it ended before forking this one)."""
        self._pid, self._pidfd, self._answered = pid, pidfd, True
        if pid is None:
            self.returncode = 1

    @property
    def pid(self) -> int | None:
        self._forks.answer_until(self)
        return self._pid

    def _exited(self, timeout: float | None) -> bool:
        self._forks.answer_until(self)
        if self.returncode is None and fd_readable(self._pidfd, timeout):
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
        self._forks.answer_until(self)
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def terminate_nowait(self) -> None:
        """From a signal handler: only if the parent has answered (no lock, no read); a child
        not yet answered for dies with its parent, which ends with this process's socket."""
        if self._answered and self.returncode is None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)


class PackForks:
    """The parent that forks packs. `spawn` is `subprocess.Popen` for a pack's command."""

    def __init__(self, python: str, env: dict[str, str], cwd: str) -> None:
        """`cwd`: the pack's directory, where the command starts (what `-m` puts first on
        sys.path while the SDK is imported)."""
        self.python = python
        self._lock = threading.Lock()  # requests and replies, from the packs' threads
        self._unanswered: list[ForkedProcess] = []
        self._sock, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [python, "-u", "-c", _PARENT, str(theirs.fileno())],
            cwd=cwd,
            env=env,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # each child writes to its own pack's stdout and stderr
            stderr=subprocess.DEVNULL,
        )
        theirs.close()

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], stderr: Any) -> ForkedProcess:
        """Start `argv` (`python -u -m pulumi.policy ...`) as a child of the parent, with this
        process's stdin, as a started process inherits it. Raises OSError when the parent is
        gone (the caller then starts the pack as the command does)."""
        assert argv[1:4] == ["-u", "-m", "pulumi.policy"], argv
        read, write = os.pipe()
        try:
            body = json.dumps({"argv": [argv[0], *argv[4:]], "env": env, "cwd": cwd}).encode()
            with self._lock:
                socket.send_fds(
                    self._sock, [struct.pack("!Q", len(body))], [0, write, stderr.fileno()]
                )
                self._sock.sendall(body)  # any size: the parent reads until it has all of it
                process = ForkedProcess(self, os.fdopen(read, "rb"))
                self._unanswered.append(process)
        except OSError:
            os.close(read)
            raise
        finally:
            os.close(write)
        return process

    def answer_until(self, process: ForkedProcess) -> None:
        """Read the parent's replies, in the order of the requests, up to `process`'s."""
        with self._lock:
            while not process._answered:
                first = self._unanswered.pop(0)
                try:
                    reply, fds, _, _ = socket.recv_fds(self._sock, 8, 1)
                except OSError:
                    reply, fds = b"", []
                if len(reply) != 8 or len(fds) != 1:
                    for fd in fds:
                        os.close(fd)
                    first.answer(None, -1)
                else:
                    first.answer(struct.unpack("!q", reply)[0], fds[0])

    def close(self) -> None:
        for process in list(self._unanswered):
            self.answer_until(process)  # each pidfd, so a stop can still reach its child
        self._sock.close()  # the parent's loop ends on EOF
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


ENV_SWITCH = "PREFLIGHT_PACK_FORKS"  # off|0|false|no: start every pack as the command does

# With tracing asked for, importing pulumi starts an exporter thread and a gRPC channel
# (pulumi/runtime/_instrumentation.py): not something to fork.
_TRACING = ("TRACEPARENT", "PULUMI_OTEL_", "OTEL_", "PULUMI_TRACING")


def fork_supported() -> bool:
    """Linux whose kernel (5.3+) and seccomp profile allow pidfds, no tracing in the
    environment, and not switched off (for comparisons, or a system where forking a parent with
    the SDK imported misbehaves)."""
    if os.environ.get(ENV_SWITCH, "").lower() in ("off", "0", "false", "no"):
        return False
    if any(k.startswith(_TRACING) for k in os.environ):
        return False
    if sys.platform != "linux" or not hasattr(socket, "send_fds"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # Linux < 5.3, or a seccomp profile that denies it
        return False
    return True
