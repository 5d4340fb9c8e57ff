"""Queries the API reads through; tenancy and the live generation are applied here, not in views."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet

from domain.audit import AuditContext
from domain.errors import ImageNotFound, PropertyNotFound
from projections.models import (
    GalleryImage,
    OrganisationDashboard,
    ProjectionTracking,
    PropertyListing,
    ReadModel,
)
from projections.projection import Row


class ProjectionBehind(Exception):
    """A read asked for a position the read model has not reached within the wait allowed."""

    def __init__(self, name: str, wanted: int, reached: int) -> None:
        super().__init__(f"{name} is at position {reached}, not yet {wanted}; retry shortly")


def visible(model: type[Row], context: AuditContext) -> QuerySet[Row]:
    """The live rows of a read model that the caller's organisation (or role) may see."""
    rows: QuerySet[Row] = _visible(model, _scope(context)).all()
    return rows


def visible_properties(context: AuditContext) -> QuerySet[PropertyListing]:
    """The caller's listings, each flagged ``has_cover`` by the same query, so a page (or a detail
    read) of properties without a cover photo skips the query for their covers."""
    rows: QuerySet[PropertyListing] = _listings(_scope(context)).all()
    return rows


def _scope(context: AuditContext) -> str | None:
    """The organisation whose rows the caller sees; None for every organisation's."""
    return None if context.sees_all_organisations else context.organisation


# Composing a query with the live-generation subquery costs several times what running it does,
# so each is composed once per model and organisation. Callers only ever get a clone (``.all()``)
# of these: the shared querysets are never evaluated, and their result caches stay empty. The
# generation is still read by the database at each query, so a rebuild's swap shows at once.
@lru_cache(maxsize=1024)
def _visible(model: type[ReadModel], organisation: str | None) -> QuerySet[Any]:
    rows: QuerySet[Any] = model.live()
    return rows if organisation is None else rows.filter(organisation=organisation)


@lru_cache(maxsize=1024)
def _listings(organisation: str | None) -> QuerySet[Any]:
    covers = _visible(GalleryImage, organisation).filter(property_id=OuterRef("property_id"), is_cover=True)
    listings: QuerySet[Any] = _visible(PropertyListing, organisation).annotate(has_cover=Exists(covers))
    return listings


def get_listing(context: AuditContext, property_id: UUID) -> PropertyListing:
    """The caller's listing of one property, flagged ``has_cover``: the list's own query, composed
    once per organisation and database (``_listing_statement``) and run through ``raw()`` with
    only the id changed. Composing it on every read cost several times what running it did."""
    rows = PropertyListing.objects.all()  # the database the request reads the read models from
    sql, params = _listing_statement(_scope(context), rows.db)
    property_column = PropertyListing._meta.get_field("property_id")
    wanted = property_column.get_db_prep_value(property_id, connections[rows.db])
    listing = next(iter(rows.raw(sql, [*params, wanted])), None)
    if listing is None:
        raise PropertyNotFound(f"property {property_id} not found")
    return listing


# Any id: it only marks the parameter each read replaces; one random id, so no other parameter
# (an organisation's name) can be mistaken for it.
_ANY_PROPERTY = uuid4()


@lru_cache(maxsize=1024)
def _listing_statement(organisation: str | None, alias: str) -> tuple[str, tuple[Any, ...]]:
    """The SQL of ``_listings(organisation)`` narrowed to one property, and its parameters but the
    property's id, which the ORM puts last (the last condition of the ``WHERE``)."""
    query = _listings(organisation).filter(property_id=_ANY_PROPERTY).order_by().query
    sql, params = query.get_compiler(alias).as_sql()
    marker = PropertyListing._meta.get_field("property_id").get_db_prep_value(
        _ANY_PROPERTY, connections[alias]
    )
    if not params or params[-1] != marker:
        raise ImproperlyConfigured(f"the listing query does not end with the property id: {sql}")
    return sql, tuple(params[:-1])


def visible_images(context: AuditContext) -> QuerySet[GalleryImage]:
    return visible(GalleryImage, context)


def gallery(context: AuditContext, property_id: UUID) -> QuerySet[GalleryImage]:
    """The property's photos in display order; a property the caller cannot see is not found."""
    get_listing(context, property_id)
    return visible_images(context).filter(property_id=property_id).order_by("position", "created_at")


def cover_images(context: AuditContext, property_ids: Iterable[UUID]) -> dict[UUID, GalleryImage]:
    """Each property's cover photo, by property, in one query for a whole page of the list."""
    wanted = set(property_ids)
    if not wanted:
        return {}
    rows = visible_images(context).filter(property_id__in=wanted, is_cover=True)
    return {row.property_id: row for row in rows}


def find_image(context: AuditContext, image_id: UUID | None) -> GalleryImage | None:
    """A photo's row if it still exists: a cover named by an old version may since have been removed."""
    if image_id is None:
        return None
    row: GalleryImage | None = visible_images(context).filter(image_id=image_id).first()
    return row


def get_image(context: AuditContext, image_id: UUID) -> GalleryImage:
    try:
        return visible_images(context).get(image_id=image_id)
    except GalleryImage.DoesNotExist:
        raise ImageNotFound(f"image {image_id} not found") from None


def dashboards(context: AuditContext) -> QuerySet[OrganisationDashboard]:
    return visible(OrganisationDashboard, context)


def live_position(name: str, using: str | None = None) -> int:
    """How far the live generation has read; ``using`` names the database (a replica) to ask."""
    tracking = ProjectionTracking.live(name)
    if using is not None:
        tracking = tracking.using(using)
    position: int | None = tracking.values_list("position", flat=True).first()
    return position or 0


def wait_until_projected(name: str, position: int, timeout: float, using: str | None = None) -> None:
    """For ``X-Cosmo-Min-Position``: wait (bounded) until the read model has seen ``position``."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while (reached := live_position(name, using)) < position:
        if time.monotonic() >= deadline:
            raise ProjectionBehind(name, position, reached)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
