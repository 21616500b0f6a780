"""A pack's end is seen when it happens (`preflight.analyzer.wait_for_exit`): `stop` waits on a
pidfd for the pack it terminated, instead of `Popen.wait(timeout)`, which polls with growing
sleeps; without pidfds, or for a process reaped already, the polling wait stands. Either way it
answers as `Popen.wait(timeout)` does: the exit code, or subprocess.TimeoutExpired."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from preflight import analyzer
from preflight.analyzer import PolicyPackProcess, fd_readable, wait_for_exit
from tests.support import ROOT

# Ends 0.1 s after SIGTERM (a pack finishing its work), or when its sleep runs out.
SLOW_TO_END = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(0.1), sys.exit(0)))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _pack() -> PolicyPackProcess:
    return PolicyPackProcess(ROOT / "policies", project="redis-vpc", stack="dev", dry_run=True)


def _python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], **kwargs)


def _ready(code: str) -> subprocess.Popen:
    """A process that has printed `ready` (its SIGTERM handler, if any, is in place)."""
    proc = _python(code, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc


def _count_waitpids(monkeypatch) -> list[int]:
    """How many times Popen's wait looks for the exit (`_try_wait`: one `waitpid` each): once
    when it is told of the exit, again after each of its sleeps when it polls."""
    calls: list[int] = []
    try_wait = subprocess.Popen._try_wait  # type: ignore[attr-defined]

    def counting(self, flags):
        calls.append(flags)
        return try_wait(self, flags)

    monkeypatch.setattr(subprocess.Popen, "_try_wait", counting)
    return calls


def _record_waits(monkeypatch) -> list[float | None]:
    """The timeout of every `Popen.wait` call from now on, in order."""
    seen: list[float | None] = []
    wait = subprocess.Popen.wait

    def recording(self, timeout=None):
        seen.append(timeout)
        return wait(self, timeout=timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", recording)
    return seen


def test_the_end_is_seen_once_it_happens_and_its_code_kept(monkeypatch):
    proc = _python("import sys, time; time.sleep(0.1); sys.exit(3)")
    waitpids = _count_waitpids(monkeypatch)
    assert wait_for_exit(proc, timeout=30) == 3
    assert proc.returncode == 3  # reaped: no zombie left
    assert len(waitpids) == 1  # told of the exit, not polling for it
    assert wait_for_exit(proc, timeout=0) == 3  # asked again: the code kept


def test_a_process_still_running_at_the_timeout_raises_and_can_be_waited_for_again():
    proc = _python("import time; time.sleep(60)")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_for_exit(proc, timeout=0.05)
        with pytest.raises(subprocess.TimeoutExpired):  # as Popen.wait(-1): no ValueError
            wait_for_exit(proc, timeout=-1)
        assert proc.returncode is None
    finally:
        proc.kill()
    assert wait_for_exit(proc, timeout=30) == -9


def test_any_timeout_popen_wait_takes_is_taken():
    """A timeout too large for poll's milliseconds, and a negative one for a process that has
    ended: the exit code, as Popen.wait gives it."""
    proc = _python("import sys; sys.exit(5)")
    assert wait_for_exit(proc, timeout=1e12) == 5
    ended = _python("import sys; sys.exit(6)")
    stat = Path(f"/proc/{ended.pid}/stat")
    while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        pass  # ended, not reaped: what the pidfd sees at once
    assert wait_for_exit(ended, timeout=-1) == 6


@pytest.mark.parametrize("broken", ["missing", "failing"])
def test_without_a_pidfd_the_polling_wait_is_used(monkeypatch, broken):
    """A kernel or Python without pidfd_open, or one that refuses it (an old kernel: ENOSYS)."""
    if broken == "missing":
        monkeypatch.delattr(os, "pidfd_open")
    else:

        def refusing(pid: int, flags: int = 0) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(os, "pidfd_open", refusing)
    seen = _record_waits(monkeypatch)
    proc = _python("import sys; sys.exit(4)")
    assert wait_for_exit(proc, timeout=30) == 4
    assert seen == [30]


def test_a_process_reaped_before_its_pidfd_is_opened_answers_with_its_code(monkeypatch):
    """Reaped by another caller between the check and `pidfd_open` (its pid free for another
    process, which the pidfd may then name): its code, at once."""
    proc = _python("import sys; sys.exit(7)")
    pidfd_open = os.pidfd_open

    def reaped_meanwhile(pid: int, flags: int = 0) -> int:
        os.waitpid(pid, 0)  # another caller reaps it: Popen learns of it through ECHILD
        proc.returncode = 7  # as Popen.poll() in that caller sets it
        return pidfd_open(os.getpid())  # a pidfd of a process that does not end

    monkeypatch.setattr(os, "pidfd_open", reaped_meanwhile)
    assert wait_for_exit(proc, timeout=30) == 7


def test_a_pidfd_numbered_above_1023_is_waited_on(monkeypatch):
    """`select` refuses descriptors from 1024 on; a gate with many packs and channels open
    reaches them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard}")
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held: list[int] = []
    try:
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            if fd >= 1030:
                os.close(fd)  # the next descriptor handed out is this high
                break
            held.append(fd)
        proc = _python("import sys, time; time.sleep(0.05); sys.exit(9)")
        waitpids = _count_waitpids(monkeypatch)
        assert wait_for_exit(proc, timeout=30) == 9
        assert len(waitpids) == 1
        read, write = os.pipe()  # both above 1023
        assert read >= 1024 and not fd_readable(read, 0.0)
        os.write(write, b"x")
        assert fd_readable(read, 0.0)
        os.close(read)
        os.close(write)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_stop_waits_for_a_pack_that_is_slow_to_end_without_polling(monkeypatch):
    """The gate's every run ends with `stop`: the pack it terminated (here one that takes 0.1 s
    to end) is waited for on its pidfd, and reaped by one `waitpid` once it has ended."""
    pack = _pack()
    pack._proc = proc = _ready(SLOW_TO_END)
    waitpids = _count_waitpids(monkeypatch)
    pack.stop()
    assert proc.returncode == 0
    assert len(waitpids) == 1


def test_stop_ends_a_real_pack_and_reaps_it():
    pack = _pack()
    pack.start()
    proc = pack._proc
    assert isinstance(proc, subprocess.Popen)
    pack.stop()
    assert proc.returncode is not None  # ended and reaped


def test_a_pack_that_ignores_sigterm_is_killed_after_the_timeout(monkeypatch):
    """`stop`'s fallback: SIGTERM, then SIGKILL once the wait times out."""
    monkeypatch.setattr(
        analyzer, "wait_for_exit", lambda proc, timeout: wait_for_exit(proc, timeout=0.2)
    )
    pack = _pack()
    pack._proc = proc = _ready(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    pack.stop()
    assert proc.returncode == -9


def test_a_pack_that_never_prints_its_port_is_an_error_after_the_start_timeout(tmp_path):
    """`connect` waits for the port line up to `start_timeout` (`fd_readable` on the pack's
    stdout), then stops the pack and says so."""
    from preflight.analyzer import PolicyPackError
    from tests.support import write_pack

    packdir = write_pack(tmp_path / "pack", "import time\ntime.sleep(60)\n")
    pack = PolicyPackProcess(packdir, project="p", stack="s", dry_run=False, start_timeout=0.5)
    pack.launch()
    proc = pack._proc
    with pytest.raises(PolicyPackError, match="did not start within"):
        pack.connect()
    assert pack._proc is None and proc.returncode is not None  # stopped and reaped
