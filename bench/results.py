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
