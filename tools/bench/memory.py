"""Peak resident memory of one phase of a process, from the kernel's own high-water mark.

Why: "flat memory" is a claim about the whole process (Python objects, the database driver's
buffers, SQLite's page cache), which ``tracemalloc`` would not see and would slow down several
times. Linux keeps a resident-set high-water mark per process (``VmHWM``) and lets a process
reset it to its current size (``echo 5 > /proc/self/clear_refs``), so each measured phase
gets its own peak, with the size it started from to tell growth from the fixed cost of startup.
"""

from __future__ import annotations

import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Peak:
    """Resident set sizes in MiB: at the start of the phase and the highest during it."""

    start_mib: float = 0.0
    peak_mib: float = 0.0
    exact: bool = field(default=True)

    @property
    def growth_mib(self) -> float:
        return max(0.0, self.peak_mib - self.start_mib)


def _status_kib(key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_high_water() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def peak_rss() -> Iterator[Peak]:
    """Measure the phase in the ``with`` block; without ``clear_refs`` the peak is the process's."""
    exact = _reset_high_water()
    peak = Peak(exact=exact)
    peak.start_mib = (_status_kib("VmRSS") or 0) / 1024
    try:
        yield peak
    finally:
        high = _status_kib("VmHWM")
        if high is None:
            high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            peak.exact = False
        peak.peak_mib = high / 1024
