"""The tamper-evident chain over the global event stream.

Each stored event gets a link: a gap-free position and a digest that covers the previous link's
digest and a canonical encoding of the event as stored (notification id, topic, aggregate id,
version and the state bytes, which hold the timestamp). The digest is an HMAC keyed with a secret
from the environment, so someone with write access to the database alone can neither edit, insert,
delete nor reorder events and then recompute a consistent chain. Seals sign the chain head so it
can be kept outside the database, which also catches the one thing links cannot: a cut-off tail.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from infrastructure.transcoder import DATA_KEY, TYPE_KEY

GENESIS_DIGEST = "0" * 64
_pack = struct.Struct(">I").pack


@dataclass(frozen=True)
class ChainLink:
    """One row of the chain table; ``actor`` and ``recorded_at`` are copied out for filtering.

    ``actor`` is the pseudonymous actor id, never the username: a copy outside the event would
    survive the erasure of its subject (links made before erasure existed hold the username,
    which ``erase-subject`` replaces by the id; the digest never covered it).
    """

    position: int
    notification_id: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    recorded_at: datetime
    actor: str
    digest: str


@dataclass(frozen=True)
class Seal:
    position: int
    digest: str
    sealed_at: datetime
    signature: str

    def text(self) -> str:
        """The one line an operator keeps outside the database."""
        return f"cosmo-seal:{self.position}:{self.digest}:{self.sealed_at.isoformat()}:{self.signature}"


class InvalidSealText(ValueError):
    pass


def parse_seal(text: str) -> Seal:
    try:
        prefix, position, digest, rest = text.strip().split(":", 3)
        sealed_at, signature = rest.rsplit(":", 1)
        if prefix != "cosmo-seal":
            raise ValueError(prefix)
        return Seal(int(position), digest, datetime.fromisoformat(sealed_at), signature)
    except ValueError as error:
        raise InvalidSealText(f"not a Cosmo seal: {text!r}") from error


class ChainKey:
    """The secret behind link digests and seal signatures (never stored in the database)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the audit key must be at least 32 bytes")
        self._links = hmac.new(secret, b"cosmo-audit-links", hashlib.sha256).digest()
        self._link_mac = hmac.new(self._links, digestmod=hashlib.sha256)  # keyed once, copied per link
        self._seals = hmac.new(secret, b"cosmo-audit-seals", hashlib.sha256).digest()

    def link_digest(self, previous_digest: str, notification_id: int, stored: StoredEvent) -> str:
        mac = self._link_mac.copy()  # the key's setup is two SHA-256 blocks: done once, in __init__
        mac.update(bytes.fromhex(previous_digest) + canonical_encoding(notification_id, stored))
        return mac.hexdigest()

    def row_link_digest(
        self, previous_digest: str, notification_id: int, hex_id: str, version: int, topic: str, state: bytes
    ) -> str:
        """``link_digest`` from an event row as stored (the aggregate id as 32 hex digits), the
        message built with one ``join`` (verify runs this per event)."""
        nid, name, ident, ver = b"%d" % notification_id, topic.encode(), hex_id.encode(), b"%d" % version
        mac = self._link_mac.copy()
        mac.update(
            b"".join(
                (
                    bytes.fromhex(previous_digest), _pack(len(nid)), nid, _pack(len(name)), name,
                    _pack(len(ident)), ident, _pack(len(ver)), ver, _pack(len(state)), state,
                )
            )
        )  # fmt: skip
        return mac.hexdigest()

    def seal(self, position: int, digest: str, sealed_at: datetime) -> Seal:
        return Seal(position, digest, sealed_at, self._seal_signature(position, digest, sealed_at))

    def seal_is_genuine(self, seal: Seal) -> bool:
        expected = self._seal_signature(seal.position, seal.digest, seal.sealed_at)
        return hmac.compare_digest(expected, seal.signature)

    def _seal_signature(self, position: int, digest: str, sealed_at: datetime) -> str:
        message = f"{position}:{digest}:{sealed_at.isoformat()}".encode()
        return hmac.new(self._seals, message, hashlib.sha256).hexdigest()


def canonical_encoding(notification_id: int, stored: StoredEvent) -> bytes:
    """Length-prefixed fields: no two different events can encode to the same bytes."""
    originator = stored.originator_id.hex if isinstance(stored.originator_id, UUID) else stored.originator_id
    parts = [str(notification_id).encode(), stored.topic.encode(), originator.encode()]
    parts += [str(stored.originator_version).encode(), bytes(stored.state)]
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


class ChainLinker:
    """Makes the links for a batch of events inside the transaction that inserts them."""

    def __init__(self, key: ChainKey) -> None:
        self.key = key

    def links(
        self,
        head: tuple[int, str] | None,
        notification_ids: Sequence[int],
        stored_events: Sequence[StoredEvent],
    ) -> list[ChainLink]:
        position, digest = head or (0, GENESIS_DIGEST)
        links = []
        for notification_id, stored in zip(notification_ids, stored_events, strict=True):
            position += 1
            digest = self.key.link_digest(digest, notification_id, stored)
            recorded_at, actor = self._who_and_when(stored)
            links.append(
                ChainLink(
                    position=position,
                    notification_id=notification_id,
                    originator_id=stored.originator_id,
                    originator_version=stored.originator_version,
                    topic=stored.topic,
                    recorded_at=recorded_at,
                    actor=actor,
                    digest=digest,
                )
            )
        return links

    def _who_and_when(self, stored: StoredEvent) -> tuple[datetime, str]:
        """Copied out for filtering; an event in a foreign format is still chained, just unlabelled.

        Read from the stored JSON, not by decoding the event: the two fields are a tagged datetime
        and a tagged audit context's ``actor_id``, and decoding the whole event cost more than
        the rest of the link (HMAC included).
        """
        try:
            state = orjson.loads(stored.state)
        except orjson.JSONDecodeError:
            return datetime.now(UTC), ""
        if not isinstance(state, dict):
            return datetime.now(UTC), ""
        timestamp = _tagged_data(state.get("timestamp"), "datetime")
        try:
            moment = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else None
        except ValueError:
            moment = None
        audit = _tagged_data(state.get("audit"), "audit_context")
        actor = str(audit.get("actor_id", "")) if isinstance(audit, dict) else ""
        return (moment.astimezone(UTC) if moment is not None else datetime.now(UTC)), actor


def _tagged_data(value: Any, type_name: str) -> Any:
    """The data of a value the transcoder stored tagged as ``type_name``; None for anything else."""
    if isinstance(value, dict) and value.get(TYPE_KEY) == type_name:
        return value.get(DATA_KEY)
    return None


@dataclass(frozen=True)
class Problem:
    position: int
    kind: str
    detail: str


@dataclass
class Verification:
    """What ``audit verify`` found; ``first_problem`` is None for an untouched store."""

    checked: int = 0
    head_position: int = 0
    head_digest: str = GENESIS_DIGEST
    seals_checked: int = 0
    first_problem: Problem | None = None
    tree_size: int = 0
    root: str = ""
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.first_problem is None
