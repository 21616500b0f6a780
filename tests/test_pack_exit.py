"""A pack's end is seen when it happens (`preflight.analyzer.wait_for_exit`): `stop` waits on a
pidfd for the pack it terminated, instead of `Popen.wait(timeout)`, which polls with growing
sleeps; without pidfds, or for a process reaped already, the polling wait stands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from preflight import analyzer
from preflight.analyzer import PolicyPackProcess, wait_for_exit
from tests.support import ROOT


def _pack() -> PolicyPackProcess:
    return PolicyPackProcess(ROOT / "policies", project="redis-vpc", stack="dev", dry_run=True)


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_the_exit_code_of_an_ended_process_is_returned_and_kept():
    proc = _python("import sys; sys.exit(3)")
    assert wait_for_exit(proc, timeout=30) == 3
    assert proc.returncode == 3  # reaped: no zombie left
    assert wait_for_exit(proc, timeout=0) == 3  # asked again: the code kept


def test_a_process_still_running_at_the_timeout_raises_and_can_be_waited_for_again():
    proc = _python("import time; time.sleep(60)")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_for_exit(proc, timeout=0.05)
        assert proc.returncode is None
    finally:
        proc.kill()
    assert wait_for_exit(proc, timeout=30) == -9


def _record_waits(monkeypatch) -> list[float | None]:
    """The timeout of every `Popen.wait` call from now on, in order."""
    seen: list[float | None] = []
    wait = subprocess.Popen.wait

    def recording(self, timeout=None):
        seen.append(timeout)
        return wait(self, timeout=timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", recording)
    return seen


def test_without_pidfds_the_polling_wait_is_used(monkeypatch):
    monkeypatch.delattr(os, "pidfd_open")
    seen = _record_waits(monkeypatch)
    proc = _python("import sys; sys.exit(4)")
    assert wait_for_exit(proc, timeout=30) == 4
    assert seen == [30]


def test_stop_waits_for_the_pack_without_polling(monkeypatch):
    """The gate's every run ends with `stop`: the pack it terminated is waited for on its pidfd
    (one `wait` without a timeout, once it has ended), never with `wait(timeout)`'s sleeps."""
    waits = _record_waits(monkeypatch)
    pack = _pack()
    pack.start()
    proc = pack._proc
    assert isinstance(proc, subprocess.Popen)
    pack.stop()
    assert proc.returncode is not None  # ended and reaped
    assert waits == [None]


def test_a_pack_that_ignores_sigterm_is_killed_after_the_timeout(monkeypatch, tmp_path):
    """`stop`'s fallback is unchanged: SIGTERM, then SIGKILL once the wait times out."""
    monkeypatch.setattr(
        analyzer, "wait_for_exit", lambda proc, timeout: wait_for_exit(proc, timeout=0.2)
    )
    pack = _pack()
    pack._proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert pack._proc.stdout is not None
    assert pack._proc.stdout.readline().strip() == b"ready"  # SIGTERM is ignored from here on
    proc = pack._proc
    pack.stop()
    assert proc.returncode == -9
