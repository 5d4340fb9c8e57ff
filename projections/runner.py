"""Moving projections along the global event stream: live catch-up, rebuild, and status.

Every batch is one transaction that writes the rows and the generation's position together.
Live batches hold the projection's state row lock, so concurrent catch-ups (requests in several
processes, the worker) never apply an event twice, and a rebuild's final swap waits for them.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import psycopg
from django import db
from django.db import connection, transaction
from django.utils import timezone
from eventsourcing import persistence
from eventsourcing.application import Application

from projections.models import ProjectionState, ProjectionTracking
from projections.projection import HandlerFailed, Projection

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
# A rebuild's batches are bigger: fewer transactions, loads and position updates per event, and
# still a bounded few megabytes of decoded events and rows at a time.
REBUILD_BATCH_SIZE = 5000
SWAP_ATTEMPTS = 20
CATCH_UP_WAIT_SECONDS = 5.0
Progress = Callable[[int, int], None]
# The database went away (a restart, a dropped connection, a full pool): worth retrying later.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    db.OperationalError,
    db.InterfaceError,
    persistence.OperationalError,
    persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


class StoreKeptChanging(Exception):
    """A rebuild could not find a quiet moment to swap (or compare) within its attempts."""


class RebuildInterrupted(Exception):
    """A generation being rebuilt was written by someone else (a second rebuild of it)."""


class ProjectionStalled(Exception):
    """A handler failed: the projection stops at that event instead of skipping it."""

    def __init__(self, name: str, position: int, error: str) -> None:
        super().__init__(f"projection {name} stopped at position {position}: {error}")
        self.name = name
        self.position = position
        self.error = error


@dataclass(frozen=True)
class Drift:
    """Rows that differ between the live model and a fresh rebuild, per table."""

    table: str
    only_live: int
    only_rebuilt: int
    examples: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


@dataclass(frozen=True)
class RebuildReport:
    name: str
    generation: int
    events: int
    position: int
    swapped: bool
    drift: list[Drift]


def ensure_state(projection: Projection) -> ProjectionState:
    state, _ = ProjectionState.objects.get_or_create(
        name=projection.name, defaults={"version": projection.version, "generation": 1}
    )
    ProjectionTracking.objects.get_or_create(name=projection.name, generation=state.generation)
    return state


def catch_up(projection: Projection, app: Application[Any], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Apply every new event to the live generation; return how many were applied.

    This runs after every write, so the common case (a batch or two behind) costs one query to
    find the live position and one transaction to apply the batch.
    """
    applied = 0
    while True:
        generation, position, _ = _live(projection)
        count, at_head = _advance(projection, app, generation, batch_size, lock_state=True, position=position)
        applied += count
        if at_head:
            return applied


def catch_up_quietly(
    projections: Iterable[Projection], app: Application[Any], position: int | None = None
) -> None:
    """Bring read models up to ``position`` (a write's) or the head; a failure is logged, not raised.

    The write has already been recorded: failing the request would misreport it (and invite a
    retry that records it twice). A stalled projection keeps its error in its tracking row for
    operators to see; one the database failed (a restart mid-request) is left to the worker.
    """
    for projection in projections:
        try:
            if position is None:
                catch_up(projection, app)
            else:
                catch_up_past(projection, app, position)
        except ProjectionStalled:
            continue
        except DATABASE_UNAVAILABLE as error:
            logger.warning(
                "read model not caught up: database unavailable",
                extra={"projection": projection.name, "position": position, "error": repr(error)},
            )
            if not connection.in_atomic_block:
                connection.close()  # possibly broken: the next query opens a fresh one
            return


def catch_up_past(
    projection: Projection, app: Application[Any], position: int, timeout: float = CATCH_UP_WAIT_SECONDS
) -> None:
    """Make sure the live generation has applied ``position``, without a convoy of writers.

    Concurrent writers do not queue one by one for the projection's lock: whoever holds it
    applies everybody's events in one batch, and the others wait for the position to pass theirs.
    (On SQLite, whose transactions take the database lock anyway, this is plain catch-up.)
    """
    deadline = time.monotonic() + timeout
    while True:
        generation, reached, last_error = _live(projection)
        if reached >= position or last_error:
            return
        count, at_head = _advance(
            projection,
            app,
            generation,
            DEFAULT_BATCH_SIZE,
            lock_state=True,
            position=reached,
            skip_locked=True,
        )
        if count or at_head:
            continue
        if time.monotonic() >= deadline:
            logger.warning("read model still behind a write", extra={"projection": projection.name})
            return
        time.sleep(0.002)


def rebuild(
    projection: Projection,
    app: Application[Any],
    *,
    check: bool = False,
    batch_size: int = REBUILD_BATCH_SIZE,
    progress: Progress | None = None,
    fork: bool = False,
) -> RebuildReport:
    """Replay every event into a new generation, then swap it in atomically (or only compare)."""
    [report] = rebuild_together(
        [projection], app, check=check, batch_size=batch_size, progress=progress, fork=fork
    )
    return report


def rebuild_together(
    projections: Sequence[Projection],
    app: Application[Any],
    *,
    check: bool = False,
    batch_size: int = REBUILD_BATCH_SIZE,
    progress: Progress | None = None,
    fork: bool = False,
) -> list[RebuildReport]:
    """Replay the log once into a new generation of every projection, then swap each in (or compare).

    One pass reads and decodes each event once and hands it to every projection that handles it
    (docs/adr/0015). The API keeps reading the live generations throughout. A generation is
    swapped in only once it has seen at least as much as the live one, so no reader ever goes back
    in time. If anything fails, every new generation not yet swapped in is dropped and its live
    one is untouched. With ``fork`` (a command line's choice, never a server's: a fork copies its
    threads and sockets) a forked process applies a share of the projections (docs/adr/0037).
    """
    live = {p.name: ensure_state(p).generation for p in projections}
    for projection in projections:
        _drop_generations(projection, keep=live[projection.name])
        ProjectionTracking.objects.create(name=projection.name, generation=live[projection.name] + 1)
    events = dict.fromkeys(live, 0)
    reports: dict[str, RebuildReport] = {}
    pending = list(projections)
    try:
        for _ in range(SWAP_ATTEMPTS):
            targets = {p.name: live[p.name] + 1 for p in pending}
            _replay(pending, app, targets, batch_size, events, progress, fork)
            for projection in list(pending):
                report = _swap(projection, app, live[projection.name], events[projection.name], check)
                if report is not None:
                    reports[projection.name] = report
                    pending.remove(projection)
            if not pending:
                break
        else:
            names = ", ".join(p.name for p in pending)
            raise StoreKeptChanging(f"{names}: events kept arriving; run the rebuild again")
    except BaseException:
        for projection in pending:
            _drop_generations(projection, keep=live[projection.name])
        raise
    return [reports[p.name] for p in projections]


def _swap(
    projection: Projection, app: Application[Any], live: int, events: int, check: bool
) -> RebuildReport | None:
    """Swap the rebuilt generation in (or compare it with the live one); None if writes came meanwhile."""
    target = live + 1
    if check:
        catch_up(projection, app)
    with transaction.atomic():
        state = ProjectionState.objects.select_for_update().get(name=projection.name)
        rebuilt, current = _position(projection, target), _position(projection, live)
        if rebuilt < current or (check and rebuilt != current):
            return None  # writes arrived meanwhile: catch up again, then retry the swap
        drift = compare_generations(projection, live, target) if check else []
        if not check:
            state.generation, state.version = target, projection.version
            state.save(update_fields=["generation", "version", "updated_at"])
    _drop_generations(projection, keep=live if check else target)
    return RebuildReport(projection.name, target, events, rebuilt, not check, drift)


def _replay(
    projections: Sequence[Projection],
    app: Application[Any],
    targets: dict[str, int],
    batch_size: int,
    events: dict[str, int],
    progress: Progress | None,
    fork: bool,
) -> None:
    """Bring every target generation to the head in one pass: each batch is read and decoded once.

    The new generations are the rebuild's own, so their positions are kept here between batches
    (see ``_apply_batch``). With ``fork`` and two batches or more to go, a forked process
    applies each batch to a share of the generations (``_share``) while this one applies the rest
    and reads and decodes the next batch (``_Applier``).
    """
    positions = {p.name: _position(p, targets[p.name]) for p in projections}
    head = app.recorder.max_notification_id() or 0
    far = head - min(positions.values()) >= 2 * batch_size
    # Inside a caller's transaction a forked process would not see the new generations' rows.
    forked = _share(projections) if fork and far and not connection.in_atomic_block else []
    here = [p for p in projections if p not in forked]
    applier: _Applier | None = None
    try:
        while True:
            with _collector_paused():
                batch = _read_decoded(projections, app, positions, batch_size)
                if batch is None:
                    break
                mine, count, new_position = batch
                if applier is not None:
                    applier.wait()  # its share of the previous batch is written: the next one may go
                if forked:
                    applier = _Applier(forked, mine, targets, positions, new_position)
                _apply_batch(here, mine, targets, positions, new_position)
                for name, share in mine.items():
                    events[name] += len(share)
                # Everything the batch allocated is freed here (a forked applier has its own copy),
                # before the collector runs again: it never walks a batch's objects.
                del batch, mine
            positions = dict.fromkeys(positions, new_position)
            if progress is not None:
                progress(count, new_position)
        if applier is not None:
            applier.wait()
    finally:
        if applier is not None:  # failing already: the caller drops the generations once it ends
            applier.abandon()


def forks_by_default() -> bool:
    """Whether ``projections rebuild`` forks unless told ``--one-process``: only with a second CPU
    to run the forked applier on (docs/adr/0037)."""
    return len(os.sched_getaffinity(0)) > 1


def _share(projections: Sequence[Projection]) -> list[Projection]:
    """The projections a forked process applies: all but the first (a projection alone too).

    This process also reads and decodes every batch, which costs about as much as applying one
    projection: of the four registered ones (list, detail, dashboard, timeline) it keeps the list,
    and a projection alone is applied by the forked process while this one reads and decodes the
    next batch (docs/adr/0037).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return []
    return list(projections[1:] if len(projections) > 1 else projections)


def _read_decoded(
    projections: Sequence[Projection],
    app: Application[Any],
    positions: dict[str, int],
    batch_size: int,
) -> tuple[dict[str, list[tuple[int, Any]]], int, int] | None:
    """The next batch read and decoded once: each projection's events, how many were read, and the
    position every generation reaches with it; None at the head.

    Events are read outside any transaction, as in ``_advance``.
    """
    topics = {p.name: frozenset(p.topics) for p in projections}
    start = min(positions.values())
    head = app.recorder.max_notification_id() or 0
    if head <= start:
        return None
    # At most ``batch_size`` positions ahead, not up to the head: the read stays one short range
    # whatever the planner knows. On PostgreSQL without statistics (autovacuum off, a store just
    # restored or bulk-loaded) the range up to the head was sorted whole for every batch.
    stop = min(head, start + batch_size)
    notifications = app.recorder.select_notifications(
        start=start,
        limit=batch_size,
        stop=stop,
        topics=sorted(set().union(*topics.values())),
        inclusive_of_start=False,
    )
    new_position = stop if len(notifications) < batch_size else notifications[-1].id
    decoded = [(n.id, n.topic, app.mapper.to_domain_event(n)) for n in notifications]
    mine = {
        name: [(p, event) for p, topic, event in decoded if p > positions[name] and topic in wanted]
        for name, wanted in topics.items()
    }
    return mine, len(notifications), new_position


def _apply_batch(
    projections: Sequence[Projection],
    mine: dict[str, list[tuple[int, Any]]],
    targets: dict[str, int],
    positions: dict[str, int],
    new_position: int,
) -> None:
    """A batch applied to these projections' new generations: their rows and positions written in
    one transaction.

    The rows are loaded and the handlers run first, outside it (``Projection.prepare``): on SQLite a
    transaction holds the one write lock from ``BEGIN``, which the forked applier and this process
    (and the API's writers) then take only while rows are written, not while Python works out what
    to write (docs/adr/0042). Nobody but this rebuild writes its new generations, and each
    generation's position is moved by one conditional UPDATE after its rows: if another process
    wrote that generation meanwhile (a second rebuild of it), the UPDATE finds nothing and the
    batch is rolled back, whatever was loaded. A failing handler needs no savepoint to keep the
    rows before it, as live catch-up does: the whole rebuild stops.
    """
    if not projections:
        return
    for projection in projections:
        events = mine[projection.name]
        try:
            projection.prepare(events, targets[projection.name])
        except HandlerFailed as failed:
            raise ProjectionStalled(projection.name, events[failed.index][0], str(failed)) from failed
    with transaction.atomic():
        for projection in projections:
            name = projection.name
            projection.finish_batch()
            moved = ProjectionTracking.objects.filter(
                name=name, generation=targets[name], position=positions[name]
            ).update(position=new_position, updated_at=timezone.now())
            if not moved:
                raise RebuildInterrupted(f"{name}: its new generation moved under the rebuild")


class RebuildWorkerFailed(Exception):
    """The forked process applying a share of a rebuild's batch failed (its error in the message)."""


class _Applier:
    """A forked process applying one batch to a share of the new generations, over a connection of
    its own; the batch is its copy of this process's memory, so nothing is sent but the outcome.

    Why a fork: reading, decoding and applying a batch all run in Python, one core at a time; the
    machine has more. Why one per batch: a fork costs a few milliseconds against a batch's tenths
    of a second, and the decoded batch needs no pickling. A command line forks, never a server
    process (a fork copies its threads and sockets): ``fork`` is off unless the caller says.
    """

    def __init__(
        self,
        projections: Sequence[Projection],
        mine: dict[str, list[tuple[int, Any]]],
        targets: dict[str, int],
        positions: dict[str, int],
        new_position: int,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self.receive, send = context.Pipe(duplex=False)
        args = (projections, mine, targets, positions, new_position, send)
        self.process = context.Process(target=_apply_forked, args=args, daemon=True)
        self.process.start()
        send.close()
        self.ended = False

    def abandon(self) -> None:
        """Until it ends, whatever its outcome (this process is failing already)."""
        if not self.ended:
            self.ended = True
            self.receive.close()
            self.process.join()

    def wait(self) -> None:
        """Until the batch is written; its failure raised here (a handler's as ``ProjectionStalled``)."""
        try:
            outcome = self.receive.recv()
        except EOFError:
            outcome = ("failed", "it ended without an answer")
        finally:
            self.abandon()
        if outcome is None:
            return
        if outcome[0] == "stalled":
            raise ProjectionStalled(*outcome[1:])
        if outcome[0] == "interrupted":
            raise RebuildInterrupted(outcome[1])
        raise RebuildWorkerFailed(f"rebuild worker {self.process.pid} failed: {outcome[1]}")


# The parent's database connections, as a forked applier found them: kept referenced and never
# used or closed there (closing one would end the parent's session; the process ends by os._exit).
_inherited: list[Any] = []


def _apply_forked(
    projections: Sequence[Projection],
    mine: dict[str, list[tuple[int, Any]]],
    targets: dict[str, int],
    positions: dict[str, int],
    new_position: int,
    send: Connection,
) -> None:
    """In the forked process: the batch on a connection of its own, then the outcome to the parent."""
    for wrapper in db.connections.all(initialized_only=True):
        _inherited.append(wrapper.connection)
        wrapper.connection = None  # the next query opens a new one
    outcome: tuple[Any, ...] | None = None
    try:
        _apply_batch(projections, mine, targets, positions, new_position)
    except ProjectionStalled as stalled:
        outcome = ("stalled", stalled.name, stalled.position, stalled.error)
    except RebuildInterrupted as interrupted:
        outcome = ("interrupted", str(interrupted))
    except Exception as error:  # noqa: BLE001 - whatever it is, the parent stops the rebuild with it
        outcome = ("failed", f"{type(error).__name__}: {error}")
    finally:
        db.connections["default"].close()
    send.send(outcome)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a rebuild batch is decoded and applied.

    A batch allocates tens of thousands of objects (stored and decoded events, rows) that hold no
    reference cycles and die together at its end, freed by reference counting; the collector's
    passes over them while they live found nothing and cost about a tenth of the rebuild. It runs
    again after.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def compare_generations(projection: Projection, live: int, rebuilt: int) -> list[Drift]:
    """Row-by-row comparison done by the database (EXCEPT), so memory stays flat."""
    drift = []
    for model in projection.models:
        columns = [
            f.name for f in model._meta.concrete_fields if not f.primary_key and f.name != "generation"
        ]
        rows = model._default_manager.order_by()
        live_rows = rows.filter(generation=live).values_list(*columns)
        rebuilt_rows = rows.filter(generation=rebuilt).values_list(*columns)
        only_live = live_rows.difference(rebuilt_rows)
        only_rebuilt = rebuilt_rows.difference(live_rows)
        if only_live.exists() or only_rebuilt.exists():
            examples = [("live", tuple(row)) for row in only_live[:3]]
            examples += [("rebuilt", tuple(row)) for row in only_rebuilt[:3]]
            drift.append(Drift(model._meta.db_table, only_live.count(), only_rebuilt.count(), examples))
    return drift


def _advance(
    projection: Projection,
    app: Application[Any],
    generation: int,
    batch_size: int,
    *,
    lock_state: bool = False,
    position: int | None = None,
    skip_locked: bool = False,
) -> tuple[int, bool]:
    """Apply the next batch to ``generation``: (events applied, whether the head was reached).

    Events are read before the transaction opens: on SQLite the transaction holds the database's
    write lock, and an event-store read queued behind a writer waiting for that lock would never
    come back. Inside, the position is checked again, so a batch someone else applied meanwhile
    is simply read again from the new position. With ``lock_state`` (live catch-up) the state
    row is locked too, which serialises live batches with a rebuild's swap.
    """
    while True:
        if position is None:
            position = _position(projection, generation)
        events, new_position, head = _read_batch(projection, app, position, batch_size)
        if new_position == position:
            return 0, True
        with transaction.atomic():
            if lock_state:
                skip = skip_locked and connection.features.has_select_for_update_skip_locked
                state = (
                    ProjectionState.objects.select_for_update(skip_locked=skip)
                    .filter(name=projection.name)
                    .first()
                )
                if state is None:
                    return 0, False  # someone else is applying this batch right now
                if state.generation != generation:
                    return 0, False  # a rebuild was swapped in: the caller starts again on the new one
            tracking = ProjectionTracking.objects.select_for_update().get(
                name=projection.name, generation=generation
            )
            if tracking.position != position:
                position = None
                continue
            stalled = apply_events(projection, tracking, events, new_position)
        if stalled is not None:
            logger.error("projection stalled", extra={"projection": projection.name, "error": str(stalled)})
            raise stalled
        return len(events), new_position == head


def _read_batch(
    projection: Projection, app: Application[Any], position: int, batch_size: int
) -> tuple[list[tuple[int, Any]], int, int]:
    """The next events for ``projection``, the position they take it to, and the head read."""
    head = app.recorder.max_notification_id() or 0
    if head <= position:
        return [], position, head
    notifications = app.recorder.select_notifications(
        start=position, limit=batch_size, stop=head, topics=projection.topics, inclusive_of_start=False
    )
    # Events are committed in position order, so everything up to ``head`` is here or irrelevant.
    new_position = head if len(notifications) < batch_size else notifications[-1].id
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications], new_position, head


def apply_events(
    projection: Projection, tracking: ProjectionTracking, events: list[tuple[int, Any]], new_position: int
) -> ProjectionStalled | None:
    """Write the rows and the position in the caller's transaction; stop at a failing handler."""
    stalled = None
    try:
        with transaction.atomic():
            projection.apply(events, tracking.generation)
    except HandlerFailed as failed:
        projection.apply(events[: failed.index], tracking.generation)
        failing_position = events[failed.index][0]
        new_position = failing_position - 1
        stalled = ProjectionStalled(projection.name, failing_position, str(failed))
    tracking.position = new_position
    tracking.last_error = "" if stalled is None else str(stalled)
    tracking.error_position = None if stalled is None else stalled.position
    tracking.save(update_fields=["position", "last_error", "error_position", "updated_at"])
    return stalled


def _live(projection: Projection) -> tuple[int, int, str]:
    """The live generation, its position and last error, in one query (creating rows the first time)."""
    row = ProjectionTracking.live(projection.name).values_list("generation", "position", "last_error").first()
    if row is None:
        ensure_state(projection)
        return _live(projection)
    return row


def _position(projection: Projection, generation: int) -> int:
    return ProjectionTracking.objects.get(name=projection.name, generation=generation).position


def _drop_generations(projection: Projection, keep: int) -> None:
    for model in projection.models:
        model._default_manager.exclude(generation=keep).delete()
    ProjectionTracking.objects.filter(name=projection.name).exclude(generation=keep).delete()


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    live_version: int
    generation: int
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    last_error: str


def status(projection: Projection, app: Application[Any]) -> ProjectionStatus:
    state = ensure_state(projection)
    tracking = ProjectionTracking.objects.get(name=projection.name, generation=state.generation)
    head = app.recorder.max_notification_id() or 0
    rebuilding = ProjectionTracking.objects.filter(
        name=projection.name, generation__gt=state.generation
    ).exists()
    lag_seconds = 0.0
    if head > tracking.position:
        [oldest] = app.recorder.select_notifications(
            start=tracking.position, limit=1, inclusive_of_start=False
        )
        recorded = app.mapper.to_domain_event(oldest).timestamp  # type: ignore[attr-defined]
        lag_seconds = max(0.0, (datetime.now(UTC) - recorded).total_seconds())
    if tracking.last_error:
        condition = "stalled"
    elif rebuilding:
        condition = "rebuilding"
    elif state.version != projection.version:
        condition = "outdated"
    else:
        condition = "live" if head <= tracking.position else "catching up"
    return ProjectionStatus(
        name=projection.name,
        version=projection.version,
        live_version=state.version,
        generation=state.generation,
        position=tracking.position,
        head=head,
        lag_events=max(0, head - tracking.position),
        lag_seconds=round(lag_seconds, 3),
        state=condition,
        last_error=tracking.last_error,
    )
