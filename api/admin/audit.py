"""The audit timeline: every event about a property, newest first, filtered by type, role and time."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from api.admin.read_only import ReadOnlyAdmin
from api.admin.site import site
from projections.models import AuditTimelineEntry


@admin.register(AuditTimelineEntry, site=site)
class AuditTimelineAdmin(ReadOnlyAdmin):
    key_field = "position"
    list_display = [
        "position",
        "occurred_at",
        "event_type",
        "actor_username",
        "actor_role",
        "property",
        "summary",
    ]
    list_filter = ["event_type", "actor_role", "occurred_at"]
    search_fields = ["actor_username", "summary", "event_type"]
    date_hierarchy = "occurred_at"
    ordering = ["-position"]
    fields = [
        "position",
        "occurred_at",
        "event_type",
        "property",
        "version",
        "actor_username",
        "actor_role",
        "actor_id",
        "summary",
    ]
    readonly_fields = ["property"]

    @admin.display(description="property")
    def property(self, entry: AuditTimelineEntry) -> SafeString:
        url = reverse(
            "admin:projections_propertylisting_change", args=(entry.property_id,), current_app=site.name
        )
        return format_html('<a href="{}">{}</a>', url, entry.property_id)
