"""Plain CRUD endpoints: the HTTP baseline for ``POST``/``PATCH``/``GET /api/properties``.

They share everything with the real views except the event store: the same authentication and
audit binding (:class:`AuditedView`), the same request serializer and the same response shape,
so the ratio isolates what appending events and catching the read model up cost per request.
"""

from __future__ import annotations

from uuid import UUID

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.filters import PropertyPagination
from api.permissions import ReadOnlyForAuditors
from api.serializers import PropertyCreateSerializer, PropertySerializer, PropertyUpdateSerializer
from domain.errors import PropertyNotFound
from domain.values import Address, Rent
from projections.models import PropertyListing
from tools.bench.models import PlainProperty


def plain_json(row: PlainProperty) -> dict[str, object]:
    """The row as the real list shows a property without photos, by the same serializer."""
    listing = PropertyListing(
        property_id=row.id,
        version=1,
        name=row.name,
        kind=row.kind,
        status=row.status,
        street=row.street,
        city=row.city,
        postal_code=row.postal_code,
        country=row.country,
        rent_amount=row.rent_amount,
        rent_currency=row.rent_currency,
        organisation=row.organisation,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
    return PropertySerializer(listing, context={"covers": {}}).data


class PlainCollectionView(AuditedView):
    permission_classes = [ReadOnlyForAuditors]

    def get(self, request: Request) -> Response:
        """The organisation's rows, newest first, a page at a time, as the real list pages them."""
        rows = PlainProperty.objects.filter(organisation=self.audit.organisation)
        rows = rows.order_by("-created_at", "id")
        paginator = PropertyPagination()
        page = paginator.paginate_queryset(rows, request, view=self) or []
        return paginator.get_paginated_response([plain_json(row) for row in page])

    def post(self, request: Request) -> Response:
        body = PropertyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        address: Address = values["address"]
        rent: Rent | None = values.get("rent")
        row = PlainProperty.objects.create(
            organisation=self.audit.organisation,
            name=values["name"],
            kind=values["kind"],
            street=address.street,
            city=address.city,
            postal_code=address.postal_code,
            country=address.country,
            rent_amount=rent.amount if rent else None,
            rent_currency=rent.currency if rent else "",
        )
        response = Response(plain_json(row), status=status.HTTP_201_CREATED)
        response["Location"] = f"/bench/plain/{row.id}"
        return response


class PlainDetailView(AuditedView):
    permission_classes = [ReadOnlyForAuditors]

    def get(self, request: Request, property_id: UUID) -> Response:
        return Response(plain_json(self._row(property_id)))

    def patch(self, request: Request, property_id: UUID) -> Response:
        """Read the row, change what the body names, save it: a plain ORM update."""
        body = PropertyUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        row = self._row(property_id)
        if "name" in values:
            row.name = values["name"]
        address: Address | None = values.get("address")
        if address is not None:
            row.street, row.city = address.street, address.city
            row.postal_code, row.country = address.postal_code, address.country
        if "rent" in values:
            rent: Rent | None = values["rent"]
            row.rent_amount = rent.amount if rent else None
            row.rent_currency = rent.currency if rent else ""
        row.save()
        return Response(plain_json(row))

    def _row(self, property_id: UUID) -> PlainProperty:
        try:
            return PlainProperty.objects.get(id=property_id, organisation=self.audit.organisation)
        except PlainProperty.DoesNotExist:
            raise PropertyNotFound(f"property {property_id} not found") from None
