"""Queries the API reads through; tenancy is applied here, not in each view."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q, QuerySet

from domain.audit import AuditContext
from domain.errors import PropertyNotFound
from projections.models import PropertyListing


def visible_properties(context: AuditContext) -> QuerySet[PropertyListing]:
    listings = PropertyListing.objects.all()
    if not context.sees_all_organisations:
        listings = listings.filter(organisation=context.organisation)
    return listings


def search_properties(
    context: AuditContext, *, search: str = "", city: str = "", status: str = ""
) -> QuerySet[PropertyListing]:
    listings = visible_properties(context)
    if search:
        listings = listings.filter(
            Q(name__icontains=search) | Q(street__icontains=search) | Q(city__icontains=search)
        )
    if city:
        listings = listings.filter(city__iexact=city)
    if status:
        listings = listings.filter(status=status)
    return listings


def get_listing(context: AuditContext, property_id: UUID) -> PropertyListing:
    try:
        return visible_properties(context).get(id=property_id)
    except PropertyListing.DoesNotExist:
        raise PropertyNotFound(f"property {property_id} not found") from None
