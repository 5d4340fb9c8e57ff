"""Read models: each one's position, lag and state, and a zero-downtime rebuild through the runner."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from api.admin.read_only import ReadOnlyAdmin
from api.admin.site import site
from infrastructure.composition import property_service
from projections.models import ProjectionState
from projections.registry import PROJECTIONS
from projections.runner import (
    ProjectionStalled,
    ProjectionStatus,
    StoreKeptChanging,
    rebuild_together,
    status,
)

logger = logging.getLogger(__name__)


@admin.register(ProjectionState, site=site)
class ProjectionAdmin(ReadOnlyAdmin):
    key_field = "name"
    fields = list_display = (
        "name",
        "state",
        "live_version",
        "generation",
        "position",
        "head",
        "lag_events",
        "last_error",
    )
    ordering = ["name"]
    actions = ["rebuild"]
    readonly_fields = ["state", "live_version", "position", "head", "lag_events", "last_error"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return ProjectionState.objects.filter(name__in=PROJECTIONS).order_by("name")

    def _status(self, state: ProjectionState) -> ProjectionStatus:
        """Worked out once per row shown (each column asks): kept on the row, which lives one request."""
        found: ProjectionStatus | None = getattr(state, "cosmo_status", None)
        if found is None:
            found = status(PROJECTIONS[state.name](), property_service())
            state.cosmo_status = found  # type: ignore[attr-defined]
        return found

    @admin.display(description="state")
    def state(self, state: ProjectionState) -> str:
        return self._status(state).state

    @admin.display(description="live version")
    def live_version(self, state: ProjectionState) -> str:
        found = self._status(state)
        return str(found.live_version) + (
            "" if found.live_version == found.version else f" → {found.version}"
        )

    @admin.display(description="position")
    def position(self, state: ProjectionState) -> int:
        return self._status(state).position

    @admin.display(description="head")
    def head(self, state: ProjectionState) -> int:
        return self._status(state).head

    @admin.display(description="lag (events)")
    def lag_events(self, state: ProjectionState) -> int:
        return self._status(state).lag_events

    @admin.display(description="last error")
    def last_error(self, state: ProjectionState) -> str:
        return self._status(state).last_error

    @admin.action(description="Rebuild the selected read models (zero downtime)")
    def rebuild(self, request: HttpRequest, states: QuerySet[ProjectionState]) -> None:
        names = [state.name for state in states]
        logger.info("rebuilding projections from the admin", extra={"projections": names})
        try:
            reports = rebuild_together([PROJECTIONS[name]() for name in names], property_service())
        except (ProjectionStalled, StoreKeptChanging) as failed:
            self.message_user(
                request, f"Not rebuilt ({failed}); the live read models are untouched", messages.ERROR
            )
            return
        for report in reports:
            self.message_user(
                request,
                f"Rebuilt {report.name} from {report.events} events into generation {report.generation}, "
                f"live at position {report.position}",
                messages.SUCCESS,
            )
