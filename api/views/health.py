"""Liveness and readiness for load balancers and orchestrators: no auth, no side effects."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import error_body
from api.query import StrictQueryView
from api.schema import ErrorSerializer
from infrastructure.composition import property_service
from infrastructure.workers import worker_problems
from projections.registry import all_projections
from projections.runner import status

logger = logging.getLogger(__name__)


class HealthView(StrictQueryView):
    """The process is up and serving; says nothing about its dependencies."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        summary="Liveness",
        description="The process is up and serving; says nothing about its dependencies.",
        auth=[],
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(StrictQueryView):
    """Both databases answer, no projection is stalled or too far behind, no worker dead or silent."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="ready",
        summary="Readiness",
        description="Both databases answer, no read model is stalled or too far behind, and no "
        "background worker is dead or silent (no heartbeat within COSMO_READY_WORKER_STALE_SECONDS); "
        "503 (`not_ready`) otherwise.",
        auth=[],
        responses={
            200: inline_serializer(
                "Ready", {"status": serializers.CharField(), "event_store_head": serializers.IntegerField()}
            ),
            503: OpenApiResponse(ErrorSerializer, description="Not ready: the message says why."),
        },
    )
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            app = property_service()
            head = app.recorder.max_notification_id()
            lagging = [
                row
                for row in (status(projection, app) for projection in all_projections())
                if row.state == "stalled" or row.lag_events > settings.COSMO_READY_MAX_LAG_EVENTS
            ]
            workers = worker_problems()
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            logger.warning("not ready", extra={"error": repr(error)})
            return Response(error_body("not_ready", f"database unavailable: {error}"), status=503)
        if lagging:
            names = ", ".join(f"{row.name} ({row.state}, {row.lag_events} behind)" for row in lagging)
            return Response(error_body("not_ready", f"read models behind: {names}"), status=503)
        if workers:
            return Response(error_body("not_ready", f"workers: {'; '.join(workers)}"), status=503)
        return Response({"status": "ready", "event_store_head": head or 0})
