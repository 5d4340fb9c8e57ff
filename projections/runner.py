"""Catching a projection up with the global event stream, one batch per transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.db import transaction
from eventsourcing.application import Application

from projections.models import ProjectionPosition

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


class Projection(Protocol):
    name: str
    version: int
    handlers: dict[str, Callable[[Any], None]]


class ProjectionStalled(Exception):
    """A handler failed: the projection stops at that event instead of skipping it."""

    def __init__(self, name: str, position: int, cause: BaseException) -> None:
        super().__init__(f"projection {name} stopped at position {position}: {cause!r}")
        self.name = name
        self.position = position


def catch_up(projection: Projection, app: Application[Any], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Apply every event after the projection's position; return how many were read.

    Rows and position commit together, and the position row is locked for the batch, so
    concurrent callers (other requests, other processes) never apply an event twice.
    """
    ProjectionPosition.objects.get_or_create(name=projection.name, defaults={"version": projection.version})
    read = 0
    while True:
        try:
            count = _apply_next_batch(projection, app, batch_size)
        except ProjectionStalled as stalled:
            ProjectionPosition.objects.filter(name=projection.name).update(last_error=str(stalled))
            logger.error(
                "projection stalled",
                extra={"projection": projection.name, "position": stalled.position, "error": str(stalled)},
            )
            raise
        if count == 0:
            return read
        read += count


def _apply_next_batch(projection: Projection, app: Application[Any], batch_size: int) -> int:
    with transaction.atomic():
        tracking = ProjectionPosition.objects.select_for_update().get(name=projection.name)
        notifications = app.recorder.select_notifications(
            start=tracking.position, limit=batch_size, inclusive_of_start=False
        )
        for notification in notifications:
            handler = projection.handlers.get(notification.topic)
            if handler is None:
                continue
            try:
                handler(app.mapper.to_domain_event(notification))
            except Exception as error:
                raise ProjectionStalled(projection.name, notification.id, error) from error
        if notifications:
            tracking.position = notifications[-1].id
            tracking.last_error = ""
            tracking.save(update_fields=["position", "last_error", "updated_at"])
        return len(notifications)


def catch_up_quietly(projections: Iterable[Projection], app: Application[Any]) -> None:
    """Bring read models up to date after a write; a stalled one is logged, not raised.

    The write has already been recorded: failing the request would misreport it. The stalled
    projection keeps its error in its position row for operators to see.
    """
    for projection in projections:
        try:
            catch_up(projection, app)
        except ProjectionStalled:
            continue
