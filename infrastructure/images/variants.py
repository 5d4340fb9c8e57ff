"""What we publish of an accepted original: display-sized, oriented, sRGB, metadata-free variants.

``make_variants`` turns an original that passed ``upload_checks`` into WebP/AVIF/JPEG encodings
at display sizes (GPS never leaves with them), at fixed qualities or at the lowest quality that
reaches a target SSIM. A pure function of bytes: safe to call from any thread and to repeat on a
retry.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from PIL import Image, ImageCms, features

from infrastructure.images.quality_search import QualityRange, search_quality
from infrastructure.images.sharing import both
from infrastructure.images.upload_checks import (
    DEFAULT_MAX_PIXELS,
    SIDEWAYS,
    UnsupportedImage,
    decode_first_frame,
    exif_orientation,
    open_image,
)

DEFAULT_WIDTHS: tuple[int, ...] = (2048, 1024, 480)
DEFAULT_FORMATS: tuple[str, ...] = ("webp",)

# Fixed qualities (used when no SSIM target is set) that keep the luma SSIM of every variant of
# the fixture photos >= 0.95 against its reference, the resized image before encoding
# (tests/unit/test_image_variants.py proves it; the worst fixture, coffee.png, scores 0.965 in
# WebP, 0.960 in AVIF, 0.962 in JPEG). WebP's method 4 is its default: 5 and 6 save a few per cent
# for two to three times the time. AVIF at speed 6 (Pillow's default) is ~20% smaller than WebP at
# the same SSIM but 3-4x slower to encode; speed 8 is faster but no smaller than WebP, which would
# defeat its purpose.
WEBP_QUALITY = 80
WEBP_METHOD = 4
AVIF_QUALITY = 62
AVIF_SPEED = 6
JPEG_QUALITY = 82

# The quality searches' grids (docs/adr/0014): the floors guard against luma SSIM's leniency, the
# ceilings stop the search where a higher quality only costs bytes. The searched WebP encodes at
# method 0, four to six times faster than method 4 at 2048 px: with the search it still stores a
# 12 MP photo ~19x smaller than the upload (method 4 would reach ~25x, but its encodes alone would
# take the whole budget of 1.5x libvips' time at a fixed quality).
QUALITY_RANGES: dict[str, QualityRange] = {
    "webp": QualityRange(floor=60, ceiling=90),
    "avif": QualityRange(floor=45, ceiling=85),
    "jpeg": QualityRange(floor=65, ceiling=95),
}
SEARCHED_WEBP_METHOD = 0

# The executor's threads beside the caller's in one ``make_variants`` (Pillow's resize and codecs
# and numpy release the GIL): one searches the smallest sizes in the background, the other helps
# the calling thread (halves of each resize, the first encode beside the reference's sums, halves
# of each SSIM). The machines we run on have two cores.
THREADS = 2

OUTPUT_MIME_TYPES: dict[str, str] = {"webp": "image/webp", "avif": "image/avif", "jpeg": "image/jpeg"}
_EXTENSIONS = {"webp": "webp", "avif": "avif", "jpeg": "jpg"}

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_REDUCING_GAP = 3.0
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
R = TypeVar("R")


class InvalidVariantRequest(ValueError):
    """A caller asked for widths or formats this module cannot make: a configuration error."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One encoded display size; ``data`` carries no metadata at all."""

    width: int
    height: int
    format: str
    mime_type: str
    data: bytes = field(repr=False)
    quality: int = 0  # the encoder's quality setting

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self.format]


def output_formats() -> tuple[str, ...]:
    """The variant formats this Pillow can encode: AVIF only where it was built with libavif."""
    return tuple(f for f in OUTPUT_MIME_TYPES if f != "avif" or features.check("avif"))


def make_variants(
    data: bytes,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    target_ssim: float | None = None,
) -> list[Variant]:
    """Every (long side, format) variant of ``data``, largest first, never upscaled.

    A long side larger than the original is clamped to the original's, and a size reached twice
    is made once, so the variants of one format have distinct widths (stores name files by them).
    With ``target_ssim``, each variant's quality is searched for (``encode_searched``); without,
    the fixed qualities above are used.
    """
    _check_formats(formats)
    with ThreadPoolExecutor(THREADS, thread_name_prefix="variants") as executor:
        if target_ssim is None:
            images = prepare(data, widths, max_pixels=max_pixels, executor=executor)
            return [encode(image, fmt) for image in images for fmt in formats]
        plan = _plan(data, widths, max_pixels)
        largest_image, (second, background) = _largest_and_smaller(
            plan,
            lambda shown_size, largest: _search_smaller(
                plan, shown_size, largest, formats, target_ssim, executor
            ),
            executor,
        )
        # The largest, where encodes cost most, starts from the quality the second size needed
        # (it rarely needs less: its pixels carry less detail each).
        hints = {variant.format: variant.quality for variant in second}
        largest = [
            encode_searched(largest_image, fmt, target_ssim, at_least=hints.get(fmt), executor=executor)
            for fmt in formats
        ]
        return largest + second + [search.result() for search in background]


def prepare(
    data: bytes,
    widths: Sequence[int],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    executor: Executor | None = None,
) -> list[Image.Image]:
    """The pixels of each variant before encoding: oriented, sRGB, 8-bit, metadata-free.

    These are also the references the encodings' quality is measured against. The largest size
    is resized from the decoded original (colour conversion and rotation done once, on it); each
    smaller size is resized from the previous one, which costs a fraction of resizing from the
    original each time, except that a JPEG at least twice the second size gives the second size
    a decode of its own at a DCT scale (``_plan``). With an ``executor``, each resize is shared
    between its threads, and that second decode runs beside the first (the same pixels, sooner).
    """
    plan = _plan(data, widths, max_pixels)
    largest, smaller = _largest_and_smaller(
        plan, lambda shown_size, largest: _smaller(plan, shown_size, largest, executor), executor
    )
    return [largest, *smaller]


def _largest_and_smaller(
    plan: _Plan,
    smaller: Callable[[tuple[int, int], Image.Image | None], R],
    executor: Executor | None,
) -> tuple[Image.Image, R]:
    """The largest size, and ``smaller(shown_size, largest)`` made of the sizes below it.

    When the smaller sizes decode apart they need nothing of the largest (``largest`` is None):
    a pool thread makes them while this thread decodes and resizes the largest, which otherwise
    left the second core idle. Otherwise they are resized from the largest, once it is made.
    """
    if plan.smaller_decoded_apart and executor is not None:
        made = executor.submit(smaller, plan.shown_size, None)
        largest, _ = _decoded(plan, plan.sides[0], Image.Resampling.BICUBIC, executor)
        return largest, made.result()
    largest, shown_size = _decoded(plan, plan.sides[0], Image.Resampling.BICUBIC, executor)
    return largest, smaller(shown_size, largest)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the header says about the sizes to make, before any pixel is decoded."""

    data: bytes
    max_pixels: int
    stored_size: tuple[int, int]
    sides: list[int]  # long sides, largest first, none larger than the original's
    smaller_decoded_apart: bool
    shown_size: tuple[int, int]  # upright; only read from the header when the smaller sizes decode apart


def _plan(data: bytes, widths: Sequence[int], max_pixels: int) -> _Plan:
    """The long sides to make, and whether the smaller ones get a JPEG decode of their own.

    They do when the DCT scale that still covers the second size is coarser than the largest
    one's: that decode costs ~60% of a full one (a 12 MP photo: ~42 against ~70 ms) and replaces
    the wait for the largest's decode and resize, the longest stretch with one core idle.
    """
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise InvalidVariantRequest(f"widths must be positive integers, got {list(widths)!r}")
    with open_image(data, max_pixels) as image:
        stored_size, jpeg = image.size, image.format in ("JPEG", "MPO")
        sides = sorted({min(w, max(stored_size)) for w in widths}, reverse=True)
        apart = (
            jpeg
            and len(sides) > 1
            and _draft_scale(stored_size, _fit(stored_size, sides[1]))
            > _draft_scale(stored_size, _fit(stored_size, sides[0]))
        )
        # A JPEG's EXIF is in its header; other formats may keep it after the pixels (PNG).
        sideways = apart and exif_orientation(image) in SIDEWAYS
    return _Plan(data, max_pixels, stored_size, sides, apart, stored_size[::-1] if sideways else stored_size)


def _draft_scale(stored_size: tuple[int, int], size: tuple[int, int]) -> int:
    """The DCT scale (1, 2, 4 or 8) Pillow's JPEG ``draft`` picks to decode at least ``size``."""
    ratio = min(stored_size[0] // size[0], stored_size[1] // size[1])
    return next(scale for scale in (8, 4, 2, 1) if ratio >= scale)


def _smaller(
    plan: _Plan, shown_size: tuple[int, int], largest: Image.Image | None, executor: Executor | None
) -> list[Image.Image]:
    """The sizes below the largest: the second from its own decode (``largest`` is then not
    needed) or from the largest, each next one from the previous one."""
    taken = {_fit(shown_size, plan.sides[0])[0]}
    made: list[Image.Image] = []
    for side in plan.sides[1:]:
        size = _fit(shown_size, side)
        if size[0] in taken:
            continue  # a needle-thin image: two long sides, one width
        taken.add(size[0])
        if made:
            made.append(_resize(made[-1], size, executor=executor))
        elif plan.smaller_decoded_apart:
            # Lanczos, as for every size below the largest: this decode is off the critical path.
            made.append(_decoded(plan, side, Image.Resampling.LANCZOS, executor)[0])
        else:
            assert largest is not None, "the smaller sizes are resized from the largest"
            made.append(_resize(largest, size, executor=executor))
        made[-1].info.clear()
    return made


def _decoded(
    plan: _Plan, side: int, resample: Image.Resampling, executor: Executor | None
) -> tuple[Image.Image, tuple[int, int]]:
    """The original decoded (a JPEG at the coarsest DCT scale still covering ``side``), resized
    to ``side``, in sRGB and turned upright; and the original's size as shown (upright).

    Sizes come from the header, so a JPEG decoded at a DCT scale gets the same ones; resizing in
    the stored orientation, then rotating the (smaller) result, is the cheaper order.
    """
    size = _fit(plan.stored_size, side)
    with open_image(plan.data, plan.max_pixels) as image:
        decode_first_frame(image, draft_to=size)
        orientation = exif_orientation(image)
        icc_profile = image.info.get("icc_profile")
        resized = _resize(_eight_bit(image), size, resample, executor)
    resized = _to_srgb(resized, icc_profile)
    if orientation in _TRANSPOSE:
        resized = resized.transpose(_TRANSPOSE[orientation])
    resized = _drop_opaque_alpha(resized)
    resized.info.clear()
    return resized, plan.stored_size[::-1] if orientation in SIDEWAYS else plan.stored_size


def _search_smaller(
    plan: _Plan,
    shown_size: tuple[int, int],
    largest: Image.Image | None,
    formats: Sequence[str],
    target_ssim: float,
    executor: Executor,
) -> tuple[list[Variant], list[Future[Variant]]]:
    """The second size searched (sharing its work with the executor), and the sizes below it
    searched in the background on the executor's threads.

    The second size's search is the one the largest waits for (its quality is the largest's
    hint), so it starts one step above the floor rather than in the middle of the grid: the
    large photos whose second size costs most to search needed 60 or 65 in the corpus (the 12 MP
    photo 65, retina 60), which that settles in two encodes instead of three; a harder photo pays
    one more (a quality of 75 takes four).
    """
    images = _smaller(plan, shown_size, largest, executor)
    second = [
        encode_searched(image, fmt, target_ssim, executor=executor, first=QUALITY_RANGES[fmt].grid()[1])
        for image in images[:1]
        for fmt in formats
    ]
    # Submitted only now, so that they fill the idle moments of the largest's search rather than
    # compete with what it waits for (its own pixels and the second size's quality).
    background = [
        executor.submit(encode_searched, image, fmt, target_ssim) for image in images[1:] for fmt in formats
    ]
    return second, background


_FIXED_QUALITIES = {"webp": WEBP_QUALITY, "avif": AVIF_QUALITY, "jpeg": JPEG_QUALITY}


def encode(
    image: Image.Image, fmt: str, quality: int | None = None, *, webp_method: int = WEBP_METHOD
) -> Variant:
    """Encode one prepared image; nothing but pixels goes in (no EXIF, XMP, ICC or comment)."""
    _check_formats([fmt])
    quality = _FIXED_QUALITIES[fmt] if quality is None else quality
    out = io.BytesIO()
    if fmt == "jpeg":
        _flatten(image).save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    else:
        pixels = _encodable(image)
        if fmt == "webp":
            pixels.save(out, "WEBP", quality=quality, method=webp_method)
        else:
            pixels.save(out, "AVIF", quality=quality, speed=AVIF_SPEED)
    return Variant(
        width=image.width,
        height=image.height,
        format=fmt,
        mime_type=OUTPUT_MIME_TYPES[fmt],
        data=out.getvalue(),
        quality=quality,
    )


def encode_searched(
    image: Image.Image,
    fmt: str,
    target_ssim: float,
    at_least: int | None = None,
    executor: Executor | None = None,
    first: int | None = None,
) -> Variant:
    """Encode at the lowest quality of the format's grid whose luma SSIM reaches ``target_ssim``
    (``at_least``, ``executor`` and ``first``: see ``search_quality``)."""
    _check_formats([fmt])
    pixels = _flatten(image) if fmt == "jpeg" else _encodable(image)

    def encode_at(quality: int) -> bytes:
        # A copy per encode (~2 ms at 2048 px): Pillow's save() keeps its options on the image
        # object, and two formats of one size are searched on two threads at once.
        return encode(pixels.copy(), fmt, quality, webp_method=SEARCHED_WEBP_METHOD).data

    found = search_quality(
        pixels,
        encode_at,
        _decoded_luma,
        QUALITY_RANGES[fmt],
        target_ssim,
        at_least,
        executor,
        first,
    )
    return Variant(
        width=image.width,
        height=image.height,
        format=fmt,
        mime_type=OUTPUT_MIME_TYPES[fmt],
        data=found.data,
        quality=found.quality,
    )


def _encodable(image: Image.Image) -> Image.Image:
    """RGB or RGBA (what WebP and AVIF take), with no metadata to pass on."""
    pixels = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA" if _has_alpha(image) else "RGB")
    pixels.info.clear()
    return pixels


def _decoded_luma(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as encoded:
        return encoded.convert("L")


def _check_formats(formats: Sequence[str]) -> None:
    if not formats:
        raise InvalidVariantRequest("at least one output format is needed")
    available = output_formats()
    for fmt in formats:
        if fmt not in available:
            raise InvalidVariantRequest(f"cannot encode {fmt!r} here; available: {', '.join(available)}")


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is ``long_side`` (never below one pixel)."""
    width, height = size
    if width >= height:
        return long_side, max(1, round(height * long_side / width))
    return max(1, round(width * long_side / height)), long_side


def _resize(
    image: Image.Image,
    size: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.LANCZOS,
    executor: Executor | None = None,
) -> Image.Image:
    """A new image of ``size`` (a copy when nothing changes: the source may be closed next).

    The first resize, from the full decode, is bicubic: on a 12 MP photo it is the most expensive
    step of all, and bicubic costs a third less than Lanczos for no difference at a display size.
    With an ``executor``, the upper and lower halves are resized on two threads: each half reads
    the source rows its filter needs beyond its own box, so together they are the whole resize's
    pixels (below ``reducing_gap``; above it each half's pre-reduction may round differently).
    """
    if image.size == size:
        return image.copy()
    if executor is None or size[1] < 2:
        return image.resize(size, resample, reducing_gap=_REDUCING_GAP)
    middle = size[1] // 2
    scale = image.height / size[1]

    def rows(top: int, bottom: int) -> Callable[[], Image.Image]:
        box = (0.0, top * scale, float(image.width), bottom * scale)
        return lambda: image.resize((size[0], bottom - top), resample, box, reducing_gap=_REDUCING_GAP)

    upper, lower = both(executor, rows(0, middle), rows(middle, size[1]))
    resized = Image.new(image.mode, size)
    resized.paste(upper, (0, 0))
    resized.paste(lower, (0, middle))
    return resized


def _eight_bit(image: Image.Image) -> Image.Image:
    """The first frame as L, LA, RGB, RGBA or CMYK, 16-bit samples scaled (not clipped) to 8 bits."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if _has_alpha(image) else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    if mode in ("RGBX", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    raise UnsupportedImage(f"pixel mode {mode} is not supported")  # pragma: no cover - F, I;16 variants


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def _to_srgb(image: Image.Image, icc_profile: object) -> Image.Image:
    """Apply the embedded profile so that every variant is plain sRGB, which needs no profile."""
    if image.mode == "CMYK" and not icc_profile:
        return image.convert("RGB")
    if not isinstance(icc_profile, bytes) or not icc_profile:
        return image
    alpha = image.getchannel("A") if image.mode in ("LA", "RGBA") else None
    colour = image.convert(image.mode[:-1]) if alpha is not None else image
    transform = _transform_to_srgb(icc_profile, colour.mode)
    if transform is None:
        converted = colour.convert("RGB") if colour.mode == "CMYK" else colour
    else:
        converted = ImageCms.applyTransform(colour, transform) or colour
        if colour.mode == "L":
            converted = converted.convert("L")
    if alpha is not None:
        converted = converted.convert("RGBA" if converted.mode == "RGB" else "LA")
        converted.putalpha(alpha)
    return converted


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A colour transform from the embedded profile, or None when it is sRGB, broken or mismatched.

    A broken profile is ignored rather than refused: the photo is still worth showing, only its
    colours may be a little off.
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        space = profile.profile.xcolor_space.strip()
        if {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}.get(mode) != space:
            return None
        if mode == "RGB" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None
        return ImageCms.buildTransform(
            profile,
            _SRGB,
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            # No one-pixel cache: the transform is shared between threads.
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION | ImageCms.Flags.NOCACHE,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _drop_opaque_alpha(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema() == (255, 255):
        return image.convert(image.mode[:-1])
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite on white, as a page behind the photo would show."""
    if not _has_alpha(image):
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
