"""Reviewer's tests for issue 24's gate changes (wt-review24): defects found in review."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.support import ROOT, run_preflight, write_pack

# A pack (not ours) that records its pid, and whose stack policy takes a while: the gate's
# evaluation thread is still busy with the first stack when a later stack's program fails.
_SLOW_PACK = """
import os, time
from pulumi_policy import EnforcementLevel, PolicyPack, StackValidationPolicy
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pids"), "a") as f:
    f.write(f"{os.getpid()}\\n")
PolicyPack(name="slow", enforcement_level=EnforcementLevel.ADVISORY, policies=[
    StackValidationPolicy(name="slow", description="d", validate=lambda a, r: time.sleep(2)),
])
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("forks", ["on", "off"])
def test_a_later_stack_failing_stops_every_pack_of_the_run(tmp_path, monkeypatch, forks):
    """--all over four stacks where the last program fails (an import only it makes): the run
    ends with exit 2, and no pack process it started is still running afterwards, neither the
    packs whose evaluation was queued (cancelled) nor forked ones (grandchildren, which the
    `no_leftovers` fixture of tests/test_gate_overlap.py cannot see)."""
    from preflight import packforks

    if forks == "off":
        monkeypatch.setenv(packforks.ENV_SWITCH, "off")
    pack = write_pack(tmp_path / "pack", _SLOW_PACK)
    program = tmp_path / "program"
    shutil.copytree(ROOT / "tests/thirdparty/orders-v1", program)
    base = (program / "Pulumi.staging.yaml").read_text()
    for stack in ("a", "b", "c", "d"):
        (program / f"Pulumi.{stack}.yaml").write_text(base)
    (program / "Pulumi.staging.yaml").unlink()
    main = program / "__main__.py"
    main.write_text(main.read_text() + '\nif stack == "d":\n    import not_a_module_r24  # noqa\n')
    pids: list[int] = []
    try:
        run = run_preflight("--all", "--program", str(program), "--policy-pack", str(pack))
        assert run.returncode == 2 and "not_a_module_r24" in run.stderr, run.stderr
        time.sleep(0.5)  # a stopped pack has exited by now
        pids = [int(p) for p in (pack / "pids").read_text().split()]
        assert len(pids) >= 3  # d's pack may be stopped before it imports the pack
        left = [p for p in pids if _alive(p)]
        assert not left, f"pack processes still running after the gate returned: {left}"
    finally:
        for p in pids:  # only the packs this test started
            if _alive(p):
                os.kill(p, 9)


def test_a_forked_pack_that_exits_at_once_is_a_start_error_not_a_traceback(tmp_path, monkeypatch):
    """A pack that fails at once, under --all with forked packs: the parent ignores SIGCHLD, so
    the kernel reaps the child as soon as it exits, and `os.pidfd_open(pid)` in the gate can come
    too late (ProcessLookupError; seen 1 in 300 spawns unaided on a loaded 2-core machine, here made
    certain by delaying pidfd_open until the child is gone). The run must still end as a
    started pack's failure does: exit 2, the pack's own message."""
    from preflight import packforks

    pack = write_pack(tmp_path / "pack", "raise SystemExit('broken pack')\n")
    real = os.pidfd_open

    def late(pid: int, *args: int) -> int:
        time.sleep(1.0)  # the child has exited and been reaped by now
        return real(pid, *args)

    monkeypatch.setattr(packforks.os, "pidfd_open", late)
    run = run_preflight("--all", "--policy-pack", str(pack), "--no-plan")
    assert run.returncode == 2, run.stderr
    assert "broken pack" in run.stderr and "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("forks", ["on", "off"])
def test_a_pack_that_exits_with_a_message_is_reported_with_it(tmp_path, monkeypatch, forks):
    """`raise SystemExit('broken pack')` in a pack: the interpreter prints the message to stderr
    and exits 1, and the gate's error quotes the pack's stderr. A forked child catches the
    SystemExit itself (packforks._PARENT) and drops the message: the error reads
    "the policy pack failed to start:" and nothing else."""
    from preflight import packforks

    if forks == "off":
        monkeypatch.setenv(packforks.ENV_SWITCH, "off")
    pack = write_pack(tmp_path / "pack", "raise SystemExit('broken pack')\n")
    run = run_preflight("--all", "--policy-pack", str(pack), "--no-plan")
    assert run.returncode == 2, run.stderr
    assert "failed to start:\nbroken pack" in run.stderr, run.stderr


@pytest.mark.parametrize("size", [20_000, 40_000])
def test_forked_packs_take_an_environment_of_any_size(monkeypatch, size):
    """packforks sends each fork request (argv, env, cwd) as one JSON message over a SOCK_STREAM
    socketpair and reads it with a single recv_fds: a message larger than what one read returns
    (about 32 KiB here: one socket buffer segment) arrives in pieces, the parent's json.loads fails, the parent dies, and the
    gate ends on an OSError/ConnectionResetError traceback (exit 1, which means "mandatory
    findings"). A started pack
    takes the same environment without trouble (an environment variable may be 128 KiB)."""
    monkeypatch.setenv("R24_BIG", "x" * size)
    run = run_preflight("--all", "--no-plan")
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr, run.stderr[-600:]
    assert "valkey (update)" in run.stdout


def test_a_kernel_without_pidfds_falls_back_to_started_packs(monkeypatch):
    """`fork_supported()` asks only whether this Python has os.pidfd_open (it has, whenever it
    was built on Linux 5.3+ headers), not whether the running kernel or the container's seccomp
    profile allows the call: on Linux < 5.3, or under a seccomp filter that denies pidfd_open
    (Docker before 20.10), every call fails with ENOSYS/EPERM and --all ends on a traceback
    instead of starting its packs as the command does."""
    import errno

    from preflight import packforks

    def denied(pid: int, *args: int) -> int:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(packforks.os, "pidfd_open", denied)
    run = run_preflight("--all", "--no-plan")
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr, run.stderr[-600:]
    assert "valkey (update)" in run.stdout
