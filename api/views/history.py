"""A property's history: its events in order, each with what it changed, field by field."""

from __future__ import annotations

from itertools import chain
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.audit_serializers import HistorySerializer
from api.audit_stream import read_batches
from api.context import AuditedView
from api.history_json import history_json
from api.permissions import ReadOnlyForAuditors
from infrastructure.composition import property_service
from infrastructure.event_store import AuditFilter


class PropertyHistoryView(AuditedView):
    """The property's events in order, each with ``changes``: ``{field: {before, after}}``."""

    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(responses=HistorySerializer)
    def get(self, request: Request, property_id: UUID) -> Response:
        property_service().get_property(property_id)  # another organisation's property: 404
        entries = chain.from_iterable(read_batches(AuditFilter(originator_id=property_id)))
        return Response({"events": history_json(entries)})
