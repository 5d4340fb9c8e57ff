"""The image policy's work per photo: bytes stored, SSIM of each variant, and time, next to libvips.

Why: the policy promises variants that together are a small fraction of the upload's bytes, each
at a luma SSIM of at least 0.95 against its reference (the resized image before encoding), in a
time close to the fastest image library around (issue 11: within 1.5x). The same-run baseline is
libvips (``pyvips`` with its bundled binary, bench-only) doing the same job at a fixed quality:
``thumbnail`` (shrink-on-load, orientation, sRGB) to the largest width, each smaller width from the
previous one, WebP Q80 at its default effort, metadata stripped. The policy's time includes its
quality search. Inputs are the corpus photos (``tests/fixtures/photos``) and the generated 12 MP
phone-like JPEG the tests use; the work is ``infrastructure.images.variants.make_variants`` with the
app's default widths, formats and SSIM target.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import pyvips
from PIL import Image

from infrastructure.images.ssim import luma_ssim
from infrastructure.images.variants import Variant, make_variants, prepare
from tests.fixtures import hard_images

# The defaults of COSMO_IMAGE_WIDTHS, COSMO_IMAGE_FORMATS and COSMO_IMAGE_TARGET_SSIM.
APP_WIDTHS: tuple[int, ...] = (2048, 1024, 480)
APP_FORMATS: tuple[str, ...] = ("webp",)
APP_TARGET_SSIM = 0.95
VIPS_QUALITY = 80
BASELINE = (
    f"libvips {pyvips.version(0)}.{pyvips.version(1)} (pyvips `thumbnail`, each width from the"
    f" previous one, WebP Q{VIPS_QUALITY}, stripped)"
)
PHONE = "phone_jpeg_12mp (generated, q95)"

T = TypeVar("T")


@dataclass(frozen=True)
class VariantFigure:
    image: str
    width: int
    height: int
    format: str
    quality: int
    bytes: int
    ssim: float


@dataclass(frozen=True)
class ImageFigure:
    """One input: what the policy stores and how long it takes, and the same for libvips."""

    name: str
    size: tuple[int, int]
    original_bytes: int
    stored_bytes: int  # all variants
    policy_ms: float
    min_ssim: float
    at_source_size: float | None  # bytes of a variant at the upload's own size / the upload's
    vips_ms: float
    vips_bytes: int

    @property
    def ratio(self) -> float:
        return self.original_bytes / self.stored_bytes

    @property
    def time_ratio(self) -> float:
        return self.policy_ms / self.vips_ms


def inputs() -> list[tuple[str, bytes]]:
    photos = [(name, hard_images.photo(name)) for name in hard_images.CORPUS]
    return [*photos, (PHONE, hard_images.phone_jpeg_12mp())]


def vips_variants(data: bytes) -> list[bytes]:
    """The baseline: the same sizes as the policy, never upscaled, at a fixed quality."""
    # In memory, as the policy's prepared image is: the smaller widths are made from it.
    image = pyvips.Image.thumbnail_buffer(
        data, APP_WIDTHS[0], height=APP_WIDTHS[0], size="down"
    ).copy_memory()
    long_side = max(image.width, image.height)
    sides = sorted({min(w, long_side) for w in APP_WIDTHS}, reverse=True)
    encoded = [image.webpsave_buffer(Q=VIPS_QUALITY, strip=True)]
    for side in sides[1:]:
        image = image.thumbnail_image(side, height=side, size="down")
        encoded.append(image.webpsave_buffer(Q=VIPS_QUALITY, strip=True))
    return encoded


def policy(data: bytes) -> list[Variant]:
    return make_variants(data, APP_WIDTHS, APP_FORMATS, target_ssim=APP_TARGET_SSIM)


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
        score = luma_ssim(reference, _decoded_luma(variant.data))
        figures.append(
            VariantFigure(
                name,
                variant.width,
                variant.height,
                variant.format,
                variant.quality,
                variant.size_bytes,
                score,
            )
        )
    return figures


def measure(repeats: int, log: Callable[[str], None]) -> tuple[list[ImageFigure], list[VariantFigure]]:
    """Alternate the policy and libvips ``repeats`` times per input; keep the median times."""
    pyvips.cache_set_max(0)  # each run decodes the upload again, as the policy does
    figures: list[ImageFigure] = []
    details: list[VariantFigure] = []
    for name, data in inputs():
        policy_ms: list[float] = []
        vips_ms: list[float] = []
        variants: list[Variant] = []
        baseline: list[bytes] = []
        for _ in range(repeats):
            elapsed, variants = _ms(partial(policy, data))
            policy_ms.append(elapsed)
            elapsed, baseline = _ms(partial(vips_variants, data))
            vips_ms.append(elapsed)
        scores = _variant_ssims(name, data, variants)
        details += scores
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
        full = [v.size_bytes for v in variants if max(v.width, v.height) == max(size)]
        figure = ImageFigure(
            name=name,
            size=size,
            original_bytes=len(data),
            stored_bytes=sum(v.size_bytes for v in variants),
            policy_ms=statistics.median(policy_ms),
            min_ssim=min(score.ssim for score in scores),
            at_source_size=max(full) / len(data) if full else None,
            vips_ms=statistics.median(vips_ms),
            vips_bytes=sum(len(b) for b in baseline),
        )
        figures.append(figure)
        log(
            f"  image {name}: {figure.ratio:.1f}x smaller (min SSIM {figure.min_ssim:.3f},"
            f" qualities {[v.quality for v in variants]}); policy {figure.policy_ms:,.0f} ms,"
            f" libvips {figure.vips_ms:,.0f} ms ({figure.time_ratio:.2f}x)"
        )
    return figures, details
