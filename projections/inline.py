"""Inline projections fed with the events a write has in hand (Marten's "inline" projections).

A write knows exactly which events it recorded and at which positions. When a read model's
live position is right before them, nothing else can be in between (positions are gap-free and
committed in order, ADR 0009), so applying the events in hand gives the same rows as reading them
back from the store, without the reads, the decoding or a transaction per projection.

This runs after every write, so it is written for round trips: one transaction whose first
statement locks the projections' state rows and moves each live tracking row that is right
before the write past it ("claims" it), then the rows, then the commit: four statements for a
registration (ADR 0017), two round trips on PostgreSQL (ADR 0029, 0034). A read model found
anywhere else (behind other writers' events, stalled, or already past) is left for the ordinary
catch-up (``projections.runner``), which reads from the store. The claiming statement is
composed once per database vendor and number of projections.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from projections.models import ProjectionState, ProjectionTracking
from projections.projection import HandlerFailed, Projection
from projections.row_writer import Statements, holding
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
    with _transaction(wait_for_flush) as (opening, held):
        claims = _claim(projections, recorded, opening, held)
        for claim in claims:
            if claim.failed is not None:
                # The catch-up's way to stall: it also puts the claimed position back.
                tracking = ProjectionTracking(
                    pk=claim.pk, name=claim.projection.name, generation=claim.generation
                )
                stalled = apply_events(claim.projection, tracking, claim.events, recorded[-1][0])
                logger.error("projection stalled", extra={"projection": tracking.name, "error": str(stalled)})
        return _behind(projections, claims, recorded[-1][0])


@contextmanager
def _transaction(wait_for_flush: bool) -> Iterator[tuple[str, Statements | None]]:
    """The read-model transaction; yields what the claim's query must open it with, and the list
    where rows written in it may be held to go with its ``COMMIT`` (``None``: sent as written).

    On PostgreSQL outside a transaction, the claim's query itself opens it (``BEGIN``, and the
    setting unless the commit waits for the flush): one round trip where Django's ``atomic``
    took three, since psycopg sends the ``BEGIN`` Django asks for on its own and waits for it, and
    the setting was a statement of its own. The rows held go in the ``COMMIT``'s query (ADR
    0034): a statement that fails there skips the rest of the query, the ``COMMIT`` with it, and
    the transaction is rolled back below. psycopg's connection stays in autocommit (it would send
    that ``BEGIN`` otherwise); Django is told autocommit is off, so an ``atomic`` inside (a
    handler's delete, a stall's savepoint) joins this transaction as it joins any the caller
    opened. Anywhere else, Django's ``atomic``, with the setting as a statement of its own.
    """
    skip_flush = not wait_for_flush and connection.vendor == "postgresql"
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        with transaction.atomic():
            if skip_flush:
                with connection.cursor() as cursor:
                    cursor.execute(COMMIT_WITHOUT_FLUSH)
            yield "", None
        return
    connection.ensure_connection()
    connection.autocommit = False  # Django's view only: the server's transaction is ours to end
    held: Statements = []
    try:
        yield (f"BEGIN; {COMMIT_WITHOUT_FLUSH}" if skip_flush else "BEGIN"), held
        # Bound in the client like the claim's query (one simple-protocol message), so several go at once.
        sql = "; ".join([*(statement for statement, _ in held), "COMMIT"])
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for _, values in held for value in values] if held else None)
    except BaseException:
        connection.needs_rollback = False
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("ROLLBACK")  # a connection lost meanwhile has nothing to roll back
        raise
    finally:
        connection.autocommit = True


@dataclass
class _Claim:
    """A projection claimed for the write: its tracking row, and what applying the events did."""

    projection: Projection
    pk: int
    generation: int
    events: list[tuple[int, Any]]
    failed: HandlerFailed | None = None


def _claim(
    projections: Sequence[Projection],
    recorded: Sequence[tuple[int, Any]],
    opening: str = "",
    held: Statements | None = None,
) -> list[_Claim]:
    """Claim the projections right before ``recorded`` and apply to each the events of its topics.

    ``opening`` (statements without parameters) is sent in the claim's round trip; the rows the
    projections insert or update go to ``held`` if given (for the caller to send with its
    ``COMMIT``). A handler that fails has written nothing (handlers change rows in memory and
    ``finish_batch`` writes them, so the happy path needs no savepoint, and nothing is held across
    one); its failure is kept in the claim for the caller.
    """
    by_name = {projection.name: projection for projection in projections}
    first, last = recorded[0][0], recorded[-1][0]
    rows = _claim_rows(sorted(by_name), first - 1, last, opening)
    claims = []
    for pk, name, generation in rows:
        projection = by_name[name]
        topics = set(projection.topics)
        events = [(position, event) for position, event in recorded if type(event).TOPIC in topics]
        claim = _Claim(projection, pk, generation, events)
        try:
            with holding(held):
                projection.apply(events, generation)
        except HandlerFailed as failed:
            claim.failed = failed
        claims.append(claim)
    return claims


def _claim_rows(names: list[str], before: int, last: int, opening: str) -> list[tuple[int, str, int]]:
    """Lock the named state rows and move each live tracking row at ``before`` to ``last``.

    Returns the moved ones as (tracking id, name, generation), in name order. Only a tracking
    row without an error moves: a stalled projection stays stalled.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql, name_lists = _claim_sql(connection.vendor, len(names))
    with connection.cursor() as cursor:
        # Several statements in one query (Django binds parameters in the client, so it goes as
        # one simple-protocol message, one round trip); the claim's rows are its last result.
        cursor.execute(f"{opening}; {sql}" if opening else sql, [*names * name_lists, last, now, before])
        if connection.vendor == "postgresql":
            while cursor.nextset():
                pass
        return sorted(cursor.fetchall(), key=itemgetter(1))


def _behind(projections: Sequence[Projection], claims: list[_Claim], last: int) -> list[Projection]:
    """Of the projections not claimed, those that have not seen ``last`` (or have no live tracking row)."""
    claimed = {claim.projection.name for claim in claims}
    unclaimed = sorted((p for p in projections if p.name not in claimed), key=lambda p: p.name)
    if not unclaimed:
        return []
    live = ProjectionState.objects.filter(name=OuterRef("name")).values("generation")[:1]
    names = [p.name for p in unclaimed]
    seen = ProjectionTracking.objects.filter(name__in=names, generation=Subquery(live), position__gte=last)
    past = set(seen.values_list("name", flat=True))
    return [p for p in unclaimed if p.name not in past]


@cache
def _claim_sql(vendor: str, count: int) -> tuple[str, int]:
    """The claiming statements for ``count`` projections on ``vendor``, and how many times they
    take the names.

    On PostgreSQL the first statement locks the state rows (``FOR UPDATE``, in name order) and
    the claim follows as a statement of its own, so its snapshot is taken once the locks are
    held. Each state row is thus locked before its tracking row, as ``runner._advance`` locks
    them; a rebuild swap (which locks the state row) and the claim wait for each other, and the
    claim goes to the generation live once it holds the lock. A claim that waited for another
    write's read-model transaction sees the position that one committed, and claims after it:
    inside one statement it would not (the row would not match in the statement's snapshot), and
    the write would be left to the catch-up from the store, as a fifth of the writes of two
    gunicorn workers were. The materialised CTE keeps the state rows locked in the claim itself
    too. On SQLite the transaction itself holds the database's write lock (``BEGIN IMMEDIATE``);
    the statement needs SQLite 3.35 (``UPDATE … FROM``, ``RETURNING``).
    """
    q = connection.ops.quote_name
    state, tracking = q(ProjectionState._meta.db_table), q(ProjectionTracking._meta.db_table)
    name, generation, position, last_error = q("name"), q("generation"), q("position"), q("last_error")
    postgres = vendor == "postgresql"
    lock, materialized = (" FOR UPDATE", " MATERIALIZED") if postgres else ("", "")
    names = ", ".join(["%s"] * count)
    # Names from the models' metadata, quoted by the backend; values always go as parameters.
    live = f"SELECT {name}, {generation} FROM {state} WHERE {name} IN ({names}) ORDER BY {name}{lock}"  # noqa: S608
    claim = (
        f"WITH live AS{materialized} ({live}) "  # noqa: S608
        f"UPDATE {tracking} SET {position} = %s, {last_error} = '', {q('error_position')} = NULL, "
        f"{q('updated_at')} = %s FROM live "
        f"WHERE {tracking}.{name} = live.{name} AND {tracking}.{generation} = live.{generation} "
        f"AND {tracking}.{position} = %s AND {tracking}.{last_error} = '' "
        f"RETURNING {tracking}.{q('id')}, {tracking}.{name}, {tracking}.{generation}"
    )
    return (f"{live}; {claim}", 2) if postgres else (claim, 1)
