"""Property endpoints: register, list, read (also as of a version or time), change, archive."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from api import media_urls
from api.context import AuditedView
from api.filters import ORDERING_PARAMETER, PropertyFilter, PropertyPagination
from api.permissions import ReadOnlyForAuditors
from api.query import ascii_integer, names_of, query_values
from api.read_your_writes import MIN_POSITION_PARAMETER, answer_write, wait_for_min_position
from api.schema import ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION, POSITION, errors
from api.serializers import (
    ArchiveSerializer,
    PropertyCreateSerializer,
    PropertySerializer,
    PropertyUpdateSerializer,
    TimeTravelSerializer,
    listing_of,
)
from domain.audit import current_audit_context
from domain.property import Property
from domain.service import PropertyChanges, Receipt
from domain.values import PropertyKind
from infrastructure.composition import property_service
from projections.models import PropertyListing
from projections.selectors import cover_images, find_image, get_listing, visible_properties

logger = logging.getLogger(__name__)

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')
FILTER_PARAMETERS = frozenset(PropertyFilter.base_filters)


def listings_json(request: Request, listings: Iterable[PropertyListing]) -> list[dict[str, Any]]:
    """Rows of the list (or the one of a detail read) with their covers, found in one query."""
    rows = list(listings)
    with_cover = (row.property_id for row in rows if getattr(row, "has_cover", True))
    covers = cover_images(current_audit_context(), with_cover)
    serializer = PropertySerializer(context={"request": request, "covers": covers})
    return [serializer.to_representation(row) for row in rows]


def aggregate_json(request: Request, prop: Property) -> dict[str, Any]:
    """The property as replayed; its cover is the one it had then, as that photo stands now."""
    cover = find_image(current_audit_context(), prop.cover_image_id)
    covers = {} if cover is None else {prop.id: cover}
    return PropertySerializer(listing_of(prop), context={"request": request, "covers": covers}).data


def expected_version(request: Request) -> int | None:
    """The version named by ``If-Match`` (``"3"``, ``W/"3"`` or ``3``); absent means "current"."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header)
    version = ascii_integer(match.group(1)) if match else None
    if version is None:
        raise ValidationError({"If-Match": [f'must be a version ETag like "3", not {header!r}']})
    return version


def written(request: Request, receipt: Receipt, status_code: int = status.HTTP_200_OK) -> Response:
    """Answer a write with the property at exactly the written version: the aggregate the command
    saved, or else replayed from its events.

    So the body always agrees with the ETag, even if a projection is stalled or another write
    has already followed.
    """
    logger.info(
        "property changed",
        extra={"property_id": str(receipt.id), "version": receipt.version, "position": receipt.position},
    )
    prop = receipt.aggregate
    if not isinstance(prop, Property) or prop.version != receipt.version:
        prop = property_service().get_property(receipt.id, receipt.version)
    response = answer_write(receipt, lambda: aggregate_json(request, prop), status_code)
    response["ETag"] = f'"{receipt.version}"'
    return response


class PropertyCollectionView(AuditedView):
    permission_classes = [ReadOnlyForAuditors]
    # The list's filters, pages and paginated shape, for the request and for the schema alike.
    filter_backends = [DjangoFilterBackend]
    filterset_class = PropertyFilter
    pagination_class = PropertyPagination
    queryset = PropertyListing.objects.none()
    query_parameters = {"GET": names_of(PropertyFilter.base_filters, ["page", "page_size"])}

    @extend_schema(
        operation_id="list_properties",
        summary="List properties",
        description="The caller's organisation's properties (every organisation's for auditors), "
        "newest first unless `ordering` says otherwise, a page at a time.",
        parameters=[ORDERING_PARAMETER, MIN_POSITION_PARAMETER],
        responses={200: PropertySerializer(many=True), **errors(404)},
    )
    def get(self, request: Request) -> Response:
        wait_for_min_position(request, "property_list")
        listings: QuerySet[PropertyListing] = visible_properties(self.audit)
        if not FILTER_PARAMETERS.isdisjoint(request.query_params):
            # Without any, the filters would keep every row in its default order: most reads name
            # none, and building the filter form cost more than the page's queries.
            listings = DjangoFilterBackend().filter_queryset(request, listings, self)
        paginator = PropertyPagination()
        page = paginator.paginate_queryset(listings, request, view=self) or []
        return paginator.get_paginated_response(listings_json(request, page))

    @extend_schema(
        operation_id="register_property",
        summary="Register a property",
        description="Records `PropertyRegistered` in the caller's organisation and answers with the "
        "property at version 1.",
        request=PropertyCreateSerializer,
        parameters=[ETAG, LOCATION, POSITION],
        responses={201: PropertySerializer},
    )
    def post(self, request: Request) -> Response:
        body = PropertyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        receipt = property_service().register_property(
            name=values["name"],
            kind=PropertyKind(values["kind"]),
            address=values["address"],
            rent=values.get("rent"),
        )
        response = written(request, receipt, status.HTTP_201_CREATED)
        response["Location"] = f"/api/properties/{receipt.id}"
        return response


class PropertyDetailView(AuditedView):
    permission_classes = [ReadOnlyForAuditors]
    query_parameters = {"GET": names_of(TimeTravelSerializer)}

    @extend_schema(
        operation_id="get_property",
        summary="Read a property",
        description="The property now, or as it was at `version` or at the time `as_of`, replayed "
        "from its events. `ETag` is its version.",
        parameters=[TimeTravelSerializer, MIN_POSITION_PARAMETER, IF_NONE_MATCH, ETAG],
        responses={
            200: PropertySerializer,
            304: OpenApiResponse(description="Not modified: `If-None-Match` names the current ETag."),
        },
    )
    def get(self, request: Request, property_id: UUID) -> Response:
        travel: dict[str, Any] = {}
        if values := query_values(request):  # most reads name no time: no serializer to run
            query = TimeTravelSerializer(data=values)
            query.is_valid(raise_exception=True)
            travel = query.validated_data
        if "version" in travel:
            body = aggregate_json(request, property_service().get_property(property_id, travel["version"]))
        elif "as_of" in travel:
            moment = travel["as_of"].astimezone(UTC)
            body = aggregate_json(request, property_service().get_property_as_of(property_id, moment))
        else:
            wait_for_min_position(request, "property_list")
            [body] = listings_json(request, [get_listing(self.audit, property_id)])
        etag = f'"{body["version"]}"'
        # The ETag is the version (If-Match takes it back), but private photos' URLs change with
        # time at one version: a 304 would leave the client holding URLs that expire.
        if request.headers.get("If-None-Match") == etag and not media_urls.ttl_seconds():
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = Response(body)
        response["ETag"] = etag
        return response

    @extend_schema(
        operation_id="update_property",
        summary="Change a property",
        description="Each changed field is one event, saved together; a field sent with its current "
        "value records nothing. Without `If-Match`, applies to the current version.",
        request=PropertyUpdateSerializer,
        parameters=[IF_MATCH, ETAG, POSITION],
        responses={200: PropertySerializer, **errors(412)},
    )
    def patch(self, request: Request, property_id: UUID) -> Response:
        version = expected_version(request)
        body = PropertyUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        changes = PropertyChanges(name=values.get("name"), address=values.get("address"))
        if "rent" in values:
            changes = PropertyChanges(name=changes.name, address=changes.address, rent=values["rent"])
        return written(request, property_service().update_property(property_id, changes, version))


class PropertyArchiveView(AuditedView):
    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="archive_property",
        summary="Archive a property",
        description="Records `PropertyArchived`; an archived property refuses further changes (409).",
        request=ArchiveSerializer,
        parameters=[IF_MATCH, ETAG, POSITION],
        responses={200: PropertySerializer, **errors(412)},
    )
    def post(self, request: Request, property_id: UUID) -> Response:
        version = expected_version(request)
        body = ArchiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        receipt = property_service().archive_property(property_id, version, body.validated_data["reason"])
        return written(request, receipt)
