"""Operating read models over HTTP: the same status as ``manage.py projections status``."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.permissions import IsAdmin
from infrastructure.composition import property_service
from projections.registry import all_projections
from projections.runner import status


class ProjectionsView(AuditedView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        app = property_service()
        return Response(
            {"projections": [asdict(status(projection, app)) for projection in all_projections()]}
        )
