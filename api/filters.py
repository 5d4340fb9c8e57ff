"""The property list's filters and ordering (django-filter), validated like any other input."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from api.query import ascii_integer
from api.serializers import MAX_POSITION
from domain.values import PropertyKind, PropertyStatus
from projections.models import PropertyListing

# Every ordering ends with the id, so a page boundary never splits or repeats equal rows.
TIE_BREAKER = "property_id"


class NonEmptyChoiceField(django_filters.fields.ChoiceField):  # type: ignore[misc]  # untyped library
    """Absent means "any"; present and empty (``?status=``) is not a value, so it is refused."""

    def to_python(self, value: Any) -> Any:
        if value == "":
            raise forms.ValidationError("must be one of the values; leave the parameter out for any")
        return super().to_python(value)


class NonEmptyChoiceFilter(django_filters.ChoiceFilter):  # type: ignore[misc]  # untyped library
    field_class = NonEmptyChoiceField


# Bounded text in the schema as in the form, so a longer value is documented as invalid.
TEXT_PARAMETER = {"type": "string", "maxLength": 200}


class StableOrderingFilter(django_filters.OrderingFilter):  # type: ignore[misc]  # untyped library
    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None:
            return qs
        if not value:  # ?ordering= reads as [], like ?status= it is not a value
            raise ValidationError(
                {self.field_name: ["must name a field; leave the parameter out for newest first"]}
            )
        return qs.order_by(*(self.get_ordering_value(param) for param in value), TIE_BREAKER)


# Column: the name clients order by.
ORDERINGS = {
    "name": "name",
    "city": "city",
    "rent_amount": "rent",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


# Declared on the operation, as the filter extension cannot say "at least one" (``?ordering=`` is
# refused by StableOrderingFilter).
ORDERING_PARAMETER = OpenApiParameter(
    "ordering",
    {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "string",
            "enum": [*ORDERINGS.values(), *(f"-{name}" for name in ORDERINGS.values())],
        },
    },
    OpenApiParameter.QUERY,
    style="form",
    explode=False,
    description="comma-separated; a leading - reverses; newest first when absent",
)


class PropertyFilter(django_filters.FilterSet):  # type: ignore[misc]  # untyped library
    search = extend_schema_field(TEXT_PARAMETER)(
        django_filters.CharFilter(
            method="search_text", max_length=200, help_text="part of the name, street or city, any case"
        )
    )
    city = extend_schema_field(TEXT_PARAMETER)(
        django_filters.CharFilter(lookup_expr="iexact", max_length=200, help_text="exact city, any case")
    )
    status = NonEmptyChoiceFilter(choices=[(s.value, s.value) for s in PropertyStatus], empty_label=None)
    kind = NonEmptyChoiceFilter(choices=[(k.value, k.value) for k in PropertyKind], empty_label=None)
    ordering = StableOrderingFilter(
        fields=tuple(ORDERINGS.items()),
        help_text="comma-separated; a leading - reverses; newest first when absent",
    )

    class Meta:
        model = PropertyListing
        fields: list[str] = []

    def search_text(
        self, queryset: QuerySet[PropertyListing], name: str, value: str
    ) -> QuerySet[PropertyListing]:
        return queryset.filter(
            Q(name__icontains=value) | Q(street__icontains=value) | Q(city__icontains=value)
        )


class PropertyPagination(PageNumberPagination):
    """Pages of the list: a ``page`` or ``page_size`` that is not a number in range is a 400, not
    quietly replaced by the default; a page past the end is a 404."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request: Request, paginator: Any) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        page = ascii_integer(raw)
        if page is None or page < 1:
            raise ValidationError({"page": ["must be an integer from 1"]})
        return page

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = ascii_integer(raw)
        if size is None or not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": [f"must be an integer from 1 to {self.max_page_size}"]})
        return size

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        bounds = {
            "page": {"minimum": 1, "maximum": MAX_POSITION},
            "page_size": {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        return parameters
