"""Event append throughput through ``PropertyService``, against a raw one-row-per-commit insert.

Why: every change in Cosmo is an event appended by the application service inside an audit
context. A bare ``INSERT`` + ``COMMIT`` of a row of the same size into a plain table, with the
same driver and durability settings, is the ceiling the database itself sets on this machine;
the ratio shows what the aggregate, the transcoder and the recorder (the library's, extended by
Cosmo) cost on top.

The service is built exactly as ``infrastructure.composition`` builds it, from a Django-style
database entry, so the library settings (pool, lock timeout, transcoder) are the production ones.
"""

from __future__ import annotations

import itertools
import os
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from domain.audit import AuditContext, Role, acting_as
from domain.service import PropertyChanges, PropertyService
from domain.values import Address, PropertyKind, Rent
from infrastructure.persistence import event_store_env
from tools.bench import postgres
from tools.bench.results import Row, median

AUDIT_KEY = secrets.token_urlsafe(50)
CONTEXT = AuditContext(
    actor_id="1",
    username="bench-manager",
    role=Role.MANAGER,
    organisation="acme",
    request_id=uuid.UUID(int=0).hex,
    client_ip="127.0.0.1",
    user_agent="cosmo-bench/1.0",
)


def service_env(database: dict[str, Any]) -> dict[str, str]:
    """The library settings ``infrastructure.composition`` derives, with a throwaway audit key."""
    return event_store_env(database, AUDIT_KEY)


def build_service(database: dict[str, Any]) -> PropertyService:
    return PropertyService(env=service_env(database))


@dataclass(frozen=True)
class Settings:
    events: int = 2000
    warmup_events: int = 200
    repeats: int = 3


def _address(i: int) -> Address:
    return Address(street=f"{i} Quay Street", city="Lisbon", postal_code="1100-001", country="PT")


def _rent(i: int) -> Rent:
    return Rent(amount=Decimal(1000 + i % 5000), currency="EUR")


class Workload:
    """The service calls being timed; each returns how many events it appended.

    Updates walk round-robin over every property registered so far, so each save loads a
    short aggregate (a few events) as a real request would.
    """

    def __init__(self, service: PropertyService) -> None:
        self.service = service
        self.ids: list[uuid.UUID] = []
        self.counter = itertools.count()
        self.cursor = itertools.count()

    def _next_id(self) -> uuid.UUID:
        return self.ids[next(self.cursor) % len(self.ids)]

    def register(self, events: int) -> int:
        """``register_property``: one event per save."""
        for _ in range(events):
            i = next(self.counter)
            receipt = self.service.register_property(
                name=f"Harbour View {i}", kind=PropertyKind.APARTMENT, address=_address(i), rent=_rent(i)
            )
            self.ids.append(receipt.id)
        return events

    def rename(self, events: int) -> int:
        """``update_property`` changing the name: load the aggregate, then one event per save."""
        for _ in range(events):
            changes = PropertyChanges(name=f"Harbour View {next(self.counter)}")
            self.service.update_property(self._next_id(), changes, None)
        return events

    def update_all(self, events: int) -> int:
        """``update_property`` changing name, address and rent: three events in one save."""
        saves = max(1, events // 3)
        for _ in range(saves):
            i = next(self.counter)
            changes = PropertyChanges(name=f"Harbour View {i}", address=_address(i), rent=_rent(i))
            self.service.update_property(self._next_id(), changes, None)
        return saves * 3


CASES: list[tuple[str, Callable[[Workload, int], int]]] = [
    ("register_property (1 event/save)", Workload.register),
    ("update_property: rename (load + 1 event/save)", Workload.rename),
    ("update_property: 3 fields (load + 3 events/save)", Workload.update_all),
]


class RawInserter(Protocol):
    label: str

    def insert(self, rows: int) -> int: ...

    def close(self) -> None: ...


class RawSqlite:
    """``BEGIN; INSERT; COMMIT`` per row, in WAL mode with the default ``synchronous`` (as the library)."""

    label = "raw sqlite3 INSERT, 1 row/commit"

    def __init__(self, path: Path, state_bytes: int, topic: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_rows (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB)"
        )
        self.state = os.urandom(state_bytes)
        self.topic = topic

    def insert(self, rows: int) -> int:
        for _ in range(rows):
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT INTO raw_rows (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                (str(uuid.uuid4()), 1, self.topic, self.state),
            )
            self.conn.execute("COMMIT")
        return rows

    def close(self) -> None:
        self.conn.close()


class RawPostgres:
    """One autocommitted ``INSERT`` per row through psycopg (each is its own transaction)."""

    label = "raw psycopg INSERT, 1 row/commit"

    def __init__(self, url: str, state_bytes: int, topic: str) -> None:
        self.conn = postgres.connect(url, autocommit=True)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_rows (id BIGSERIAL PRIMARY KEY,"
            " originator_id UUID, originator_version INTEGER, topic TEXT, state BYTEA)"
        )
        self.state = os.urandom(state_bytes)
        self.topic = topic

    def _params(self) -> tuple[uuid.UUID, int, str, bytes]:
        return uuid.uuid4(), 1, self.topic, self.state

    def insert(self, rows: int) -> int:
        for _ in range(rows):
            self.conn.execute(
                "INSERT INTO raw_rows (originator_id, originator_version, topic, state)"
                " VALUES (%s, %s, %s, %s)",
                self._params(),
            )
        return rows

    def close(self) -> None:
        self.conn.close()


class RawPostgresLocked(RawPostgres):
    """The library recorder's statements by hand: lock, notify, insert, in one pipelined commit.

    Not a ceiling but a diagnostic: it shows how much of the gap to the plain insert the
    table lock and the ``NOTIFY`` explain, before any Python of the library or the domain runs.
    """

    label = "raw psycopg SET lock_timeout + LOCK TABLE + NOTIFY + INSERT, 1 row/commit"

    def insert(self, rows: int) -> int:
        for _ in range(rows):
            with self.conn.pipeline(), self.conn.transaction():
                self.conn.execute("SET LOCAL lock_timeout = '5s'")
                self.conn.execute("LOCK TABLE raw_rows IN EXCLUSIVE MODE")
                self.conn.execute("NOTIFY raw_rows")
                self.conn.execute(
                    "INSERT INTO raw_rows (originator_id, originator_version, topic, state)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    self._params(),
                )
        return rows


def rate_of(action: Callable[[int], int], events: int) -> float:
    """Events (or rows) per second of one call of ``action``, which returns how many it wrote."""
    start = time.perf_counter()
    done = action(events)
    return done / (time.perf_counter() - start)


def _stored_sizes(service: PropertyService) -> tuple[int, str]:
    """Mean state size of the events stored so far, and a typical topic."""
    notifications = service.recorder.select_notifications(start=1, limit=1_000_000)
    states = [len(n.state) for n in notifications]
    return round(sum(states) / len(states)), notifications[0].topic


def _repeat(
    database: str,
    workload: Workload,
    raws: list[RawInserter],
    settings: Settings,
    log: Callable[[str], None],
) -> dict[str, list[float]]:
    """Interleave raw and service runs, so a drift in the machine hits both alike."""
    for raw in raws:
        raw.insert(settings.warmup_events)
    rates: dict[str, list[float]] = {
        label: [] for label in [raw.label for raw in raws] + [n for n, _ in CASES]
    }
    for repeat in range(settings.repeats):
        for raw in raws:
            rates[raw.label].append(rate_of(raw.insert, settings.events))
        for name, case in CASES:
            rates[name].append(rate_of(partial(case, workload), settings.events))
        log(
            f"  {database} event append, repeat {repeat + 1}/{settings.repeats}: "
            + ", ".join(f"{values[-1]:,.0f}/s" for values in rates.values())
        )
    return rates


def measure(
    database: str,
    django_database: dict[str, Any],
    make_raws: Callable[[int, str], list[RawInserter]],
    settings: Settings,
    log: Callable[[str], None],
) -> list[Row]:
    """Warm every case up, then time raw inserts and service cases in turn, ``repeats`` times.

    The first raw inserter is the baseline; any others are diagnostic rows set against it.
    """
    service = build_service(django_database)
    try:
        with acting_as(CONTEXT):
            workload = Workload(service)
            for _, case in CASES:
                case(workload, settings.warmup_events)
            state_bytes, topic = _stored_sizes(service)
            raws = make_raws(state_bytes, topic)
            try:
                rates = _repeat(database, workload, raws, settings, log)
            finally:
                for raw in raws:
                    raw.close()
    finally:
        service.close()
    baseline = raws[0].label
    baseline_rate = median(rates[baseline])
    return [
        Row(
            what=label,
            database=database,
            unit="events/s" if label in dict(CASES) else "rows/s",
            baseline_unit="rows/s",
            rate=median(values),
            baseline=baseline,
            baseline_rate=baseline_rate,
            note=f"event state ~{state_bytes} B" if label in dict(CASES) else "diagnostic",
        )
        for label, values in rates.items()
        if label != baseline
    ]


@contextmanager
def sqlite_files(directory: Path) -> Iterator[tuple[Path, Path]]:
    """Fresh event-store and raw-table files under ``directory``, removed afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    events, raw = directory / "events.sqlite3", directory / "raw.sqlite3"

    def remove() -> None:
        for path in (events, raw):
            for suffix in ("", "-wal", "-shm", "-journal"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)

    remove()
    try:
        yield events, raw
    finally:
        remove()


def measure_sqlite(directory: Path, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    with sqlite_files(directory) as (events, raw):
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(events)}
        return measure("SQLite", database, lambda size, topic: [RawSqlite(raw, size, topic)], settings, log)


def measure_postgres(server_url: str, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    with postgres.throwaway_database(server_url) as url:
        database = postgres.django_database(url)
        return measure(
            "PostgreSQL",
            database,
            lambda size, topic: [RawPostgres(url, size, topic), RawPostgresLocked(url, size, topic)],
            settings,
            log,
        )
