"""Envelope encryption: per-subject and per-period data keys, wrapped by a master key.

Data keys (AES-256-GCM) live in their own table (``<events>_data_keys``), each wrapped by a master
key that never enters the database (``COSMO_MASTER_KEY``). A row is named by a ``ref``:
``subject:<actor id>`` (a person's key) or ``period:<YYYY-MM-DD>`` (the UTC day request metadata
was recorded in). Destroying a key sets its wrapped bytes to NULL and keeps the row as a
tombstone, so a destroyed key reads as "erased" and is never made again, while a row that is not
there at all is an error that names the key (a restored or truncated key table).

Rotating the master key re-wraps the data keys only; no event is ever re-encrypted.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
DEFAULT_CACHE_SECONDS = 1.0


class DataKeyError(Exception):
    """A data key cannot be used; the message names the key and what to do."""


class MissingDataKey(DataKeyError):
    pass


class MissingMasterKey(DataKeyError):
    pass


class DestroyedDataKey(DataKeyError):
    """Raised when something would be written under a key that was destroyed (an erased subject)."""


SUBJECT_PREFIX = "subject:"
PERIOD_PREFIX = "period:"
ONE_DAY = timedelta(days=1)


def subject_ref(subject_id: str) -> str:
    return f"{SUBJECT_PREFIX}{subject_id}"


def period_ref(period: str) -> str:
    return f"{PERIOD_PREFIX}{period}"


class MasterKey:
    """An AES-256 key derived from a secret of the environment; ``id`` names it in the key table."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("a master key must be at least 32 characters")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cosmo-master-key").derive(
            secret.encode()
        )
        self.id = hashlib.sha256(b"cosmo-master-key-id\0" + key).hexdigest()[:16]
        self._aead = AESGCM(key)

    def wrap(self, ref: str, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data_key, ref.encode())

    def unwrap(self, ref: str, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], ref.encode())
        except InvalidTag:
            raise DataKeyError(f"data key {ref!r} does not open with master key {self.id}") from None


class MasterKeys:
    """The current master key (wraps new keys) and earlier ones still accepted while rotating."""

    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        self.current = MasterKey(current)
        self._by_id = {key.id: key for key in (MasterKey(secret) for secret in previous)}
        self._by_id[self.current.id] = self.current

    def get(self, master_id: str, ref: str) -> MasterKey:
        try:
            return self._by_id[master_id]
        except KeyError:
            raise MissingMasterKey(
                f"data key {ref!r} is wrapped by master key {master_id}, which is not configured: "
                "set it as COSMO_MASTER_KEY or list it in COSMO_PREVIOUS_MASTER_KEYS"
            ) from None


@dataclass(frozen=True)
class KeyRow:
    ref: str
    wrapped: bytes | None
    master_id: str


class KeyTable:
    """The SQL of the data-key table, run through the event store's recorder (either database),
    which names the table (``{data_keys}``) and the driver's placeholders."""

    def __init__(self, run: Callable[..., list[Any]], table: str) -> None:
        self._run = run
        self.table = table  # its name, for messages

    def select(self, refs: Sequence[str]) -> dict[str, KeyRow]:
        if not refs:
            return {}
        marks = ", ".join(["%s"] * len(refs))
        rows = self._run(
            f"SELECT ref, wrapped, master FROM {{data_keys}} WHERE ref IN ({marks})", tuple(refs)
        )
        return {row[0]: KeyRow(row[0], None if row[1] is None else bytes(row[1]), row[2]) for row in rows}

    def insert_if_absent(self, row: KeyRow) -> None:
        self._run(
            "INSERT INTO {data_keys} (ref, wrapped, master, created_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (ref) DO NOTHING",
            (row.ref, row.wrapped, row.master_id, _now()),
            write=True,
        )

    def destroy(self, refs: Sequence[str]) -> list[str]:
        """Tombstone these keys (made first when absent, so they can never be made again)."""
        if not refs:
            return []
        marks = ", ".join(["%s"] * len(refs))
        live = self._run(
            f"SELECT ref FROM {{data_keys}} WHERE ref IN ({marks}) AND wrapped IS NOT NULL", tuple(refs)
        )
        for ref in refs:
            self._run(
                "INSERT INTO {data_keys} (ref, wrapped, master, created_at, destroyed_at) "
                "VALUES (%s, NULL, '', %s, %s) ON CONFLICT (ref) DO UPDATE SET wrapped = NULL, "
                "destroyed_at = COALESCE({data_keys}.destroyed_at, excluded.destroyed_at)",
                (ref, _now(), _now()),
                write=True,
            )
        return sorted(row[0] for row in live)

    def live_refs(self, prefix: str) -> list[str]:
        rows = self._run(
            "SELECT ref FROM {data_keys} WHERE ref LIKE %s AND wrapped IS NOT NULL ORDER BY ref",
            (prefix + "%",),
        )
        return [row[0] for row in rows]

    def wrapped_by_other_than(self, master_id: str) -> list[KeyRow]:
        rows = self._run(
            "SELECT ref, wrapped, master FROM {data_keys} WHERE wrapped IS NOT NULL AND master <> %s",
            (master_id,),
        )
        return [KeyRow(row[0], bytes(row[1]), row[2]) for row in rows]

    def rewrap(self, row: KeyRow, old_master_id: str) -> None:
        self._run(
            "UPDATE {data_keys} SET wrapped = %s, master = %s WHERE ref = %s AND master = %s "
            "AND wrapped IS NOT NULL",
            (row.wrapped, row.master_id, row.ref, old_master_id),
            write=True,
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()


class DataKeys:
    """Unwrapped data keys for one process, cached for ``cache_seconds``.

    The cache is what keeps reading cheap (one table read per key per batch of events instead of
    one per event); it is also how long another process may still open a key this process saw
    before it was destroyed. The process that destroys a key forgets it at once.
    """

    def __init__(
        self, table: KeyTable, masters: MasterKeys, cache_seconds: float = DEFAULT_CACHE_SECONDS
    ) -> None:
        self.table = table
        self.masters = masters
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()
        # Raised whenever keys are dropped from the cache: what is derived from them goes too.
        self.version = 0

    def for_writing(self, ref: str) -> bytes:
        """The key to encrypt under, made on first use; a destroyed one is refused."""
        found = self.for_reading([ref], missing_ok=True)
        if ref not in found:
            data_key = AESGCM.generate_key(bit_length=256)
            master = self.masters.current
            self.table.insert_if_absent(KeyRow(ref, master.wrap(ref, data_key), master.id))
            found = self.for_reading([ref])  # the winner's key, if another process made one first
        key = found[ref]
        if key is None:
            raise DestroyedDataKey(f"data key {ref!r} was destroyed: nothing more is recorded under it")
        return key

    def for_reading(
        self, refs: Sequence[str], missing_ok: bool = False, refresh: bool = False
    ) -> dict[str, bytes | None]:
        """Each key, or None when it was destroyed; a key not in the table is an error naming it.
        With ``refresh``, all are read from the table, cached or not."""
        now = time.monotonic()
        found: dict[str, bytes | None] = {}
        wanted = []
        for ref in refs:
            cached = self._cache.get(ref)
            if cached is not None and cached[0] > now and not refresh:
                found[ref] = cached[1]
            else:
                wanted.append(ref)
        if wanted:
            rows = self.table.select(wanted)
            with self._lock:
                for ref in wanted:
                    row = rows.get(ref)
                    if row is None:
                        if missing_ok:
                            continue
                        raise MissingDataKey(
                            f"data key {ref!r} is not in table {self.table.table}: was the key table "
                            "restored from an older backup or truncated?"
                        )
                    key = (
                        None
                        if row.wrapped is None
                        else self.masters.get(row.master_id, ref).unwrap(ref, row.wrapped)
                    )
                    self._cache[ref] = (now + self.cache_seconds, key)
                    found[ref] = key
        return found

    def destroy(self, refs: Sequence[str]) -> list[str]:
        """Destroy these keys; the ones that were live before."""
        destroyed = self.table.destroy(refs)
        self.forget(refs)
        return destroyed

    def forget(self, refs: Sequence[str]) -> None:
        with self._lock:
            for ref in refs:
                self._cache.pop(ref, None)
            self.version += 1

    def periods_ended_by(self, cutoff: datetime) -> list[str]:
        """Recording periods (UTC days) with a live key whose whole day lies before ``cutoff``."""
        periods = [ref.removeprefix(PERIOD_PREFIX) for ref in self.table.live_refs(PERIOD_PREFIX)]
        return [day for day in periods if datetime.fromisoformat(day).replace(tzinfo=UTC) + ONE_DAY <= cutoff]

    def forget_all(self) -> None:
        """Drop every cached key (after the key table was emptied underneath, as tests do)."""
        with self._lock:
            self._cache.clear()
            self.version += 1

    def rotate(self) -> int:
        """Re-wrap every live key not wrapped by the current master key; how many were."""
        current = self.masters.current
        rows = self.table.wrapped_by_other_than(current.id)
        for row in rows:
            assert row.wrapped is not None
            data_key = self.masters.get(row.master_id, row.ref).unwrap(row.ref, row.wrapped)
            self.table.rewrap(KeyRow(row.ref, current.wrap(row.ref, data_key), current.id), row.master_id)
        return len(rows)
