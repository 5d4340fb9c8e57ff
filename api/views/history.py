"""A property's history: its events and its photos' events in order, each with what it changed."""

from __future__ import annotations

import heapq
from itertools import chain
from uuid import UUID

from drf_spectacular.utils import extend_schema
from eventsourcing.utils import get_topic
from rest_framework.request import Request
from rest_framework.response import Response

from api.audit_serializers import HistorySerializer
from api.audit_stream import read_batches
from api.context import AuditedView
from api.permissions import ReadOnlyForAuditors
from domain.property import Property
from domain.service import PropertyService
from infrastructure.composition import property_service
from infrastructure.event_store import AuditEntry, AuditFilter

IMAGE_ATTACHED = get_topic(Property.ImageAttached)


def events_of(service: PropertyService, originator_id: UUID) -> list[AuditEntry]:
    return list(chain.from_iterable(read_batches(service, AuditFilter(originator_id=originator_id))))


def property_story(service: PropertyService, property_id: UUID) -> list[AuditEntry]:
    """The property's own events merged, in position order, with those of every photo it ever had.

    A removed photo's events stay in the story: what was uploaded, and who removed it, is history.
    """
    entries = events_of(service, property_id)
    image_ids = [
        service.mapper.to_domain_event(entry.event).image_id  # type: ignore[attr-defined]
        for entry in entries
        if entry.event.topic == IMAGE_ATTACHED
    ]
    return list(
        heapq.merge(
            entries, *(events_of(service, image_id) for image_id in image_ids), key=lambda e: e.link.position
        )
    )


class PropertyHistoryView(AuditedView):
    """The property's and its photos' events in order, each with ``changes``: ``{field: {before, after}}``."""

    permission_classes = [ReadOnlyForAuditors]

    @extend_schema(
        operation_id="get_property_history",
        summary="A property's history",
        description="The property's events and its photos' events in order, each with who made it and "
        "`changes`: `{field: {before, after}}`.",
        responses=HistorySerializer,
    )
    def get(self, request: Request, property_id: UUID) -> Response:
        service = property_service()
        service.get_property(property_id)  # another organisation's property: 404
        story = property_story(service, property_id)
        return Response(HistorySerializer(story, context={"service": service}).data)
