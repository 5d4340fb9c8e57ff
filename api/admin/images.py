"""Photos: their processing state and variants; a failed one can be sent back to the image policy."""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from api.admin import html
from api.admin.read_only import ReadOnlyAdmin
from api.admin.site import site
from infrastructure.composition import property_service, wake_image_workers
from projections.models import GalleryImage


@admin.register(GalleryImage, site=site)
class ImageAdmin(ReadOnlyAdmin):
    key_field = "image_id"
    list_display = [
        "thumbnail",
        "filename",
        "property",
        "organisation",
        "status",
        "attempts",
        "is_cover",
        "updated_at",
    ]
    list_display_links = ["thumbnail", "filename"]
    list_filter = ["status", "organisation", "format", "is_cover"]
    search_fields = ["filename", "caption", "failure"]
    ordering = ["-updated_at", "image_id"]
    actions = ["retry"]
    fieldsets = [
        (
            None,
            {"fields": ["image_id", "property", "organisation", "status", "caption", "is_cover", "position"]},
        ),
        ("Original", {"fields": ["filename", "format", "width", "height", "original_bytes"]}),
        ("Processing", {"fields": ["attempts", "failure", "stored_bytes", "variant_table"]}),
        ("Recorded", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = ["property", "variant_table"]

    @admin.display(description="image")
    def thumbnail(self, row: GalleryImage) -> SafeString | str:
        return html.thumbnail(row.variants, row.caption or row.filename)

    @admin.display(description="property")
    def property(self, row: GalleryImage) -> SafeString:
        url = reverse(
            "admin:projections_propertylisting_change", args=(row.property_id,), current_app=site.name
        )
        return format_html('<a href="{}">{}</a>', url, row.property_id)

    @admin.display(description="variants")
    def variant_table(self, row: GalleryImage) -> SafeString:
        return html.variants_table(row.variants)

    @admin.action(description="Retry the selected failed photos")
    def retry(self, request: HttpRequest, rows: QuerySet[GalleryImage]) -> None:
        service = property_service()
        self.run_commands(
            request,
            "Sent back to the image policy",
            [(row.filename, partial(service.retry_image, row.image_id)) for row in rows],
        )
        wake_image_workers()
