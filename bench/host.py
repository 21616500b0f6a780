"""What else the host did while a benchmark ran: the share of CPU time the hypervisor gave other
guests (steal) and the share the machine was busy, from /proc/stat (proc(5): the aggregate
`cpu` line's user, nice, system, idle, iowait, irq, softirq, steal ticks). On this shared 2-core
machine steal moved from nothing to 40% of the time within an hour, which changes every figure
and, because the gate runs two processes where its floor runs one, the ratios too: each table
says what it was."""

from __future__ import annotations

from pathlib import Path


def _ticks() -> list[int] | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if first[0] != "cpu" or len(first) < 9:
        return None
    return [int(x) for x in first[1:9]]


class HostShare:
    """Started when built; `text()` says what the host did since."""

    def __init__(self) -> None:
        self._start = _ticks()

    def shares(self) -> tuple[float, float] | None:
        """(steal, busy) as fractions of all CPU time since the start; None without /proc."""
        end = _ticks()
        if self._start is None or end is None:
            return None
        delta = [b - a for a, b in zip(self._start, end, strict=True)]
        total = sum(delta)
        if total <= 0:
            return None
        idle = delta[3] + delta[4]
        steal = delta[7]
        return steal / total, (total - idle - steal) / total

    def text(self) -> str:
        shares = self.shares()
        if shares is None:
            return "(host CPU shares unknown: no /proc/stat)"
        steal, busy = shares
        return f"(host during the run: {steal:.0%} of CPU time stolen by other guests, {busy:.0%} busy)"
