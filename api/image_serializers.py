"""Photos at the HTTP edge: what clients send, and the one JSON shape of an image they receive.

The shape is built in one place (:class:`ImageSerializer`), from a gallery row for reads and from
the aggregate as written, in a row's shape, for the answers to writes, so both always agree.
Variant URLs leave as absolute URLs (:func:`api.serializers.absolute_variants`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from api.event_json import utc_iso
from api.serializers import StrictSerializer, TextField, VariantSerializer, absolute_variants
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

    # (The docstring above is published as the schema's description of this shape, so it stays
    # as it is; the shape is built by ``to_representation``.)

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

    def to_representation(self, instance: GalleryImage) -> dict[str, Any]:
        """A gallery row, or an image as written in a row's shape (:func:`gallery_row`)."""
        return {
            "id": str(instance.image_id),
            "property_id": str(instance.property_id),
            "status": instance.status,
            "caption": instance.caption,
            "filename": instance.filename,
            "format": instance.format,
            "width": instance.width,
            "height": instance.height,
            "original_bytes": instance.original_bytes,
            "stored_bytes": instance.stored_bytes,
            "variants": absolute_variants(instance.variants, self.context["request"]),
            "cover": instance.is_cover,
            "failure": instance.failure or None,
            "created_at": utc_iso(instance.created_at),
            "updated_at": utc_iso(instance.updated_at),
        }


class GallerySerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    results = ImageSerializer(many=True, help_text="in display order")

    def to_representation(self, instance: Iterable[GalleryImage]) -> dict[str, Any]:
        image = ImageSerializer(context=self.context)
        results = [image.to_representation(row) for row in instance]
        return {"count": len(results), "results": results}


def gallery_row(image: PropertyImage, cover: bool) -> GalleryImage:
    """An image as its events now stand, in the shape of its (unsaved) gallery row, so that the
    answer to a write is rendered exactly as a read of it will be."""
    return GalleryImage(
        image_id=image.id,
        property_id=image.property_id,
        status=image.status.value,
        caption=image.caption,
        filename=image.file.filename,
        format=image.file.format,
        width=image.file.width,
        height=image.file.height,
        original_bytes=image.file.bytes,
        stored_bytes=image.stored_bytes,
        variants=[variant_json(variant) for variant in image.variants],
        is_cover=cover,
        failure=image.failure,
        created_at=image.created_on,
        updated_at=image.modified_on,
    )
