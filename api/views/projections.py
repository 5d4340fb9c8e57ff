"""Operating read models over HTTP: the same status as ``manage.py projections status``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.permissions import IsAdmin
from api.serializers import ProjectionsSerializer
from infrastructure.composition import property_service
from projections.registry import all_projections
from projections.runner import status


class ProjectionsView(AuditedView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="list_projections",
        summary="The read models' status",
        description="Each read model's position, lag and last error, as `manage.py projections status` "
        "shows them (admins only).",
        responses=ProjectionsSerializer,
    )
    def get(self, request: Request) -> Response:
        app = property_service()
        statuses = [status(projection, app) for projection in all_projections()]
        return Response(ProjectionsSerializer(statuses).data)
