"""Inline projections fed with the events a write has in hand (Marten's "inline" projections).

A write knows exactly which events it recorded and at which positions. When a read model's
live position is right before them, nothing else can be in between (positions are gap-free and
committed in order, ADR 0009), so applying the events in hand gives the same rows as reading them
back from the store, without the reads, the decoding or a transaction per projection. One
transaction locks each projection's state and tracking rows (in name order, the order
every catch-up and rebuild swap uses, one projection at a time) and moves them all; a read
model found anywhere else (behind other writers' events, stalled, or already past) is left for
the ordinary catch-up (``projections.runner``), which reads from the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from projections.models import ProjectionState, ProjectionTracking
from projections.projection import HandlerFailed, Projection
from projections.runner import apply_events

logger = logging.getLogger(__name__)


def apply_recorded(
    projections: Sequence[Projection], recorded: Sequence[tuple[int, Any]]
) -> list[Projection]:
    """Apply one save's ``(position, event)`` pairs to each projection that is right before them.

    Returns the projections this could not bring past the save, for the caller to catch up
    from the store. A handler that fails stalls its projection exactly as a catch-up would
    (rows before the failing event kept, the error in the tracking row).
    """
    if not recorded or not projections:
        return list(projections)
    first, last = recorded[0][0], recorded[-1][0]
    by_name = {projection.name: projection for projection in projections}
    left: list[Projection] = []
    advanced: list[int] = []
    with transaction.atomic():
        states = ProjectionState.objects.select_for_update().filter(name__in=by_name).order_by("name")
        generations = {state.name: state.generation for state in states}
        live = Q(pk__in=[])
        for name, generation in generations.items():
            live |= Q(name=name, generation=generation)
        trackings = {
            tracking.name: tracking
            for tracking in ProjectionTracking.objects.select_for_update().filter(live).order_by("name")
        }
        for name, projection in sorted(by_name.items()):
            tracking = trackings.get(name)
            if tracking is None or tracking.last_error or tracking.position >= last:
                if tracking is None or tracking.position < last:
                    left.append(projection)
                continue
            if tracking.position != first - 1:
                left.append(projection)
                continue
            topics = set(projection.topics)
            events = [(position, event) for position, event in recorded if type(event).TOPIC in topics]
            try:
                # Handlers change rows in memory and ``finish_batch`` writes them: a handler that
                # raises has written nothing, so no savepoint is needed around the happy path.
                projection.apply(events, tracking.generation)
            except HandlerFailed:
                stalled = apply_events(projection, tracking, events, last)  # the catch-up's way to stall
                logger.error("projection stalled", extra={"projection": name, "error": str(stalled)})
            else:
                advanced.append(tracking.pk)
        ProjectionTracking.objects.filter(pk__in=advanced).update(
            position=last, last_error="", error_position=None, updated_at=timezone.now()
        )
    return left
