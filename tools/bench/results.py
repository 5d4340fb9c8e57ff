"""One line of the results table: a Cosmo figure next to its same-run baseline."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """``rate`` and ``baseline_rate`` are medians in the same ``unit``; ``ratio`` is what to compare."""

    what: str
    database: str
    unit: str
    rate: float
    baseline: str
    baseline_rate: float
    note: str = ""
    baseline_unit: str = ""

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_rate if self.baseline_rate else float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class ScanRow:
    """A pass over the whole log (export, verify, rebuild) next to a raw read of the same log.

    Rates count the events in the log, so ``ratio`` is the raw read's time over the pass's time;
    memory is the resident set of the process doing the pass (start of the pass, and its peak).
    """

    what: str
    database: str
    events: int
    seconds: float
    baseline_seconds: float
    rss_start_mib: float
    rss_peak_mib: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def baseline_rate(self) -> float:
        return self.events / self.baseline_seconds

    @property
    def ratio(self) -> float:
        return self.baseline_seconds / self.seconds if self.seconds else float("nan")

    @property
    def growth_mib(self) -> float:
        return max(0.0, self.rss_peak_mib - self.rss_start_mib)
