"""CPU time of Chromium's renderer main threads, read from ``/proc`` (Linux).

Wall-clock rates suffer when other work shares the two cores; the CPU time the page's
main thread (``CrRendererMain``) used does not, so every throughput run also records it
(``cpu_ms``) and item 7 reports main-thread CPU per second beside DevTools' busy time.
Only renderers that descend from this process are counted (other sessions' browsers on
the same machine are not).
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _descendants(root: int) -> list[int]:
    kids = _children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in kids.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def renderer_main_cpu_ns(root: int | None = None) -> int | None:
    """Total CPU nanoseconds of the renderer main threads below ``root`` (this process).

    ``None`` where ``/proc`` has no such information (not Linux).
    """
    if not (PROC / "self" / "task").is_dir():
        return None
    total = 0
    for pid in _descendants(root or os.getpid()):
        try:
            if b"--type=renderer" not in (PROC / str(pid) / "cmdline").read_bytes():
                continue
            # The main thread (CrRendererMain) is the thread whose id is the process id.
            total += int((PROC / str(pid) / "task" / str(pid) / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
    return total
