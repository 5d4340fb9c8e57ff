"""Which projections a worker keeps up: one PostgreSQL advisory lock per projection.

Workers on several hosts share the images by partition (``--partition K/N``), but each
projection is caught up by one of them at a time: the holder of its session-level advisory lock,
taken with ``pg_try_advisory_lock`` on a connection of the leases' own (Django closes and reopens
its connections at will, which would drop the locks). A worker that does not get a lock skips
that projection and asks again next round; when the holder dies, or its connection does, the
session ends, the lock is free, and another worker takes it within a round.

The locks save work, they do not make catch-up correct: a catch-up holds the projection's state
row lock, so two workers (or a request catching up after its write) never apply an event twice
(``projections.runner``). On SQLite (one host, one file) there are no leases: every worker keeps
every projection up.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from typing import Any

import psycopg

from infrastructure.persistence import own_connection

logger = logging.getLogger(__name__)

# The first key of every projection lock ("Cosm"), so that they cannot meet another user's locks.
LOCK_NAMESPACE = 0x436F_736D
CONNECT_TIMEOUT_SECONDS = 5
TRY_LOCKS = "SELECT key, pg_try_advisory_lock(%s, key) FROM unnest(%s::int4[]) AS key"


def lock_key(name: str) -> int:
    """The projection's second lock key: stable across processes and hosts (not ``hash()``)."""
    return zlib.crc32(name.encode()) & 0x7FFF_FFFF


class ProjectionLeases:
    def __init__(self, database: dict[str, Any], process: str) -> None:
        self.database = database
        self.process = process
        self.held: set[str] = set()
        self._connection: psycopg.Connection[Any] | None = None

    def renew(self, names: Iterable[str]) -> set[str]:
        """Try for every lease not held; return the names newly taken.

        Runs one statement even when every lease is held: a lost connection (and with it every
        lease) shows here, and the next call connects again and starts over.
        """
        if self._connection is None or self._connection.closed:
            self.held.clear()
            self._connection = own_connection(
                self.database, f"cosmo-leases:{self.process}", CONNECT_TIMEOUT_SECONDS
            )
        wanted = {lock_key(name): name for name in names if name not in self.held}
        try:
            rows = self._connection.execute(TRY_LOCKS, (LOCK_NAMESPACE, list(wanted))).fetchall()
        except psycopg.Error:
            self.release()
            raise
        taken = {wanted[key] for key, granted in rows if granted}
        for name in sorted(taken):
            logger.info("projection lease taken", extra={"projection": name, "holder": self.process})
        self.held |= taken
        return taken

    def release(self) -> None:
        """Give every lease back (by ending the session), for another worker to take."""
        self.held.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
