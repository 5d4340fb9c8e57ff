"""The HTTP bench analyzes a PostgreSQL database between its writes and its reads (docs/adr/0033)."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from domain.audit import AuditContext
from domain.service import PropertyService
from domain.values import PropertyKind
from projections.registry import all_projections
from projections.runner import catch_up
from tests.conftest import database_url, quay_street
from tools.bench.http_load import refresh_planner_statistics

pytestmark = pytest.mark.skipif(
    "postgresql" not in os.environ.get("DATABASE_URL", ""),
    reason="planner statistics are PostgreSQL's; the bench leaves SQLite as production does",
)


def estimated_rows(table: str) -> float:
    """``pg_class.reltuples``: -1 until the table is first vacuumed or analyzed, then its row count."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        (rows,) = cursor.fetchone()
    return float(rows)


def test_the_read_models_have_statistics_after_the_writes(
    service: PropertyService, alice: AuditContext
) -> None:
    receipts = [
        service.register_property(name=f"Flat {n}", kind=PropertyKind.APARTMENT, address=quay_street())
        for n in range(3)
    ]
    for projection in all_projections():
        catch_up(projection, service)
    logged: list[str] = []

    refresh_planner_statistics(database_url(), logged.append)

    assert estimated_rows("projections_propertylisting") == len(receipts)
    assert len(logged) == 1
    assert "ANALYZE" in logged[0]
