"""The managers' overview: property and photo counts per organisation, from ``organisation_dashboard``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.permissions import ReadOnlyForAuditors
from infrastructure.composition import property_service
from projections.organisation_dashboard import OrganisationDashboardProjection
from projections.runner import catch_up_quietly
from projections.selectors import dashboards


class DashboardView(AuditedView):
    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="get_dashboard",
        summary="The managers' overview",
        description="Per organisation the caller may see: active and archived properties, photos "
        "pending and failed. Includes every write answered before this read.",
        responses=inline_serializer(
            "Dashboard",
            {
                "organisations": inline_serializer(
                    "OrganisationCounts",
                    {
                        "organisation": serializers.CharField(),
                        "active_properties": serializers.IntegerField(),
                        "archived_properties": serializers.IntegerField(),
                        "images_pending": serializers.IntegerField(),
                        "images_failed": serializers.IntegerField(),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request: Request) -> Response:
        # Writes do not wait for this read model; its readers do, so counts include every write.
        catch_up_quietly([OrganisationDashboardProjection()], property_service())
        rows = dashboards(self.audit)
        return Response(
            {
                "organisations": [
                    {
                        "organisation": row.organisation,
                        "active_properties": row.active_properties,
                        "archived_properties": row.archived_properties,
                        "images_pending": row.images_pending,
                        "images_failed": row.images_failed,
                    }
                    for row in rows
                ]
            }
        )
