"""Each variant's encoder quality, searched per image for the lowest that keeps luma SSIM >= a target.

Why: a fixed quality must suit the hardest photo, so it wastes bytes on every other one (issue 11:
fixed WebP q80 stored a 12 MP photo ~10x smaller, a quality searched against SSIM 0.95 ~24-45x).
The search is a bisection over a short grid of qualities (every ``STEP`` from the format's floor to
its ceiling): three encodes per variant, each scored by luma SSIM against the variant's
reference, the resized image before encoding, at full size. Encodes of the largest variant cost
most, so a caller may start a search from the quality found for a smaller size of the same photo
(``at_least``): the hint itself is tried first, then one step above it, which between them settle
most photos in one or two encodes, and only then does the bisection take over. Qualities below the
hint are never tried, which can only cost bytes, never SSIM.

Luma SSIM is lenient: very low qualities pass while smearing fine detail and colour. The floor of
each grid is that guard (docs/adr/0014): no variant is ever encoded below it. When even the
ceiling misses the target (noise-like content), the ceiling's encoding is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from PIL import Image

from infrastructure.images.sharing import both
from infrastructure.images.ssim import WINDOW, LumaReference

STEP = 5


@dataclass(frozen=True, slots=True)
class QualityRange:
    """The qualities a search may pick for one format: ``floor``, ``floor + STEP``, … ``ceiling``."""

    floor: int
    ceiling: int

    def grid(self) -> list[int]:
        return list(range(self.floor, self.ceiling + 1, STEP))


@dataclass(frozen=True, slots=True)
class Encoding:
    quality: int
    data: bytes
    ssim: float | None  # None: the image is smaller than one SSIM window, so none was measured


def search_quality(
    reference: Image.Image,
    encode_at: Callable[[int], bytes],
    decode: Callable[[bytes], Image.Image],
    qualities: QualityRange,
    target: float,
    at_least: int | None = None,
    executor: Executor | None = None,
    first: int | None = None,
) -> Encoding:
    """The lowest quality of the grid whose encoding scores at least ``target`` (else the ceiling).

    Bisection assumes SSIM grows with quality, which holds for these encoders up to noise of a
    few thousandths; every returned encoding was measured, never extrapolated. An ``executor``
    changes no probe, only who does the work: the first encode runs on it while this thread makes
    the reference's sums, and each SSIM is computed in two halves, one on each.

    Without a hint, ``first`` (a quality of the grid) is probed first instead of the middle one,
    and the bisection goes on from there on whichever side it leaves: the quality found is the
    same, only the number of encodes changes (fewer when the guess is close).
    """
    grid = [q for q in qualities.grid() if at_least is None or q >= at_least] or qualities.grid()[-1:]
    if min(reference.size) < WINDOW:  # a sliver: too small to measure, and too small to matter
        return Encoding(grid[-1], encode_at(grid[-1]), None)
    low, high = 0, len(grid) - 1
    if at_least is not None:
        middle = 0
    elif first is not None and first in grid:
        middle = grid.index(first)
    else:
        middle = high // 2
    start = grid[middle]
    measure, data = both(executor, lambda: LumaReference(reference), lambda: encode_at(start))
    best: Encoding | None = None
    while True:
        last = Encoding(grid[middle], data, measure.ssim(decode(data), executor))
        if last.ssim is not None and last.ssim >= target:
            best, high = last, middle - 1
        else:
            low = middle + 1
        if low > high:
            # With no quality passing, the bisection's last probe was the ceiling.
            return best if best is not None else last
        middle = low if at_least is not None and low <= 1 else (low + high) // 2
        data = encode_at(grid[middle])
