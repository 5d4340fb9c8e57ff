"""Stored events as auditors read them: one JSON shape for the stream, the export and histories.

Built from the stored bytes (not from today's aggregate classes' behaviour), so what an auditor
sees is what was recorded; only the event's class name and aggregate type come from its topic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import TranscodingNotRegisteredError
from eventsourcing.utils import get_topic, resolve_topic

from domain.audit import Role
from domain.catalog import AGGREGATES, event_classes
from domain.service import PropertyService
from infrastructure.event_store import AuditEntry, EntryRow
from infrastructure.personal_data_cipher import PersonalDataCipher
from infrastructure.transcoder import (
    DATA_KEY,
    ENUM_TAGS,
    RECORD_FIELDS,
    SEALED,
    TYPE_KEY,
    OrjsonTranscoder,
)

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


def event_json(entry: AuditEntry, transcoder: OrjsonTranscoder) -> dict[str, Any]:
    """One event of the audit stream, with its chain position and who recorded it."""
    event = entry.event
    originator_id = event.originator_id
    aggregate_id = str(originator_id if isinstance(originator_id, UUID) else UUID(originator_id))
    row = (entry.link.position, aggregate_id, event.originator_version, event.topic, event.state)
    return row_json(row, transcoder)


def row_json(row: EntryRow, transcoder: OrjsonTranscoder) -> dict[str, Any]:
    """``event_json`` of a bare stored row: the export's hot path.

    The stored JSON is presented directly (``stored_json_safe``) instead of being decoded into
    value objects that ``json_safe`` then takes apart again; the result is the same. The audit
    context's personal fields are opened by the store's own cipher (:func:`store_transcoder`), or
    shown erased (:func:`audit_json`).
    """
    position, aggregate_id, version, topic, state_bytes = row
    state: dict[str, Any] = orjson.loads(state_bytes)
    audit = audit_json(state["audit"], transcoder)
    aggregate_type, type_name = event_type(topic)
    return {
        "position": position,
        "aggregate_id": aggregate_id,
        "aggregate_type": aggregate_type,
        "version": version,
        "type": type_name,
        "timestamp": stored_json_safe(state["timestamp"]),
        "actor": {"id": audit["actor_id"], "username": audit["username"], "role": audit["role"]},
        "data": {
            key: stored_json_safe(value) if type(value) in _NESTED else value
            for key, value in state.items()
            if key not in _ENVELOPE
        },
        "metadata": audit,
    }


_AUDIT_FIELDS = RECORD_FIELDS["audit_context"]
_ROLES = frozenset(role.value for role in Role)


def audit_json(stored: Any, transcoder: OrjsonTranscoder) -> dict[str, Any]:
    """``json_safe(transcoder.decode_value(stored))`` of an event's stored audit context.

    Every event has one, so the usual shape (every field of today's ``AuditContext`` in order,
    text in clear or sealed as one token, a known role) is presented straight from the stored
    JSON, each sealed value looked up in the cipher's cache of opened tokens as the transcoder
    does. Any other shape (an older context, no cipher) is decoded: the result is the same.
    """
    cipher = transcoder.cipher
    data = stored.get(DATA_KEY) if type(stored) is dict and len(stored) == 2 else None
    if (
        cipher is None
        or type(data) is not dict
        or stored.get(TYPE_KEY) != "audit_context"
        or tuple(data) != _AUDIT_FIELDS
    ):
        return _decoded_audit(stored, transcoder)
    opened = cipher.opened()
    try:
        return {
            name: item if type(item) is str else _audit_value(name, item, opened, cipher)
            for name, item in data.items()
        }
    except _UnusualAudit:
        return _decoded_audit(stored, transcoder)


class _UnusualAudit(Exception):
    """A stored audit value ``audit_json`` leaves to the transcoder."""


def _audit_value(name: str, item: Any, opened: dict[str, tuple[str, str]], cipher: PersonalDataCipher) -> str:
    """A sealed value (one token) opened, or a known role."""
    tag = item.get(TYPE_KEY) if type(item) is dict and len(item) == 2 else None
    value = item.get(DATA_KEY) if tag is not None else None
    if type(value) is not str:
        raise _UnusualAudit
    if tag == SEALED:
        hit = opened.get(value)
        return hit[1] if hit is not None and hit[0] == name else cipher.open(name, value)
    if tag == "role" and value in _ROLES:
        return value
    raise _UnusualAudit


def _decoded_audit(stored: Any, transcoder: OrjsonTranscoder) -> dict[str, Any]:
    audit: dict[str, Any] = json_safe(transcoder.decode_value(stored))
    return audit


def store_transcoder(service: PropertyService) -> OrjsonTranscoder:
    transcoder = service.mapper.transcoder
    assert isinstance(transcoder, OrjsonTranscoder), "Cosmo's stores use the orjson transcoder"
    return transcoder


def _stored_datetime(data: str) -> str:
    """The transcoder stores ``isoformat()``: a UTC one only needs its offset spelled ``Z``."""
    if data.endswith("+00:00") and data[10:11] == "T":
        return data[:-6] + "Z"
    return utc_iso(datetime.fromisoformat(data))


_HEX_DIGITS = "0123456789abcdef"


def _stored_uuid(data: str) -> str:
    """The transcoder stores ``UUID.hex``: 32 lowercase hex digits only need their dashes."""
    if type(data) is str and len(data) == 32 and not data.strip(_HEX_DIGITS):
        return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
    return str(UUID(data))


def _record(names: tuple[str, ...]) -> Any:
    def present(data: Any) -> dict[str, Any]:
        return {
            name: stored_json_safe(item) if type(item := data[name]) in _NESTED else item for name in names
        }

    return present


def _enum(data: Any) -> Any:
    return stored_json_safe(data) if type(data) in _NESTED else data


# ``json_safe`` of each value the transcoder tags, from its stored ``_data_``: a scalar from its
# text, a record as its class's fields in its order, an enum as its stored value.
_STORED_TAGS: dict[str, Any] = {
    "uuid": _stored_uuid,
    "decimal": lambda data: format(Decimal(data), "f"),
    "datetime": _stored_datetime,
    "date": lambda data: date.fromisoformat(data).isoformat(),
    **{tag: _record(names) for tag, names in RECORD_FIELDS.items()},
    **dict.fromkeys(ENUM_TAGS, _enum),
}
_NESTED = (dict, list)


def stored_json_safe(value: Any) -> Any:
    """``json_safe(transcoder.decode(...))`` of a value as the transcoder stored it (see its tags).

    An unknown tag is refused as decoding would refuse it. Plain leaves (most of an event) are
    passed on without a call.
    """
    if type(value) is list:
        return [stored_json_safe(item) if type(item) in _NESTED else item for item in value]
    if type(value) is not dict:
        return value
    if len(value) == 2 and TYPE_KEY in value and DATA_KEY in value:
        tag = value[TYPE_KEY]
        if tag in _STORED_TAGS:
            return _STORED_TAGS[tag](value[DATA_KEY])
        raise TranscodingNotRegisteredError(f"unknown stored type {tag!r}")
    return _safe_items(value.items())


def _safe_items(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {key: stored_json_safe(item) if type(item) in _NESTED else item for key, item in items}
