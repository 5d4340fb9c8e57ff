"""Our chained recorders pass the eventsourcing library's own recorder conformance tests.

They run against the database DATABASE_URL names (tables of their own, dropped afterwards), so
the audit chain is proven not to change anything the library promises about inserts, ordering,
notifications, tracking and concurrency.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
)
from psycopg import sql

from infrastructure.audit_chain import ChainKey, ChainLinker
from infrastructure.event_store import ChainedPostgresRecorder, ChainedSQLiteRecorder

DATABASE = settings.DATABASES["default"]
IS_POSTGRES = DATABASE["ENGINE"] == "django.db.backends.postgresql"
TABLES = (
    "conformance_events",
    "conformance_events_chain",
    "conformance_events_seals",
    "conformance_tracking",
    "conformance_events_idempotency",
    "conformance_events_merkle",
    "conformance_events_checkpoints",
)
LINKER = ChainLinker(ChainKey(b"k" * 32))


class ChainedRecorderFixture:
    """Creates a fresh recorder per test, on SQLite (a temp file) or PostgreSQL (own tables)."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._datastores: list[Any] = []
        self._threads_before = set(threading.enumerate())
        self._drop_postgres_tables()

    def tearDown(self) -> None:
        # The library's concurrency tests signal their reader threads to stop but do not join
        # them; closing connections under a still-running SQLite reader would crash the process.
        for thread in (
            set(threading.enumerate()) - self._threads_before - {t for t in threading.enumerate() if t.daemon}
        ):
            thread.join(timeout=30)
        for datastore in self._datastores:
            datastore.close()
        self._drop_postgres_tables()
        self._tmp.cleanup()

    def create_recorder(self) -> Any:
        datastore: PostgresDatastore | SQLiteDatastore
        if IS_POSTGRES:
            datastore = PostgresDatastore(
                dbname=DATABASE["NAME"],
                host=DATABASE["HOST"] or "127.0.0.1",
                port=DATABASE["PORT"] or 5432,
                user=DATABASE["USER"] or "postgres",
                password=DATABASE["PASSWORD"] or "",
                pool_size=4,
                max_overflow=10,
            )
            recorder: Any = ChainedPostgresRecorder(
                datastore,
                events_table_name=TABLES[0],
                tracking_table_name=TABLES[3],
                linker=LINKER,
            )
        else:
            # As the library tests its own recorder: enough connections for every test thread.
            datastore = SQLiteDatastore(str(Path(self._tmp.name) / "conformance.sqlite3"), pool_size=100)
            recorder = ChainedSQLiteRecorder(datastore, LINKER)
        self._datastores.append(datastore)
        recorder.create_table()
        return recorder

    def _drop_postgres_tables(self) -> None:
        if not IS_POSTGRES:
            return
        with psycopg.connect(
            dbname=DATABASE["NAME"], host=DATABASE["HOST"] or "127.0.0.1", user=DATABASE["USER"] or "postgres"
        ) as conn:
            for table in TABLES:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


class TestChainedApplicationRecorder(ChainedRecorderFixture, ApplicationRecorderTestCase[Any]):
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = not IS_POSTGRES


class TestChainedProcessRecorder(ChainedRecorderFixture, ProcessRecorderTestCase):
    pass


class TestChainedNonInterleavingIds(ChainedRecorderFixture, NonInterleavingNotificationIDsBaseCase):
    pass
