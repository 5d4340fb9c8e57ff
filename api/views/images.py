"""Photo endpoints: upload, the gallery, one image, its caption, removal, retry, cover and order.

Reads come from the ``property_detail`` read model. Writes answer with what they wrote: an image
from its aggregate, a gallery once the read models have caught up with the write.
"""

from __future__ import annotations

import logging
from uuid import UUID

from drf_spectacular.utils import OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.image_serializers import (
    CaptionSerializer,
    CoverSerializer,
    GallerySerializer,
    ImageOrderSerializer,
    ImageSerializer,
    ImageUploadSerializer,
    gallery_row,
)
from api.permissions import ReadOnlyForAuditors
from api.read_your_writes import MIN_POSITION_PARAMETER, answer_write, wait_for_min_position
from api.schema import LOCATION, POSITION, UPLOAD_ENCODING
from api.uploads import inspected_file, read_upload
from domain.audit import AuditContext
from domain.service import Receipt
from infrastructure.composition import blob_store, property_service, wake_image_workers
from projections.selectors import gallery, get_image

logger = logging.getLogger(__name__)


def image_written(request: Request, receipt: Receipt, status_code: int = status.HTTP_200_OK) -> Response:
    """The image as its events now stand, with the cover flag from its property."""
    logger.info(
        "image changed",
        extra={"image_id": str(receipt.id), "version": receipt.version, "position": receipt.position},
    )
    service = property_service()
    image = service.get_image(receipt.id)
    cover = service.get_property(image.property_id).cover_image_id == image.id
    return answer_write(
        receipt,
        lambda: ImageSerializer(gallery_row(image, cover), context={"request": request}).data,
        status_code,
    )


def gallery_written(request: Request, receipt: Receipt, context: AuditContext) -> Response:
    """A change to a property's gallery answers with the gallery, read once it has caught up."""
    return answer_write(
        receipt, lambda: GallerySerializer(gallery(context, receipt.id), context={"request": request}).data
    )


class PropertyImagesView(AuditedView):
    """A property's photos in display order; an upload adds one."""

    permission_classes = [ReadOnlyForAuditors]
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="list_property_images",
        summary="A property's photos",
        description="Every photo of the property in display order, with its variants once ready.",
        parameters=[MIN_POSITION_PARAMETER],
        responses=GallerySerializer,
    )
    def get(self, request: Request, property_id: UUID) -> Response:
        wait_for_min_position(request, "property_list", "property_detail")
        return Response(
            GallerySerializer(gallery(self.audit, property_id), context={"request": request}).data
        )

    @extend_schema(
        operation_id="upload_image",
        summary="Upload a photo",
        request={"multipart/form-data": OpenApiRequest(ImageUploadSerializer, encoding=UPLOAD_ENCODING)},
        parameters=[LOCATION, POSITION],
        responses={202: ImageSerializer},
        description="Accepted as `pending`; the image policy makes the variants (`ready`) or gives up "
        "(`failed`). Refused before anything is stored: 413 too large, 415 not an accepted image, "
        "400 truncated or corrupt, 409 archived property.",
    )
    def post(self, request: Request, property_id: UUID) -> Response:
        service = property_service()
        service.get_property(property_id).check_not_archived()  # before receiving any bytes
        upload = read_upload(request)
        # The original is kept before ImageAdded is recorded, so the event never names missing
        # bytes, and only once it passed the checks; its write overlaps them (``put_checked``). If
        # the event is then refused, prune_audit's orphan sweep removes the blob later (not here:
        # identical uploads share it, and another one may be about to refer to it).
        _, file = blob_store().put_checked(upload.data, lambda: inspected_file(upload))
        receipt = service.add_image(property_id, file, upload.caption)
        wake_image_workers()
        response = image_written(request, receipt, status.HTTP_202_ACCEPTED)
        response["Location"] = f"/api/images/{receipt.id}"
        return response


class ImageView(AuditedView):
    """One photo: read it, change its caption, or remove it."""

    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="get_image",
        summary="Read a photo",
        description="One photo: its status, caption, original's size and, once ready, its variants.",
        parameters=[MIN_POSITION_PARAMETER],
        responses=ImageSerializer,
    )
    def get(self, request: Request, image_id: UUID) -> Response:
        wait_for_min_position(request, "property_detail")
        return Response(ImageSerializer(get_image(self.audit, image_id), context={"request": request}).data)

    @extend_schema(
        operation_id="change_image_caption",
        summary="Change a photo's caption",
        description="Records `ImageCaptionChanged`; the same caption again records nothing.",
        request=CaptionSerializer,
        parameters=[POSITION],
        responses=ImageSerializer,
    )
    def patch(self, request: Request, image_id: UUID) -> Response:
        body = CaptionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        caption = body.validated_data["caption"]
        return image_written(request, property_service().change_image_caption(image_id, caption))

    @extend_schema(
        operation_id="remove_image",
        summary="Remove a photo",
        description="Records `ImageRemoved` and detaches the photo from its property; its variants are "
        "deleted from the store. Its events stay in the property's history.",
        parameters=[POSITION],
        responses={204: OpenApiResponse(description="Removed.")},
    )
    def delete(self, request: Request, image_id: UUID) -> Response:
        return answer_write(property_service().remove_image(image_id), status_code=status.HTTP_204_NO_CONTENT)


class ImageRetryView(AuditedView):
    """Sends a photo whose processing failed back to the image policy."""

    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="retry_image",
        summary="Retry a failed photo",
        description="Sends a photo whose processing failed back to the image policy (409 if it has "
        "not failed).",
        request=None,
        parameters=[POSITION],
        responses={202: ImageSerializer},
    )
    def post(self, request: Request, image_id: UUID) -> Response:
        receipt = property_service().retry_image(image_id)
        wake_image_workers()
        return image_written(request, receipt, status.HTTP_202_ACCEPTED)


class CoverImageView(AuditedView):
    """Chooses the photo that stands for the property in lists."""

    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="set_cover_image",
        summary="Choose the cover photo",
        description="The photo that stands for the property in lists; answers with the gallery.",
        request=CoverSerializer,
        parameters=[POSITION],
        responses=GallerySerializer,
    )
    def put(self, request: Request, property_id: UUID) -> Response:
        body = CoverSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        receipt = property_service().set_cover_image(property_id, body.validated_data["image_id"])
        return gallery_written(request, receipt, self.audit)


class ImageOrderView(AuditedView):
    """Puts the property's photos in the order clients show them."""

    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="reorder_images",
        summary="Order the photos",
        description="`image_ids` lists every photo of the property once, in the order to show them; "
        "answers with the gallery.",
        request=ImageOrderSerializer,
        parameters=[POSITION],
        responses=GallerySerializer,
    )
    def put(self, request: Request, property_id: UUID) -> Response:
        body = ImageOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        receipt = property_service().reorder_images(property_id, body.validated_data["image_ids"])
        return gallery_written(request, receipt, self.audit)
