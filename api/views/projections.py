"""Operating read models over HTTP: the same status as ``manage.py projections status``."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.permissions import IsAdmin
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
        responses=inline_serializer(
            "Projections",
            {
                "projections": inline_serializer(
                    "ProjectionStatus",
                    {
                        "name": serializers.CharField(),
                        "version": serializers.IntegerField(),
                        "live_version": serializers.IntegerField(),
                        "generation": serializers.IntegerField(),
                        "position": serializers.IntegerField(),
                        "head": serializers.IntegerField(),
                        "lag_events": serializers.IntegerField(),
                        "lag_seconds": serializers.FloatField(),
                        "state": serializers.CharField(),
                        "last_error": serializers.CharField(allow_blank=True),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request: Request) -> Response:
        app = property_service()
        return Response(
            {"projections": [asdict(status(projection, app)) for projection in all_projections()]}
        )
