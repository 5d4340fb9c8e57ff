"""Histories: each event in the audit JSON shape, plus what it changed, field by field.

The state is replayed once through the aggregates' own event handlers, so a diff shows exactly
what the event did to the aggregate without a second copy of the domain's rules here. State is
kept per aggregate id, so other aggregates' events (a property's images) can join a history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate

from api.event_json import event_json, json_safe
from infrastructure.composition import property_service
from infrastructure.event_store import AuditEntry


def history_json(entries: Iterable[AuditEntry]) -> list[dict[str, Any]]:
    mapper = property_service().mapper
    aggregates: dict[UUID | str, Any] = {}
    history = []
    for entry in entries:
        aggregate_id = entry.event.originator_id
        before = public_state(aggregates.get(aggregate_id))
        aggregate = project_aggregate(aggregates.get(aggregate_id), [mapper.to_domain_event(entry.event)])
        aggregates[aggregate_id] = aggregate
        history.append({**event_json(entry), "changes": changes(before, public_state(aggregate))})
    return history


def public_state(aggregate: Any) -> dict[str, Any] | None:
    """An aggregate's own attributes (not the library's ``_id``, ``_version``…), JSON-safe."""
    if aggregate is None:
        return None
    return {name: json_safe(value) for name, value in vars(aggregate).items() if not name.startswith("_")}


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{field: {before, after}}`` for each field that differs; all fields when ``before`` is None."""
    old = before or {}
    return {
        name: {"before": old.get(name), "after": value}
        for name, value in (after or {}).items()
        if before is None or old.get(name) != value
    }
