"""Shared fixtures: a fresh event store per test on whichever database DATABASE_URL names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from domain.audit import AuditContext, Role, acting_as
from domain.service import PropertyService
from domain.values import Address, Rent
from infrastructure import composition, metrics
from infrastructure.event_store import (
    chain_table,
    checkpoints_table,
    data_keys_table,
    idempotency_table,
    merkle_table,
    seals_table,
)

EVENT_TABLES = {"sqlite": "stored_events", "postgresql": "cosmo_events"}
TRACKING_TABLES = {"sqlite": "tracking", "postgresql": "cosmo_tracking"}
ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The test database this run created, as a URL another process can open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgresql://{user}@{host}:{port}/{db['NAME']}"


def process_env() -> dict[str, str]:
    """Environment for a Cosmo process (server, worker, writer) on this test run's database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "COSMO_AUDIT_KEY": settings.COSMO_AUDIT_KEY,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "infrastructure.settings",
    }


def wipe_event_store() -> None:
    """Tests share one database; each starts from an empty stream numbered from 1 again."""
    events = EVENT_TABLES[connection.vendor]
    tables = [
        events,
        chain_table(events),
        seals_table(events),
        idempotency_table(events),
        merkle_table(events),
        checkpoints_table(events),
        data_keys_table(events),
    ]  # fixed names
    with connection.cursor() as cursor:
        # The library keeps a schema marker row in its tracking table: leave that one.
        tracking = TRACKING_TABLES[connection.vendor]
        cursor.execute(f"DELETE FROM {tracking} WHERE application_name <> '__migration__'")  # noqa: S608
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608
    composition.data_keys().forget_all()  # keys cached for the data keys just deleted


@pytest.fixture
def service(transactional_db: None) -> Iterator[PropertyService]:
    composition.reset()
    try:
        app = composition.property_service()
        wipe_event_store()
        yield app
    finally:
        composition.reset()


def context_for(username: str, organisation: str = "acme", role: Role = Role.MANAGER) -> AuditContext:
    return AuditContext(
        actor_id=f"id-{username}",
        username=username,
        role=role,
        organisation=organisation,
        request_id=f"req-{username}",
        client_ip="203.0.113.7",
        user_agent="pytest",
    )


@pytest.fixture
def alice() -> Iterator[AuditContext]:
    """A manager of acme, bound for the duration of the test."""
    with acting_as(context_for("alice")) as context:
        yield context


def quay_street() -> Address:
    return Address(street="1 Quay St", city="Lisbon", postal_code="1100-001", country="PT")


def rent(amount: str = "1250.00", currency: str = "EUR") -> Rent:
    return Rent(amount=Decimal(amount), currency=currency)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The metrics files of earlier runs' processes go, as at a server's start (var/ is kept)."""
    metrics.forget_dead_processes()
