"""The door for photos: the checks an upload passes before any byte is kept or any event recorded.

Cheapest first: the announced size (before the body is read), the form, the real size, the
caption, then Pillow's inspection of the bytes. Only what passes them all reaches the blob store.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import QueryDict
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request

from api.image_serializers import ImageUploadSerializer
from domain.image import ImageFile, valid_caption
from infrastructure.images.upload_checks import inspect_upload

# Multipart boundaries, part headers and the caption travel with the file in the same body.
MULTIPART_ALLOWANCE = 64 * 1024
MAX_FILENAME_LENGTH = 255
UNDECODABLE = "\ufffd"


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"


@dataclass(frozen=True)
class Upload:
    """The parts of an upload form, size-checked but not yet inspected."""

    data: bytes
    filename: str
    caption: str


def read_upload(request: Request) -> Upload:
    """The form's file and caption; refuses an oversized body before reading a byte of it."""
    limit = settings.COSMO_MAX_UPLOAD_BYTES
    if declared_length(request) > limit + MULTIPART_ALLOWANCE:
        raise UploadTooLarge(too_large(limit))
    repeated = repeated_fields(request.data)
    if repeated:
        raise ValidationError({name: ["given more than once"] for name in repeated})
    form = ImageUploadSerializer(data=request.data)
    form.is_valid(raise_exception=True)
    file = form.validated_data["file"]
    if file.size > limit:
        raise UploadTooLarge(too_large(limit))
    if UNDECODABLE in form.validated_data["caption"]:
        # Django's form parser puts U+FFFD where the bytes were not UTF-8: the caption lost text.
        raise ValidationError({"caption": ["must be UTF-8 text"]})
    caption = valid_caption(form.validated_data["caption"])
    return Upload(data=file.read(), filename=upload_filename(file.name or ""), caption=caption)


def repeated_fields(data: object) -> list[str]:
    """Form fields given more than once (two files, two captions): which one was meant?"""
    if not isinstance(data, QueryDict):
        return []
    return sorted(name for name, values in data.lists() if len(values) > 1)


def inspected_file(upload: Upload) -> ImageFile:
    """What the event will record about the upload; raises ``ImageRejected`` for a non-image."""
    image = inspect_upload(upload.data, settings.COSMO_MAX_IMAGE_PIXELS)
    return ImageFile(
        sha256=image.sha256,
        bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        format=image.format,
        filename=upload.filename,
    )


def declared_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def too_large(limit: int) -> str:
    return f"the upload is larger than the limit of {limit} bytes ({limit / 1024 / 1024:.1f} MB)"


def upload_filename(name: str) -> str:
    """The client's name for the file, kept as a label: no directories, only printable characters.

    Django's parser does the same already; doing it here keeps the recorded name safe whatever
    parser delivered it, since an event keeps it forever.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    label = "".join(char for char in base if char.isprintable()).strip()
    return label[:MAX_FILENAME_LENGTH] or "upload"
