"""The image policy's work per photo: bytes stored, SSIM of each variant, and time, next to a plain save.

Why: the policy promises variants that are a fraction of the upload's bytes at an SSIM of at
least 0.95 against the resized reference, in a time a worker can keep up with. The same-run
baseline is what a naive server would do with the upload: Pillow's plain ``save`` as JPEG
quality 75 at full size (no resize, no orientation, no colour conversion). Inputs are the fixture
photos and the generated 12 MP phone-like JPEG the tests use; the work is
``infrastructure.images.codec.make_variants`` with the app's default widths and formats.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from PIL import Image

from infrastructure.images.codec import Variant, make_variants, prepare
from tests.fixtures import hard_images
from tests.fixtures.ssim import ssim

# The defaults of COSMO_IMAGE_WIDTHS and COSMO_IMAGE_FORMATS in infrastructure/settings.py.
APP_WIDTHS: tuple[int, ...] = (2048, 1024, 480)
APP_FORMATS: tuple[str, ...] = ("webp", "jpeg")
BASELINE_QUALITY = 75
BASELINE = f"Pillow `save` as JPEG q{BASELINE_QUALITY}, full size"
PHONE = "phone_jpeg_12mp (generated, q95)"

ORIENTATION_TAG = 0x0112

T = TypeVar("T")


@dataclass(frozen=True)
class VariantFigure:
    image: str
    width: int
    height: int
    format: str
    bytes: int
    ssim: float


@dataclass(frozen=True)
class ImageFigure:
    """One input: what the policy stores and how long it takes, and the same for the baseline."""

    name: str
    size: tuple[int, int]
    original_bytes: int
    stored_bytes: dict[str, int]  # all variants of each format
    policy_ms: float
    min_ssim: float
    baseline_ms: float
    baseline_bytes: int
    baseline_ssim: float
    orientation: int  # the upload's EXIF orientation (1: as stored)
    baseline_orientation: int  # the baseline file's (1 when it has no EXIF at all)

    @property
    def total_stored(self) -> int:
        return sum(self.stored_bytes.values())

    @property
    def time_ratio(self) -> float:
        return self.policy_ms / self.baseline_ms


def inputs() -> list[tuple[str, bytes]]:
    photos = [(name, hard_images.photo(name)) for name in hard_images.PHOTOS]
    return [*photos, (PHONE, hard_images.phone_jpeg_12mp())]


def plain_jpeg(data: bytes) -> bytes:
    """The baseline: open, decode, save as it comes (RGB for JPEG), nothing else."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = image if image.mode in ("RGB", "L") else image.convert("RGB")
        out = io.BytesIO()
        pixels.save(out, "JPEG", quality=BASELINE_QUALITY)
        return out.getvalue()


def _orientation(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    return value if isinstance(value, int) else 1


def _decoded_luma(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("L")


def _ms(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return (time.perf_counter() - started) * 1000, result


def _variant_ssims(name: str, data: bytes, variants: list[Variant]) -> list[VariantFigure]:
    """Luma SSIM of each variant against its reference, the prepared image before encoding."""
    references = {reference.width: reference for reference in prepare(data, APP_WIDTHS)}
    figures = []
    for variant in variants:
        reference = references[variant.width].convert("L")
        score = ssim(reference, _decoded_luma(variant.data))
        figures.append(
            VariantFigure(name, variant.width, variant.height, variant.format, variant.size_bytes, score)
        )
    return figures


def measure(repeats: int, log: Callable[[str], None]) -> tuple[list[ImageFigure], list[VariantFigure]]:
    """Alternate the policy and the baseline ``repeats`` times per input; keep the median times."""
    figures: list[ImageFigure] = []
    details: list[VariantFigure] = []
    for name, data in inputs():
        policy_ms: list[float] = []
        baseline_ms: list[float] = []
        variants: list[Variant] = []
        baseline = b""
        for _ in range(repeats):
            elapsed, variants = _ms(partial(make_variants, data, APP_WIDTHS, APP_FORMATS))
            policy_ms.append(elapsed)
            elapsed, baseline = _ms(partial(plain_jpeg, data))
            baseline_ms.append(elapsed)
        scores = _variant_ssims(name, data, variants)
        details += scores
        stored: dict[str, int] = {}
        for variant in variants:
            stored[variant.format] = stored.get(variant.format, 0) + variant.size_bytes
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
        figure = ImageFigure(
            name=name,
            size=size,
            original_bytes=len(data),
            stored_bytes=stored,
            policy_ms=statistics.median(policy_ms),
            min_ssim=min(score.ssim for score in scores),
            baseline_ms=statistics.median(baseline_ms),
            baseline_bytes=len(baseline),
            baseline_ssim=ssim(_decoded_luma(data), _decoded_luma(baseline)),
            orientation=_orientation(data),
            baseline_orientation=_orientation(baseline),
        )
        figures.append(figure)
        log(
            f"  image {name}: policy {figure.policy_ms:,.0f} ms, {figure.total_stored:,} B stored"
            f" (min SSIM {figure.min_ssim:.3f}); baseline {figure.baseline_ms:,.0f} ms,"
            f" {figure.baseline_bytes:,} B"
        )
    return figures, details
