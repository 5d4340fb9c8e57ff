"""Liveness and readiness for load balancers and orchestrators: no auth, no side effects."""

from __future__ import annotations

import logging

from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import error_body
from infrastructure.composition import property_service

logger = logging.getLogger(__name__)


class HealthView(APIView):
    """The process is up and serving; says nothing about its dependencies."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """The read-model database and the event store both answer a query."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            head = property_service().recorder.max_notification_id()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            logger.warning("not ready", extra={"error": repr(error)})
            return Response(error_body("not_ready", f"database unavailable: {error}"), status=503)
        return Response({"status": "ready", "event_store_head": head or 0})
