"""inspect_upload: what is accepted, what is refused, with which status, before anything is stored."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from infrastructure.images import upload_checks
from infrastructure.images.upload_checks import (
    CorruptImage,
    EmptyImage,
    ImageRejected,
    TooManyPixels,
    UnsupportedImage,
    inspect_upload,
)
from tests.fixtures import hard_images as hard

needs_heif = pytest.mark.skipif(not upload_checks.HEIF_SUPPORTED, reason="pillow-heif is not installed")


@pytest.mark.parametrize(
    ("make", "fmt", "mime", "size"),
    [
        (lambda: hard.photo("rocket.jpg"), "jpeg", "image/jpeg", (640, 427)),
        (lambda: hard.photo("astronaut.png"), "png", "image/png", (512, 512)),
        (lambda: hard.save(hard.open_photo("coffee.png"), "WEBP"), "webp", "image/webp", (600, 400)),
        (hard.animated_gif, "gif", "image/gif", (90, 60)),
        (hard.mpo, "jpeg", "image/jpeg", (640, 427)),
        (hard.cmyk_jpeg, "jpeg", "image/jpeg", (120, 80)),
        (hard.greyscale_jpeg, "jpeg", "image/jpeg", (200, 120)),
        (hard.png_16bit_grey, "png", "image/png", (256, 64)),
        (hard.png_16bit_rgb, "png", "image/png", (64, 48)),
        (hard.palette_png_with_transparency, "png", "image/png", (100, 60)),
    ],
    ids=[
        "jpeg",
        "png",
        "webp",
        "animated-gif",
        "phone-mpo",
        "cmyk",
        "greyscale",
        "png16-grey",
        "png16-rgb",
        "palette",
    ],
)
def test_accepted_uploads_are_described_by_their_bytes(
    make: Callable[[], bytes], fmt: str, mime: str, size: tuple[int, int]
) -> None:
    data = make()
    inspected = inspect_upload(data)
    assert (inspected.format, inspected.mime_type) == (fmt, mime)
    assert (inspected.width, inspected.height) == size
    assert inspected.sha256 == hashlib.sha256(data).hexdigest()
    assert inspected.size_bytes == len(data)


@needs_heif
def test_an_iphone_heic_is_accepted() -> None:
    inspected = inspect_upload(hard.heic())
    assert (inspected.format, inspected.mime_type) == ("heic", "image/heic")
    assert (inspected.width, inspected.height) == (451, 300)


@pytest.mark.parametrize("orientation", [6, 8])
def test_dimensions_are_reported_as_shown_not_as_stored(orientation: int) -> None:
    data = hard.oriented_jpeg(orientation)
    assert Image.open(io.BytesIO(data)).size == (96, 160)  # stored sideways
    inspected = inspect_upload(data)
    assert (inspected.width, inspected.height) == hard.SHOWN_SIZE


def test_a_12_megapixel_phone_photo_is_accepted_as_a_portrait() -> None:
    inspected = inspect_upload(hard.phone_jpeg_12mp())
    assert (inspected.format, inspected.width, inspected.height) == ("jpeg", 3024, 4032)


def test_the_file_name_plays_no_part_a_png_named_jpg_is_a_png(tmp_path: Path) -> None:
    renamed = tmp_path / "holiday.jpg"
    renamed.write_bytes(hard.photo("chelsea.png"))
    inspected = inspect_upload(renamed.read_bytes())
    assert (inspected.format, inspected.mime_type) == ("png", "image/png")


REFUSALS: list[tuple[str, Callable[[], bytes], type[ImageRejected], int, str]] = [
    ("zero-bytes", lambda: b"", EmptyImage, 415, "empty"),
    ("svg", hard.svg, UnsupportedImage, 415, "SVG"),
    ("html", hard.html, UnsupportedImage, 415, "markup"),
    ("pdf", hard.pdf, UnsupportedImage, 415, "PDF"),
    ("random-bytes", hard.random_bytes, UnsupportedImage, 415, "not an image"),
    ("tiff", hard.tiff, UnsupportedImage, 415, "TIFF"),
    ("jpeg-that-is-also-html", hard.jpeg_with_html_comment, UnsupportedImage, 415, "polyglot"),
    ("gif-that-is-also-a-zip", hard.gif_with_zip_appended, UnsupportedImage, 415, "ZIP"),
    ("png-that-is-also-a-pdf", hard.png_with_pdf_header, UnsupportedImage, 415, "PDF"),
    ("truncated-jpeg", hard.truncated_jpeg, CorruptImage, 400, "truncated"),
    ("truncated-progressive-jpeg", lambda: hard.cut(hard.progressive_jpeg()), CorruptImage, 400, "truncated"),
    ("truncated-png", lambda: hard.cut(hard.photo("chelsea.png")), CorruptImage, 400, "truncated"),
    (
        "truncated-webp",
        lambda: hard.cut(hard.save(hard.open_photo("coffee.png"), "WEBP")),
        CorruptImage,
        400,
        "",
    ),
    (
        "truncated-gif",
        lambda: hard.cut(hard.save(hard.open_photo("coffee.png").convert("P"), "GIF")),
        CorruptImage,
        400,
        "",
    ),
    ("corrupt-png", hard.corrupt_png, CorruptImage, 400, "corrupt"),
    ("jpeg-magic-then-junk", lambda: b"\xff\xd8\xff\xe0" + bytes(200), CorruptImage, 400, "JPEG"),
    ("60-MP-header", lambda: hard.png_declaring(10_000, 6_000), TooManyPixels, 413, "60.0 MP"),
    ("400-MP-header", lambda: hard.png_declaring(20_000, 20_000), TooManyPixels, 413, "too many pixels"),
    ("real-64-MP-bomb", hard.real_png_bomb, TooManyPixels, 413, "64.0 MP"),
]


@pytest.mark.parametrize(
    ("make", "error", "status", "words"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refused_uploads_say_why_with_an_http_status(
    make: Callable[[], bytes], error: type[ImageRejected], status: int, words: str
) -> None:
    with pytest.raises(error) as refused:
        inspect_upload(make())
    assert refused.value.status == status
    assert words.lower() in refused.value.message.lower()


@needs_heif
def test_a_truncated_heic_is_corrupt_not_unsupported() -> None:
    with pytest.raises(CorruptImage, match="HEIC"):
        inspect_upload(hard.cut(hard.heic()))


def test_unsupported_files_are_told_what_is_accepted() -> None:
    with pytest.raises(UnsupportedImage, match=r"accepted formats are JPEG, PNG, WebP, GIF"):
        inspect_upload(hard.svg())


def test_a_truncated_jpeg_passes_pillows_verify_but_not_inspection() -> None:
    data = hard.truncated_jpeg()
    Image.open(io.BytesIO(data)).verify()  # no complaint: verify() does not decode JPEG
    with pytest.raises(CorruptImage):
        inspect_upload(data)


def test_the_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    # 74 bytes that declare 60 MP: decoding would fail as truncated (400); 413 proves it never ran.
    with pytest.raises(TooManyPixels):
        inspect_upload(hard.png_declaring(10_000, 6_000))
    assert inspect_upload(hard.photo("rocket.jpg"), max_pixels=640 * 427).width == 640
    with pytest.raises(TooManyPixels):
        inspect_upload(hard.photo("rocket.jpg"), max_pixels=640 * 427 - 1)


def test_pillows_decompression_bomb_warning_is_an_error_even_under_a_higher_limit() -> None:
    # 100 MP lies between Pillow's warning (89 MP) and its error (179 MP) thresholds.
    with pytest.raises(TooManyPixels, match="too many pixels"):
        inspect_upload(hard.png_declaring(10_000, 10_000), max_pixels=150_000_000)


def test_rejections_map_to_distinct_codes_for_the_api() -> None:
    codes = {cls.code for cls in (EmptyImage, UnsupportedImage, TooManyPixels, CorruptImage)}
    assert codes == {"empty_file", "unsupported_image", "too_many_pixels", "corrupt_image"}
