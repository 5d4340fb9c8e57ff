"""Inline projections fed with the events a write has in hand (Marten's "inline" projections).

A write knows exactly which events it recorded and at which positions. When a read model's
live position is right before them, nothing else can be in between (positions are gap-free and
committed in order, ADR 0009), so applying the events in hand gives the same rows as reading them
back from the store, without the reads, the decoding or a transaction per projection.

This runs after every write, so it is written for round trips: one transaction whose first
statement locks the projections' state rows and moves each live tracking row that is right
before the write past it ("claims" it), then the rows, then the commit: four statements for a
registration (ADR 0017). A read model found anywhere else (behind other writers' events,
stalled, or already past) is left for the ordinary catch-up (``projections.runner``), which
reads from the store. The claiming statement is composed once per database vendor and number
of projections.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from projections.models import ProjectionState, ProjectionTracking
from projections.projection import HandlerFailed, Projection
from projections.runner import apply_events

logger = logging.getLogger(__name__)
# For this transaction only: its COMMIT returns once written to the WAL, not once flushed.
COMMIT_WITHOUT_FLUSH = "SET LOCAL synchronous_commit = off"


def apply_recorded(
    projections: Sequence[Projection], recorded: Sequence[tuple[int, Any]], *, wait_for_flush: bool = True
) -> list[Projection]:
    """Apply one save's ``(position, event)`` pairs to each projection that is right before them.

    Returns the projections this could not bring past the save, for the caller to catch up
    from the store. A handler that fails stalls its projection exactly as a catch-up would
    (rows before the failing event kept, the error in the tracking row).

    ``wait_for_flush=False`` commits on PostgreSQL without waiting for the WAL to reach the disk
    (ADR 0028): the events are durable before they are in hand, and a crash can only lose this
    transaction whole, rows and position together, which a catch-up applies again from the store.
    """
    if not recorded or not projections:
        return list(projections)
    first, last = recorded[0][0], recorded[-1][0]
    by_name = {projection.name: projection for projection in projections}
    names = sorted(by_name)
    with transaction.atomic():
        if not wait_for_flush and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(COMMIT_WITHOUT_FLUSH)
        claimed = _claim(names, first - 1, last)
        left = _behind([name for name in names if name not in claimed], last)
        for name, (pk, generation) in claimed.items():
            projection = by_name[name]
            topics = set(projection.topics)
            events = [(position, event) for position, event in recorded if type(event).TOPIC in topics]
            try:
                # Handlers change rows in memory and ``finish_batch`` writes them: a handler that
                # raises has written nothing, so no savepoint is needed around the happy path.
                projection.apply(events, generation)
            except HandlerFailed:
                # The catch-up's way to stall: it also puts the claimed position back.
                tracking = ProjectionTracking(pk=pk, name=name, generation=generation)
                stalled = apply_events(projection, tracking, events, last)
                logger.error("projection stalled", extra={"projection": name, "error": str(stalled)})
    return [by_name[name] for name in left]


def _claim(names: list[str], before: int, last: int) -> dict[str, tuple[int, int]]:
    """Lock the named state rows and move each live tracking row at ``before`` to ``last``.

    Returns the moved ones as name -> (tracking id, generation), in name order. Only a tracking
    row without an error moves: a stalled projection stays stalled.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor, len(names)), [*names, last, now, before])
        return {
            name: (pk, generation) for pk, name, generation in sorted(cursor.fetchall(), key=itemgetter(1))
        }


def _behind(names: list[str], last: int) -> list[str]:
    """Of read models not claimed, those that have not seen ``last`` (or have no live tracking row)."""
    if not names:
        return []
    live = ProjectionState.objects.filter(name=OuterRef("name")).values("generation")[:1]
    seen = ProjectionTracking.objects.filter(name__in=names, generation=Subquery(live), position__gte=last)
    past = set(seen.values_list("name", flat=True))
    return [name for name in names if name not in past]


@cache
def _claim_sql(vendor: str, count: int) -> str:
    """The claiming statement for ``count`` projections on ``vendor``.

    On PostgreSQL a materialised CTE locks the state rows (``FOR UPDATE``, in name order), and a
    tracking row can only be moved once its state row has come out of the CTE, locked: each state
    row is locked before its tracking row, as ``runner._advance`` locks them, and the rebuild
    swap (which locks the state row) waits for this transaction. A state row the swap changed
    meanwhile is re-read under the lock, so the claim goes to the generation that is live then.
    On SQLite the transaction itself holds the database's write lock (``BEGIN IMMEDIATE``); the
    statement needs SQLite 3.35 (``UPDATE … FROM``, ``RETURNING``).
    """
    q = connection.ops.quote_name
    state, tracking = q(ProjectionState._meta.db_table), q(ProjectionTracking._meta.db_table)
    name, generation, position, last_error = q("name"), q("generation"), q("position"), q("last_error")
    lock, materialized = (" FOR UPDATE", " MATERIALIZED") if vendor == "postgresql" else ("", "")
    names = ", ".join(["%s"] * count)
    # Names from the models' metadata, quoted by the backend; values always go as parameters.
    return (
        f"WITH live AS{materialized} (SELECT {name}, {generation} FROM {state} "  # noqa: S608
        f"WHERE {name} IN ({names}) ORDER BY {name}{lock}) "
        f"UPDATE {tracking} SET {position} = %s, {last_error} = '', {q('error_position')} = NULL, "
        f"{q('updated_at')} = %s FROM live "
        f"WHERE {tracking}.{name} = live.{name} AND {tracking}.{generation} = live.{generation} "
        f"AND {tracking}.{position} = %s AND {tracking}.{last_error} = '' "
        f"RETURNING {tracking}.{q('id')}, {tracking}.{name}, {tracking}.{generation}"
    )
