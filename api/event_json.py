"""Stored events as auditors read them: one JSON shape for the stream, the export and histories.

Built from the stored bytes (not from today's aggregate classes' behaviour), so what an auditor
sees is what was recorded; only the event's class name and aggregate type come from its topic.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from domain.catalog import AGGREGATES, event_classes
from infrastructure.composition import property_service
from infrastructure.event_store import AuditEntry

# Envelope fields, shown at the top level of an event or in its metadata rather than in ``data``.
# (The library keeps ``originator_id`` and ``originator_version`` out of the stored state already.)
_ENVELOPE = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp", "audit"})


class NotJsonSafe(TypeError):
    """A stored value of a type the transcoder should never have produced."""


class UnknownAggregate(LookupError):
    """A stored event of an aggregate missing from ``domain.catalog.AGGREGATES``: add it there."""


EVENT_TOPICS: dict[str, str] = {
    cls.__name__: get_topic(cls) for aggregate in AGGREGATES for cls in event_classes(aggregate)
}
"""Event class name (``PropertyRenamed``) to its stored topic, for filtering by type."""


@lru_cache(maxsize=256)
def event_type(topic: str) -> tuple[str, str]:
    """``(aggregate_type, type)`` of a stored topic, e.g. ``("Property", "PropertyRenamed")``."""
    cls = resolve_topic(topic)
    for aggregate in AGGREGATES:
        if issubclass(cls, aggregate.Event):
            return aggregate.__name__, cls.__name__
    raise UnknownAggregate(f"stored topic {topic!r} belongs to no aggregate in AGGREGATES")


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; a naive time is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"


def json_safe(value: Any) -> Any:
    """Value objects as objects, enums as their value, decimals and ids as strings."""
    if isinstance(value, Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: json_safe(getattr(value, field.name)) for field in dataclasses.fields(value)}
    raise NotJsonSafe(f"no JSON form for a stored {type(value).__qualname__}")


def event_json(entry: AuditEntry, transcoder: Transcoder | None = None) -> dict[str, Any]:
    """One event of the audit stream, with its chain position and who recorded it.

    Decoded by the store's own transcoder unless given one: it opens personal fields (or shows
    them erased).
    """
    decoder = transcoder or property_service().mapper.transcoder
    state: dict[str, Any] = decoder.decode(entry.event.state)
    audit = json_safe(state["audit"])
    aggregate_type, type_name = event_type(entry.event.topic)
    return {
        "position": entry.link.position,
        "aggregate_id": str(entry.event.originator_id),
        "aggregate_type": aggregate_type,
        "version": entry.event.originator_version,
        "type": type_name,
        "timestamp": json_safe(state["timestamp"]),
        "actor": {"id": audit["actor_id"], "username": audit["username"], "role": audit["role"]},
        "data": {key: json_safe(value) for key, value in state.items() if key not in _ENVELOPE},
        "metadata": audit,
    }
