"""Luma SSIM fast enough to steer a quality search on a 2048-pixel variant (~0.05 s a candidate).

The measure is Wang et al. (2004) with scikit-image's ``structural_similarity`` defaults (the tests
hold it to a plain window-by-window reference, ``tests/fixtures/ssim.py``): a 7x7 uniform window, sample
covariance, K1 = 0.01, K2 = 0.03, data range 255, averaged over every window that fits inside the
image. Only the luma plane (Pillow's ``L``, ITU-R 601) is compared: it is where the eye sees
compression damage, and one plane costs a third of three. It is computed on the full-size variant:
SSIM on a downscaled copy picks qualities that then fail at full size.

Window sums are exact int32 sums of shared pairs (docs/adr/0038), taken in strips of rows so the
arrays stay in cache (measured: integral images in float64 were five times slower here, cumulative
sums in int32 a third slower).
The means and (co)variances stay exact int32 until the last few operations, and the reference's
own terms are computed once per search and reused for every candidate encoding (~0.05 s a
2048-pixel candidate: a quarter to a half less than doing it all in float64, docs/adr/0027).
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
import numpy.typing as npt
from PIL import Image

from infrastructure.images.sharing import both

WINDOW = 7
_STRIP = 64
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_N = WINDOW * WINDOW
_A = _C1 * _N * _N  # C1 and C2 on the scale of the window sums
_B = _C2 * _N * (_N - 1)

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
# One strip of the reference: its rows, luma, window sum, that sum squared, and n x its squares' sum.
_Strip = tuple[int, int, IntArray, IntArray, IntArray, IntArray]


class IncomparableImages(ValueError):
    """SSIM needs two images of the same size, at least one window large."""


class LumaReference:
    """The reference of a search: its luma strips and their window sums, ready for many candidates."""

    def __init__(self, reference: Image.Image) -> None:
        if min(reference.size) < WINDOW:
            raise IncomparableImages(f"smaller than the {WINDOW}-pixel window: {reference.size}")
        self.size = reference.size
        x = _luma(reference)
        self._strips: list[_Strip] = [
            (top, bottom, strip, sx, sx * sx, _N * _window_sum(strip * strip))
            for top, bottom in _strip_bounds(x.shape[0])
            for strip in [np.ascontiguousarray(x[top:bottom])]
            for sx in [_window_sum(strip)]
        ]

    def ssim(self, candidate: Image.Image, executor: Executor | None = None) -> float:
        """Mean luma SSIM of ``candidate`` against the reference (1.0 means identical).

        With an ``executor``, half of the strips are summed on one of its threads (numpy releases
        the GIL in its loops); the result is the same up to the order of the additions.

        With window sums ``sx``, ``sy`` and the n-scaled (co)variances, each window's SSIM is
        ``(2 sx sy + A) (2 (n sxy - sx sy) + B) / ((sx² + sy² + A) (n sxx - sx² + n syy - sy² + B))``
        (the 1/n² and 1/(n(n-1)) factors cancel). Every term before the constants is an exact
        int32 (at most 2 x 49² x 255² < 2³¹), so only the last few operations are in floating point.
        """
        if candidate.size != self.size:
            raise IncomparableImages(f"sizes differ: {self.size} vs {candidate.size}")
        y_all = _luma(candidate)
        half = len(self._strips) // 2
        (upper, upper_count), (lower, lower_count) = both(
            executor,
            lambda: self._sum(y_all, self._strips[:half]),
            lambda: self._sum(y_all, self._strips[half:]),
        )
        return (upper + lower) / (upper_count + lower_count)

    @staticmethod
    def _sum(y_all: IntArray, strips: list[_Strip]) -> tuple[float, int]:
        """The sum of the windows' SSIM over ``strips``, and how many windows there were."""
        total, count = 0.0, 0
        for top, bottom, x, sx, sx2, n_sxx in strips:
            y = y_all[top:bottom]
            sy = _window_sum(y)
            n_cov = _N * _window_sum(x * y)
            means = sx * sy
            n_cov -= means
            squares = sy * sy
            squares += sx2
            n_var = _N * _window_sum(y * y)
            n_var += n_sxx
            n_var -= squares
            values: FloatArray = (2.0 * means + _A) * (2.0 * n_cov + _B)
            values /= (squares + _A) * (n_var + _B)
            total += float(values.sum())
            count += values.size
        return total, count


def luma_ssim(reference: Image.Image, candidate: Image.Image) -> float:
    """Luma SSIM of one pair; a search compares many candidates with one ``LumaReference``."""
    return LumaReference(reference).ssim(candidate)


def _luma(image: Image.Image) -> IntArray:
    plane = image if image.mode == "L" else image.convert("L")
    return np.asarray(plane, dtype=np.int32)


def _strip_bounds(height: int) -> list[tuple[int, int]]:
    """Row ranges that overlap by WINDOW - 1, so every window lies in exactly one of them."""
    return [(top, min(top + _STRIP + WINDOW - 1, height)) for top in range(0, height - WINDOW + 1, _STRIP)]


def _window_sum(a: IntArray) -> IntArray:
    """Sums over every WINDOWxWINDOW window that fits inside ``a``: sums of seven along the rows,
    then sums of seven of those down the columns."""
    return _sums_of_seven(_sums_of_seven(a, axis=1), axis=0)


def _sums_of_seven(a: IntArray, axis: int) -> IntArray:
    """Sums of every WINDOW (seven) consecutive values along ``axis``.

    Why pairs: seven values are three pairs and one value, and the pairs are shared by the
    neighbouring windows, so each sum costs four array additions instead of six (a copy and six
    in the plain way): ~8% of an SSIM with its reference at 2048 px, and the same exact integers.
    """
    assert WINDOW == 7, "three overlapping pairs and one value make a window of seven"
    count = a.shape[axis] - WINDOW + 1
    pairs = _along(a, axis, 0, a.shape[axis] - 1) + _along(a, axis, 1, a.shape[axis] - 1)
    sums = _along(pairs, axis, 0, count) + _along(pairs, axis, 2, count)
    sums += _along(pairs, axis, 4, count)
    sums += _along(a, axis, 6, count)
    return sums


def _along(a: IntArray, axis: int, start: int, length: int) -> IntArray:
    """``length`` rows (axis 0) or columns (axis 1) of ``a`` from ``start``: a view, not a copy."""
    return a[(slice(None),) * axis + (slice(start, start + length),)]
