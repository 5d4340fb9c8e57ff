"""The Merkle leaf of a stored event (cosmo-leaf/1), read straight from the stored bytes.

The insert transaction, the backfill and ``audit verify`` all compute leaves here, from the raw
JSON (no transcoding into domain objects), so they agree by construction and verification runs
at the speed of hashing. Only the pseudonymous actor (id, organisation, role) enters the leaf.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent

from infrastructure.merkle import leaf_bytes, leaf_hash, payload_hash, recorded_time
from infrastructure.transcoder import DATA_KEY


def _untagged(value: Any) -> Any:
    return value.get(DATA_KEY) if isinstance(value, dict) and DATA_KEY in value else value


def time_and_actor(state: bytes) -> tuple[str, dict[str, str]]:
    """The event's recorded time and actor; empty strings for an event in a foreign format."""
    try:
        decoded = orjson.loads(state)
    except orjson.JSONDecodeError:
        return "", {}
    if not isinstance(decoded, dict):
        return "", {}
    timestamp = _untagged(decoded.get("timestamp"))
    try:
        when = recorded_time(datetime.fromisoformat(timestamp)) if isinstance(timestamp, str) else ""
    except ValueError:
        when = ""
    audit = _untagged(decoded.get("audit"))
    if not isinstance(audit, dict):
        return when, {}
    actor = {name: str(_untagged(audit.get(name)) or "") for name in ("actor_id", "organisation", "role")}
    return when, actor


def event_leaf_bytes(position: int, stored: StoredEvent) -> bytes:
    when, actor = time_and_actor(bytes(stored.state))
    return leaf_bytes(
        position,
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        when,
        actor,
        payload_hash(bytes(stored.state)),
    )


def event_leaf(position: int, stored: StoredEvent) -> bytes:
    """The leaf hash of the event at ``position`` (1-based): leaf index ``position - 1``."""
    return leaf_hash(event_leaf_bytes(position, stored))
