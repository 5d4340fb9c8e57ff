"""The managers' overview: property and photo counts per organisation, from ``organisation_dashboard``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.permissions import ReadOnlyForAuditors
from api.serializers import DashboardSerializer
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
        responses=DashboardSerializer,
    )
    def get(self, request: Request) -> Response:
        # Writes do not wait for this read model; its readers do, so counts include every write.
        catch_up_quietly([OrganisationDashboardProjection()], property_service())
        return Response(DashboardSerializer(dashboards(self.audit)).data)
