"""Is this upload an image we accept? Pillow behind the door, before anything is kept or recorded.

``inspect_upload`` never trusts the file name or the client's content type, only the bytes: a
refusal (``ImageRejected``, with the HTTP status an API should answer) leaves no trace. The
variant maker (``variants``) opens originals through the same checks (``open_image``), so an
original that passed here once is read the same way whenever its variants are made again.
Pure functions of bytes: safe to call from any thread.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

try:  # HEIC from iPhones; the plugin is optional, and without it HEIC is refused as unsupported.
    import pillow_heif
except ImportError:  # pragma: no cover - exercised only where the plugin is missing
    HEIF_SUPPORTED = False
else:
    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True

DEFAULT_MAX_PIXELS = 50_000_000
"""Enough for 48/50 MP phone modes; a decoded RGBA frame of that size is ~200 MB."""

# Pillow's format name -> our name and MIME type. MPO is what phones write: a JPEG followed by a
# second (depth or preview) frame; we read the first. HEIF is told from HEIC in _kind.
_ACCEPTED: dict[str, tuple[str, str]] = {
    "JPEG": ("jpeg", "image/jpeg"),
    "MPO": ("jpeg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
}
if HEIF_SUPPORTED:
    _ACCEPTED["HEIF"] = ("heif", "image/heif")
_OPEN_WITH = tuple(name for name in _ACCEPTED if name != "MPO")  # MPO opens through JPEG

_ORIENTATION_TAG = 0x0112
SIDEWAYS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height

# What a decoder raises on bad data. RuntimeError is the HEIF plugin's word for a broken stream.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
    RuntimeError,
)


class ImageRejected(Exception):
    """The upload is refused; ``status`` and ``code`` tell an API how to answer, ``message`` why."""

    status = 400
    code = "image_rejected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EmptyImage(ImageRejected):
    status = 415
    code = "empty_file"


class UnsupportedImage(ImageRejected):
    """Not an image we can open, a format outside the allow-list, or a file that is two things."""

    status = 415
    code = "unsupported_image"


class TooManyPixels(ImageRejected):
    """More pixels than the limit: refused from the header, before a single pixel is decoded."""

    status = 413
    code = "too_many_pixels"


class CorruptImage(ImageRejected):
    """Recognised, but the pixel data is truncated or damaged."""

    status = 400
    code = "corrupt_image"


@dataclass(frozen=True, slots=True)
class InspectedImage:
    """What an accepted upload is; width and height are as displayed (after EXIF orientation)."""

    format: str
    mime_type: str
    width: int
    height: int
    sha256: str
    size_bytes: int


def accepted_formats() -> tuple[str, ...]:
    """Our names of the upload formats this installation accepts (HEIF only with its plugin)."""
    return tuple(dict.fromkeys(name for name, _ in _ACCEPTED.values()))


_DISPLAY_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "gif": "GIF", "heif": "HEIC/HEIF"}


def inspect_upload(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> InspectedImage:
    """Accept ``data`` as an image or raise an ``ImageRejected`` saying why (and with which status).

    The whole first frame is decoded, since only decoding finds a truncated JPEG; JPEGs decode at
    an eighth of their size, which reads every byte of the stream all the same.
    """
    image = open_image(data, max_pixels)
    with image:
        width, height = image.size  # the header's: decoding a JPEG draft shrinks image.size
        decode_first_frame(image, draft_to=(max(1, width // 8), max(1, height // 8)))
        name, mime = _kind(image, data)
        if exif_orientation(image) in SIDEWAYS:
            width, height = height, width
    return InspectedImage(
        format=name,
        mime_type=mime,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )


def open_image(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Open the header only, refusing what is not plainly one accepted image of a sane size."""
    if not data:
        raise EmptyImage("the file is empty")
    try:
        # catch_warnings is process-wide, so threads may interleave here; the worst outcome is
        # that the warning stays an error for everyone, and the explicit limit below guards anyway.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_OPEN_WITH)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TooManyPixels(f"the image declares too many pixels ({e})") from e
    except UnidentifiedImageError as e:
        if looks_like := _damaged_header_of(data):
            raise CorruptImage(f"the file starts like a {looks_like} but its header is damaged") from e
        raise UnsupportedImage(_unsupported_message(data)) from e
    except _DECODE_ERRORS as e:
        raise CorruptImage(f"the image header cannot be read: {e}") from e
    if image.format not in _ACCEPTED:  # pragma: no cover - Image.open(formats=...) already ensures it
        image.close()
        raise UnsupportedImage(_unsupported_message(data))
    if marker := _foreign_content(data):
        image.close()
        raise UnsupportedImage(f"the file is an image but also {marker}: refused as a polyglot")
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise CorruptImage(f"the image declares a size of {width}x{height}")
    if width * height > max_pixels:
        image.close()
        raise TooManyPixels(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); "
            f"the limit is {max_pixels / 1e6:.1f} MP"
        )
    return image


def decode_first_frame(image: ImageFile.ImageFile, draft_to: tuple[int, int]) -> None:
    """Decode the first frame in full; a JPEG at the smallest DCT scale still at least ``draft_to``."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # pragma: no cover - a process-wide switch we must not inherit
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set: truncated uploads would pass")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if image.format in ("JPEG", "MPO"):
                image.draft(None, draft_to)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TooManyPixels(f"the image has too many pixels ({e})") from e
    except _DECODE_ERRORS as e:
        raise CorruptImage(f"the image data is truncated or corrupt: {e}") from e


_HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")
_HEIF_BRANDS = (*_HEIC_BRANDS, b"mif1", b"msf1")


def _kind(image: Image.Image, data: bytes) -> tuple[str, str]:
    name, mime = _ACCEPTED[str(image.format)]
    if name == "heif" and data[8:12] in _HEIC_BRANDS:
        return "heic", "image/heic"
    return name, mime


def exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored rather than refuse the photo
    return value if isinstance(value, int) else 1


# Magic numbers of the formats we accept, to tell a damaged header from something else entirely.
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


def _damaged_header_of(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if HEIF_SUPPORTED and data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF"
    return None


# What else a file may be; the scan covers the first KiB, where PDF readers and old browsers'
# content sniffing look. An image that is also a page or a document is refused, even though we
# never serve originals: someone else might.
_FOREIGN_MARKERS = (
    (b"%pdf-", "a PDF document"),
    (b"<html", "HTML"),
    (b"<!doctype", "HTML"),
    (b"<script", "a script"),
    (b"<iframe", "HTML"),
    (b"<svg", "SVG"),
    (b"<?php", "PHP code"),
)
_SNIFF_WINDOW = 1024
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SIZE = 22


def _foreign_content(data: bytes) -> str | None:
    head = data[:_SNIFF_WINDOW].lower()
    for marker, name in _FOREIGN_MARKERS:
        if marker in head:
            return name
    # A ZIP (or JAR, DOCX, …) appended to an image: its end record closes the file exactly.
    end = data.rfind(_ZIP_END, max(0, len(data) - _ZIP_END_SIZE - 0xFFFF))
    if end >= 0 and len(data) >= end + _ZIP_END_SIZE:
        (comment_length,) = struct.unpack_from("<H", data, end + 20)
        if end + _ZIP_END_SIZE + comment_length == len(data):
            return "a ZIP archive"
    return None


def _unsupported_message(data: bytes) -> str:
    accepted = ", ".join(_DISPLAY_NAMES[name] for name in accepted_formats())
    head = data[:_SNIFF_WINDOW].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg")) or b"<svg" in head:
        what = "an SVG drawing"
    elif head.startswith(b"%pdf-") or b"%pdf-" in head:
        what = "a PDF document"
    elif head.startswith((b"<", b"\xef\xbb\xbf<")):
        what = "a text/markup document"
    elif head.startswith((b"ii*\x00", b"mm\x00*")):
        what = "a TIFF image"
    elif head.startswith(b"bm"):
        what = "a BMP image"
    elif data[4:12] in (b"ftypavif", b"ftypavis"):
        what = "an AVIF image"
    elif data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        what = "a HEIC/HEIF image, which this server has no plugin to read"
    elif data[4:8] == b"ftyp":
        what = "an ISO media file (a video?)"
    else:
        what = "not an image this server can read"
    return f"unsupported file: {what}; accepted formats are {accepted}"
