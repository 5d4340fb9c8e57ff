"""Request parsing and response shapes. Parsing only: business rules live in the domain.

An output serializer is both the schema of its shape (its declared fields) and the builder of
it (its ``to_representation``, written out for speed): one place per resource, so the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.http import HttpRequest
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api import media_urls
from domain.errors import InvalidValue
from domain.image import ImageStatus
from domain.iso_codes import COUNTRY_CODES, CURRENCY_CODES
from domain.property import MAX_REASON_LENGTH, Property
from domain.values import MAX_TEXT_LENGTH, Address, PropertyKind, PropertyStatus, Rent, clean_text
from projections.models import GalleryImage, OrganisationDashboard, PropertyListing
from projections.property_list import address_columns, rent_columns
from projections.runner import ProjectionStatus

# Digits with an optional fraction: no exponent ("1e3"), no spaces, no "NaN"; bounded so a
# million-digit string costs nothing. Sign and decimals are left to Rent, which names the problem.
MONEY_PATTERN = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?")


# Versions and positions are 64-bit integers in both databases; a larger one names nothing.
MAX_POSITION = 2**63 - 1


class AsciiIntegerField(serializers.IntegerField):
    """An integer in ASCII digits: ``int()`` would also read "\uff11" or "\u0663" as a number, so
    ``?version=\uff11`` would name version 1 under a spelling no cache or log reader expects."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        return int(super().to_internal_value(data))


def _as_validation_error(error: InvalidValue) -> serializers.ValidationError:
    """A value object's own check, reported under the field it concerns."""
    leaf = (error.field or "non_field_errors").split(".")[-1]
    return serializers.ValidationError({leaf: [error.message]})


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses fields it does not know, so a typo or a read-only field is never silently dropped."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["unknown or read-only field"] for name in unknown})
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """Text as the domain takes it (``clean_text``), checked here so that a request with bad text is
    a 400 before any state is looked at (a stale If-Match would otherwise answer first).

    A JSON string only; ``max_length`` counts what was sent, as the schema's ``maxLength`` does.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        try:
            return clean_text(
                super().to_internal_value(data),
                self.field_name or "text",
                max_length=self.max_length or MAX_TEXT_LENGTH,
                required=not self.allow_blank,
            )
        except InvalidValue as error:
            raise serializers.ValidationError(error.message) from None


class IsoCodeField(serializers.CharField):
    """An ISO code in any letter case, upper-cased; the domain checks it is one of ``codes``."""

    def __init__(self, codes: frozenset[str], **kwargs: Any) -> None:
        self.codes = codes
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data).upper()


class AddressSerializer(StrictSerializer):
    street = TextField(max_length=MAX_TEXT_LENGTH)
    city = TextField(max_length=MAX_TEXT_LENGTH)
    postal_code = TextField(max_length=MAX_TEXT_LENGTH)
    country = IsoCodeField(COUNTRY_CODES, help_text="ISO 3166-1 alpha-2, e.g. PT")

    def to_internal_value(self, data: Any) -> Address:
        values = super().to_internal_value(data)
        try:
            return Address(
                street=values["street"],
                city=values["city"],
                postal_code=values["postal_code"],
                country=values["country"],
            )
        except InvalidValue as error:
            raise _as_validation_error(error) from None


@extend_schema_field(
    {
        # Exactly what Rent accepts (0 to below 10^9, at most two decimals), so schema-valid
        # input is never refused and everything else is.
        "oneOf": [
            {"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,2})?$", "example": "1250.00"},
            {"type": "integer", "minimum": 0, "maximum": 999_999_999},
        ]
    }
)
class MoneyField(serializers.Field[Decimal, Any, str, Any]):
    """An exact amount: a decimal string or a JSON integer, never a JSON float.

    A float such as ``1250.1`` has already lost its exact value when the JSON is parsed, so it
    is refused rather than rounded. Sign, size and decimals are the domain's rules (:class:`Rent`).
    """

    default_error_messages = {
        "invalid": 'must be a decimal string such as "1250.00" or an integer (JSON floats are refused)',
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, int) and not isinstance(data, bool):
            return Decimal(data)
        if isinstance(data, str) and MONEY_PATTERN.fullmatch(data):
            return Decimal(data)
        self.fail("invalid")

    def to_representation(self, value: Decimal) -> str:
        return f"{value:.2f}"


class RentSerializer(StrictSerializer):
    amount = MoneyField()
    currency = IsoCodeField(CURRENCY_CODES, help_text="ISO 4217, e.g. EUR")

    def to_internal_value(self, data: Any) -> Rent:
        values = super().to_internal_value(data)
        try:
            return Rent(amount=Decimal(values["amount"]), currency=values["currency"])
        except InvalidValue as error:
            raise _as_validation_error(error) from None


class PropertyCreateSerializer(StrictSerializer):
    name = TextField(max_length=MAX_TEXT_LENGTH)
    kind = serializers.ChoiceField(choices=[kind.value for kind in PropertyKind])
    address = AddressSerializer()
    rent = RentSerializer(required=False, allow_null=True)


class PropertyUpdateSerializer(StrictSerializer):
    """Every field optional; ``"rent": null`` removes the rent."""

    name = TextField(max_length=MAX_TEXT_LENGTH, required=False)
    address = AddressSerializer(required=False)
    rent = RentSerializer(required=False, allow_null=True)


class ArchiveSerializer(StrictSerializer):
    reason = TextField(max_length=MAX_REASON_LENGTH, required=False, allow_blank=True, default="")


class TimeTravelSerializer(serializers.Serializer[Any]):
    version = AsciiIntegerField(min_value=1, max_value=MAX_POSITION, required=False)
    as_of = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "version" in attrs and "as_of" in attrs:
            raise serializers.ValidationError({"as_of": ["give either version or as_of, not both"]})
        return attrs


class AddressOutSerializer(serializers.Serializer[Any]):
    street = serializers.CharField()
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()


class RentOutSerializer(serializers.Serializer[Any]):
    amount = serializers.CharField()
    currency = serializers.CharField()


class VariantSerializer(serializers.Serializer[Any]):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    bytes = serializers.IntegerField()
    url = serializers.URLField(help_text="absolute, from either image store")


def absolute_variants(variants: Iterable[Mapping[str, Any]], request: HttpRequest) -> list[dict[str, Any]]:
    """The variants with absolute URLs, signed when photos are private (the one place URLs leave);
    an already absolute one (Cloudinary's) keeps its host.

    The local store records ``/media/...`` paths while Cloudinary records ``https://...``, and a
    mobile client should not have to know which.
    """
    return [
        {**variant, "url": request.build_absolute_uri(media_urls.for_client(variant["url"]))}
        for variant in variants
    ]


class CoverOutSerializer(serializers.Serializer[Any]):
    """The cover photo in a property read, so list screens need no gallery request per row."""

    image_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "ready", "failed"])
    url = serializers.URLField(allow_null=True, help_text="the largest variant; null until ready")
    width = serializers.IntegerField(help_text="of the largest variant; of the original until ready")
    height = serializers.IntegerField(help_text="of the largest variant; of the original until ready")
    variants = VariantSerializer(many=True)

    def to_representation(self, instance: GalleryImage) -> dict[str, Any]:
        # The largest variant up front; until the photo is ready there is no URL, and the size is
        # the original's.
        variants = absolute_variants(instance.variants, self.context["request"])
        largest = max(variants, key=lambda variant: variant["width"] * variant["height"], default=None)
        shown = largest if instance.status == ImageStatus.READY and largest is not None else None
        return {
            "image_id": str(instance.image_id),
            "status": instance.status,
            "url": shown["url"] if shown else None,
            "width": shown["width"] if shown else instance.width,
            "height": shown["height"] if shown else instance.height,
            "variants": variants,
        }


class PropertySerializer(serializers.Serializer[Any]):
    """The property as clients see it; documents the shape built by :func:`property_json`."""

    # (The docstring above is the schema's description of this shape, so it stays as published;
    # the shape is built by ``to_representation``.)

    id = serializers.UUIDField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=[kind.value for kind in PropertyKind])
    status = serializers.ChoiceField(choices=[status.value for status in PropertyStatus])
    address = AddressOutSerializer()
    rent = RentOutSerializer(allow_null=True)
    organisation = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    cover = CoverOutSerializer(allow_null=True, help_text="the cover photo; null without photos")

    def to_representation(self, instance: PropertyListing) -> dict[str, Any]:
        """A list row, or a replayed property in a row's shape; its cover photo's row is looked up
        by property in ``context["covers"]``, found for a whole page in one query.

        Built directly rather than field by field: this is the list's hot path.
        """
        cover = self.context["covers"].get(instance.property_id)
        rent = None
        if instance.rent_amount is not None:
            rent = {"amount": f"{instance.rent_amount:.2f}", "currency": instance.rent_currency}
        return {
            "id": str(instance.property_id),
            "version": instance.version,
            "name": instance.name,
            "kind": instance.kind,
            "status": instance.status,
            "address": {
                "street": instance.street,
                "city": instance.city,
                "postal_code": instance.postal_code,
                "country": instance.country,
            },
            "rent": rent,
            "organisation": instance.organisation,
            "created_at": _timestamp(instance.created_at),
            "updated_at": _timestamp(instance.updated_at),
            "cover": None if cover is None else self._cover.to_representation(cover),
        }

    @cached_property
    def _cover(self) -> CoverOutSerializer:
        return CoverOutSerializer(context=self.context)


def listing_of(prop: Property) -> PropertyListing:
    """The property as replayed, in the shape of its (unsaved) list row, so that it is rendered
    exactly as the list renders it."""
    return PropertyListing(
        property_id=prop.id,
        version=prop.version,
        name=prop.name,
        kind=prop.kind.value,
        status=prop.status.value,
        **address_columns(prop.address),
        **rent_columns(prop.rent),
        organisation=prop.organisation,
        created_at=prop.created_on,
        updated_at=prop.modified_on,
    )


def _timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class OrganisationCountsSerializer(serializers.Serializer[Any]):
    organisation = serializers.CharField()
    active_properties = serializers.IntegerField()
    archived_properties = serializers.IntegerField()
    images_pending = serializers.IntegerField()
    images_failed = serializers.IntegerField()


class DashboardSerializer(serializers.Serializer[Any]):
    organisations = OrganisationCountsSerializer(many=True)

    def to_representation(self, instance: Iterable[OrganisationDashboard]) -> dict[str, Any]:
        return {
            "organisations": [
                {
                    "organisation": row.organisation,
                    "active_properties": row.active_properties,
                    "archived_properties": row.archived_properties,
                    "images_pending": row.images_pending,
                    "images_failed": row.images_failed,
                }
                for row in instance
            ]
        }


class ProjectionStatusSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.IntegerField()
    live_version = serializers.IntegerField()
    generation = serializers.IntegerField()
    position = serializers.IntegerField()
    head = serializers.IntegerField()
    lag_events = serializers.IntegerField()
    lag_seconds = serializers.FloatField()
    state = serializers.CharField()
    last_error = serializers.CharField(allow_blank=True)


class ProjectionsSerializer(serializers.Serializer[Any]):
    projections = ProjectionStatusSerializer(many=True)

    def to_representation(self, instance: Iterable[ProjectionStatus]) -> dict[str, Any]:
        return {"projections": [asdict(status) for status in instance]}
