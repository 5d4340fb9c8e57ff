"""Event-store wiring: the library's own recorders, configured from Django's database settings.

Events and read models always live in the same database, so one ``DATABASE_URL`` decides both,
and a test database created by the test runner holds the events of that test run too.
"""

from __future__ import annotations

from typing import Any

import psycopg

from infrastructure.event_store import (
    AUDIT_CHAIN_KEY,
    DEFAULT_MAX_EVENT_BYTES,
    MASTER_KEY,
    PREVIOUS_MASTER_KEYS,
)
from infrastructure.mapper import MAX_EVENT_BYTES

TRANSCODER_TOPIC = "infrastructure.transcoder:OrjsonTranscoder"
# Aggregates each process keeps after loading them (the library's LRU cache). A command on a
# cached aggregate reads only the events recorded after the cached version ("fast-forward", the
# library's default) instead of replaying the whole history; docs/adr/0041.
AGGREGATE_CACHE_MAXSIZE = 1000


class UnsupportedDatabase(Exception):
    pass


def event_store_env(
    database: dict[str, Any],
    audit_key: str,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    master_key: str = "",
    previous_master_keys: tuple[str, ...] = (),
) -> dict[str, str]:
    """Translate a Django ``DATABASES`` entry into ``eventsourcing`` settings.

    Without a ``master_key`` personal fields are stored in clear: only benchmarks' baselines and
    tests of the store itself do that; the settings require one (``COSMO_MASTER_KEY``).
    """
    engine = database["ENGINE"]
    env = {
        "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        AUDIT_CHAIN_KEY: audit_key,
        MAX_EVENT_BYTES: str(max_event_bytes),
        MASTER_KEY: master_key,
        PREVIOUS_MASTER_KEYS: ",".join(previous_master_keys),
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_MAXSIZE),
    }
    if engine == "django.db.backends.sqlite3":
        env.update(
            PERSISTENCE_MODULE="infrastructure.event_store:ChainedSQLiteFactory",
            SQLITE_DBNAME=str(database["NAME"]),
            SQLITE_LOCK_TIMEOUT="30",
        )
    elif engine == "django.db.backends.postgresql":
        env.update(
            PERSISTENCE_MODULE="infrastructure.event_store:ChainedPostgresFactory",
            POSTGRES_DBNAME=str(database["NAME"]),
            POSTGRES_HOST=str(database.get("HOST") or "127.0.0.1"),
            POSTGRES_PORT=str(database.get("PORT") or "5432"),
            POSTGRES_USER=str(database.get("USER") or "postgres"),
            POSTGRES_PASSWORD=str(database.get("PASSWORD") or ""),
            POSTGRES_POOL_SIZE="4",
            POSTGRES_MAX_OVERFLOW="8",
            POSTGRES_PRE_PING="y",
            # How long a request waits for a pooled connection while the server is away.
            POSTGRES_CONNECT_TIMEOUT=str(database.get("OPTIONS", {}).get("connect_timeout", 5)),
        )
    else:
        raise UnsupportedDatabase(f"the event store cannot use database engine {engine!r}")
    return env


def own_connection(
    database: dict[str, Any], application_name: str, connect_timeout: int
) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection of its own to a PostgreSQL ``DATABASES`` entry.

    For what must outlive Django's per-request connection handling: a ``LISTEN``, session locks.
    """
    return psycopg.connect(
        dbname=database["NAME"],
        host=database["HOST"] or "127.0.0.1",
        port=database["PORT"] or 5432,
        user=database["USER"] or "postgres",
        password=database["PASSWORD"] or None,
        autocommit=True,
        connect_timeout=connect_timeout,
        application_name=application_name,
    )
