"""Properties: the list with cover thumbnails and filters, and each property's photos and history."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin
from django.db.models import JSONField, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from api.admin import html
from api.admin.read_only import ReadOnlyAdmin
from api.admin.site import site
from api.audit_serializers import HistorySerializer
from api.views.history import property_story
from domain.image import ImageStatus
from infrastructure.composition import property_service
from projections.models import GalleryImage, PropertyListing

ARCHIVE_REASON = "archived in the admin"


@admin.register(PropertyListing, site=site)
class PropertyAdmin(ReadOnlyAdmin):
    key_field = "property_id"
    list_display = ["cover", "name", "organisation", "city", "kind", "status", "version", "updated_at"]
    list_display_links = ["cover", "name"]
    list_filter = ["organisation", "city", "kind", "status"]
    search_fields = ["name", "street", "city", "postal_code", "organisation"]
    ordering = ["-created_at", "property_id"]
    actions = ["archive"]
    fieldsets = [
        (None, {"fields": ["property_id", "name", "organisation", "kind", "status", "version", "rent"]}),
        ("Address", {"fields": ["street", "city", "postal_code", "country"]}),
        ("Photos", {"fields": ["gallery"]}),
        ("History", {"fields": ["history"]}),
        ("Recorded", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["rent", "gallery", "history"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Each row with its ready cover's variants, from the same query as the page of rows."""
        covers = GalleryImage.live().filter(
            property_id=OuterRef("property_id"), is_cover=True, status=ImageStatus.READY.value
        )
        rows: QuerySet[Any] = super().get_queryset(request)
        annotated: QuerySet[Any] = rows.annotate(
            cover_variants=Subquery(covers.values("variants")[:1], output_field=JSONField())
        )
        return annotated

    @admin.display(description="cover")
    def cover(self, listing: Any) -> SafeString | str:
        return html.thumbnail(listing.cover_variants or [], f"cover of {listing.name}")

    @admin.display(description="rent")
    def rent(self, listing: PropertyListing) -> str:
        return (
            html.NOTHING if listing.rent_amount is None else f"{listing.rent_amount} {listing.rent_currency}"
        )

    @admin.display(description="photos")
    def gallery(self, listing: PropertyListing) -> SafeString | str:
        rows = GalleryImage.live().filter(property_id=listing.property_id).order_by("position", "created_at")
        return (
            format_html_join(
                "",
                '<figure class="cosmo-photo">{}<figcaption>{} · {}{}</figcaption></figure>',
                (
                    (
                        html.thumbnail(row.variants, row.caption or row.filename, width=240),
                        row.status,
                        row.caption or row.filename,
                        " · cover" if row.is_cover else "",
                    )
                    for row in rows
                ),
            )
            or html.NOTHING
        )

    @admin.display(description="events")
    def history(self, listing: PropertyListing) -> SafeString:
        service = property_service()
        story = property_story(service, listing.property_id)
        return html.history_table(HistorySerializer(story, context={"service": service}).data["events"])

    @admin.action(description="Archive the selected properties")
    def archive(self, request: HttpRequest, listings: QuerySet[PropertyListing]) -> None:
        service = property_service()
        self.run_commands(
            request,
            "Archived",
            [
                (listing.name, partial(service.archive_property, listing.property_id, None, ARCHIVE_REASON))
                for listing in listings
            ],
        )
