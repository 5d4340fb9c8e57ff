"""Photos at the HTTP edge: what clients send, and the one JSON shape of an image they receive.

The shape is built in one place (:func:`image_json`), from a gallery row for reads and from the
aggregate as written for the answers to writes, so both always agree. Variant URLs leave as
absolute URLs (:func:`absolute_variants`): the local store records ``/media/...`` paths while
Cloudinary records ``https://...``, and a mobile client should not have to know which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from rest_framework import serializers
from rest_framework.request import Request

from api import media_urls
from api.event_json import utc_iso
from api.serializers import StrictSerializer, TextField, VariantSerializer
from domain.image import MAX_CAPTION_LENGTH, ImageStatus, PropertyImage
from projections.models import GalleryImage
from projections.property_detail import variant_json


class ImageUploadSerializer(StrictSerializer):
    # Empty files pass here so that the image check refuses them like any other non-image (415).
    file = serializers.FileField(allow_empty_file=True, help_text="JPEG, PNG, WebP, GIF or HEIC")
    caption = TextField(max_length=MAX_CAPTION_LENGTH, required=False, allow_blank=True, default="")


class CaptionSerializer(StrictSerializer):
    caption = TextField(max_length=MAX_CAPTION_LENGTH, allow_blank=True)


class CoverSerializer(StrictSerializer):
    image_id = serializers.UUIDField()


class ImageOrderSerializer(StrictSerializer):
    image_ids = serializers.ListField(
        child=serializers.UUIDField(), allow_empty=True, help_text="every photo of the property, once"
    )


class ImageSerializer(serializers.Serializer[Any]):
    """An image as clients see it; documents the shape built by :func:`image_json`."""

    id = serializers.UUIDField()
    property_id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=[s.value for s in ImageStatus if s is not ImageStatus.REMOVED],
        help_text="pending until the image policy has stored the variants (ready) or given up (failed)",
    )
    caption = serializers.CharField()
    filename = serializers.CharField(help_text="the uploaded file's name, without any directories")
    format = serializers.CharField(help_text="of the original: jpeg, png, webp, gif or heif")
    width = serializers.IntegerField(help_text="of the original as shown (after EXIF orientation)")
    height = serializers.IntegerField()
    original_bytes = serializers.IntegerField()
    stored_bytes = serializers.IntegerField(help_text="all variants together; 0 until ready")
    variants = VariantSerializer(many=True)
    cover = serializers.BooleanField(help_text="the property's cover photo")
    failure = serializers.CharField(allow_null=True, help_text="why processing failed; null otherwise")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class GallerySerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    results = ImageSerializer(many=True, help_text="in display order")


def image_json(
    *,
    id: UUID,  # noqa: A002 - the field's public name
    property_id: UUID,
    status: str,
    caption: str,
    filename: str,
    format: str,  # noqa: A002 - the field's public name
    width: int,
    height: int,
    original_bytes: int,
    stored_bytes: int,
    variants: list[dict[str, Any]],
    cover: bool,
    failure: str,
    created_at: datetime,
    updated_at: datetime,
) -> dict[str, Any]:
    return {
        "id": str(id),
        "property_id": str(property_id),
        "status": status,
        "caption": caption,
        "filename": filename,
        "format": format,
        "width": width,
        "height": height,
        "original_bytes": original_bytes,
        "stored_bytes": stored_bytes,
        "variants": variants,
        "cover": cover,
        "failure": failure or None,
        "created_at": utc_iso(created_at),
        "updated_at": utc_iso(updated_at),
    }


def absolute_variants(variants: Iterable[Mapping[str, Any]], request: Request) -> list[dict[str, Any]]:
    """The variants with absolute URLs, signed when photos are private (the one place URLs leave);
    an already absolute one (Cloudinary's) keeps its host."""
    return [
        {**variant, "url": request.build_absolute_uri(media_urls.for_client(variant["url"]))}
        for variant in variants
    ]


def row_json(row: GalleryImage, request: Request) -> dict[str, Any]:
    return image_json(
        id=row.image_id,
        property_id=row.property_id,
        status=row.status,
        caption=row.caption,
        filename=row.filename,
        format=row.format,
        width=row.width,
        height=row.height,
        original_bytes=row.original_bytes,
        stored_bytes=row.stored_bytes,
        variants=absolute_variants(row.variants, request),
        cover=row.is_cover,
        failure=row.failure,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def aggregate_json(image: PropertyImage, cover: bool, request: Request) -> dict[str, Any]:
    return image_json(
        id=image.id,
        property_id=image.property_id,
        status=image.status.value,
        caption=image.caption,
        filename=image.file.filename,
        format=image.file.format,
        width=image.file.width,
        height=image.file.height,
        original_bytes=image.file.bytes,
        stored_bytes=image.stored_bytes,
        variants=absolute_variants(map(variant_json, image.variants), request),
        cover=cover,
        failure=image.failure,
        created_at=image.created_on,
        updated_at=image.modified_on,
    )


def gallery_json(rows: Iterable[GalleryImage], request: Request) -> dict[str, Any]:
    results = [row_json(row, request) for row in rows]
    return {"count": len(results), "results": results}


def cover_json(row: GalleryImage | None, request: Request) -> dict[str, Any] | None:
    """A property's cover as its reads show it: the largest variant up front, for list screens.

    Until the photo is ready there is no URL, and the size is the original's.
    """
    if row is None:
        return None
    variants = absolute_variants(row.variants, request)
    largest = max(variants, key=lambda variant: variant["width"] * variant["height"], default=None)
    shown = largest if row.status == ImageStatus.READY and largest is not None else None
    return {
        "image_id": str(row.image_id),
        "status": row.status,
        "url": shown["url"] if shown else None,
        "width": shown["width"] if shown else row.width,
        "height": shown["height"] if shown else row.height,
        "variants": variants,
    }
