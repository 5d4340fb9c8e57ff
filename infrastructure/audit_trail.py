"""Verifying and sealing the audit chain of a store, in batches with flat memory.

One pass over the events checks both the keyed chain (its links and seals) and the Merkle tree
(its nodes and signed checkpoints); the first problem, by position, is the one reported.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from eventsourcing.persistence import ApplicationRecorder

from infrastructure.audit_chain import ChainKey, Seal, Verification
from infrastructure.event_store import NO_BOUND, ChainedRecorder
from infrastructure.log_check import (
    EventRow,
    LinkRow,
    SpanResult,
    SpanStart,
    check_span,
    combine,
    signature_problem,
)
from infrastructure.merkle import frontier, node_seq, nodes_for_size
from infrastructure.signed_note import Checkpoint, VerifierKey
from infrastructure.transparency_log import TransparencyLog

BATCH_SIZE = 1000
MIN_SPAN = 20_000
"""Fewer events than this per span and a fork costs more than it saves."""


class VerifyWorkerFailed(RuntimeError):
    pass


class NotAChainedStore(TypeError):
    pass


def chained(recorder: ApplicationRecorder) -> ChainedRecorder:
    if not isinstance(recorder, ChainedRecorder):
        raise NotAChainedStore(f"{type(recorder).__name__} keeps no audit chain")
    return recorder


def verify(
    recorder: ApplicationRecorder,
    key: ChainKey,
    external_seals: Iterable[Seal] = (),
    kept_checkpoints: Iterable[Checkpoint] = (),
    verifiers: Sequence[VerifierKey] = (),
    workers: int = 1,
    min_span: int = MIN_SPAN,
) -> Verification:
    """Recompute the whole chain and tree; seals and checkpoints kept outside the database are
    checked with the stored ones (checkpoint signatures with ``verifiers``, when there are any).

    With ``workers`` > 1 the log is cut into that many spans, checked at once in forked processes
    (each on a database connection of its own); only a command line should ask for that, never a
    server process, whose threads and sockets a fork would copy.
    """
    store = chained(recorder)
    seals = [*store.select_seals(), *external_seals]
    checkpoints = [*TransparencyLog(store, None, "").checkpoints(), *kept_checkpoints]
    sealed = frozenset(seal.position for seal in seals)
    starts = _span_starts(store, workers, min_span)
    ends: list[SpanStart | None] = [*starts[1:], None]
    tasks = [
        _SpanTask(
            start,
            end,
            [
                c
                for c in checkpoints
                if (start is starts[0] or c.size > start.position) and (end is None or c.size <= end.position)
            ],
            sealed,
        )
        for start, end in zip(starts, ends, strict=True)
    ]
    spans = _check_spans(store, key, tasks)
    return combine(spans, seals, key, signature_problem(checkpoints, verifiers))


@dataclass(frozen=True)
class _SpanTask:
    start: SpanStart
    end: SpanStart | None
    """The next span's start; None for the last span, which reads to the end of the log."""
    checkpoints: list[Checkpoint]
    sealed: frozenset[int]


def _span_starts(store: ChainedRecorder, workers: int, min_span: int) -> list[SpanStart]:
    """Where each span starts: spans of equal size, or one span when the log is small, lives in
    memory, or has a tree behind its chain (whose frontiers are not all stored yet)."""
    head = store.select_head()
    size = head.position if head is not None else 0
    if workers <= 1 or size < min_span * 2 or not store.readable_elsewhere or store.select_tree_size() < size:
        return [SpanStart()]
    count = min(workers, size // min_span)
    starts = [SpanStart()]
    for position in (size * i // count for i in range(1, count)):
        wanted = [node_seq(level, index) for level, index in frontier(position)]
        found = store.select_nodes(wanted)
        link = store.select_link_rows(position - 1, 1)
        if len(found) != len(wanted) or not link or link[0][0] != position:
            return [SpanStart()]  # a damaged log: let one pass find and report where
        levels = [level for level, _ in frontier(position)]
        starts.append(
            SpanStart(
                position,
                link[0][2],
                [(lv, found[seq]) for lv, seq in zip(levels, wanted, strict=True)],
                notification_id=link[0][1],
            )
        )
    return starts


def _check_spans(store: ChainedRecorder, key: ChainKey, tasks: list[_SpanTask]) -> list[SpanResult]:
    """Every span but the last in a forked process of its own, the last one here meanwhile."""
    context = multiprocessing.get_context("fork")
    running = []
    for task in tasks[:-1]:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_span_worker, args=(store, key, task, send), daemon=True)
        process.start()
        send.close()
        running.append((process, receive))
    last = _check(store, key, tasks[-1])
    results = []
    for process, receive in running:
        try:
            outcome = receive.recv()
        except EOFError:
            outcome = VerifyWorkerFailed(f"verify worker {process.pid} died")
        process.join()
        if isinstance(outcome, Exception):
            raise VerifyWorkerFailed(f"a verify worker failed: {outcome}") from outcome
        results.append(outcome)
    return [*results, last]


def _span_worker(store: ChainedRecorder, key: ChainKey, task: _SpanTask, send: Connection) -> None:
    try:
        send.send(_check(store, key, task, own_connection=True))
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        send.send(VerifyWorkerFailed(repr(error)))


def _check(
    store: ChainedRecorder, key: ChainKey, task: _SpanTask, own_connection: bool = False
) -> SpanResult:
    """One span: the events, links and nodes after its start, up to the next span's start, read
    over one connection (a forked worker's own)."""
    start, end = task.start, task.end
    with store.scanning(own_connection) as scan:
        events = _events(scan, start.notification_id, end.notification_id if end else NO_BOUND)
        links = _links(scan, start.position, end.position if end else NO_BOUND)
        nodes_upto = nodes_for_size(end.position) - 1 if end else NO_BOUND
        nodes = _nodes(scan, nodes_for_size(start.position) - 1, nodes_upto)
        return check_span(key, start, events, links, nodes, task.checkpoints, task.sealed, end is None)


def seal(recorder: ApplicationRecorder, key: ChainKey) -> Seal | None:
    """Sign the current head and keep the seal; None when nothing has been recorded yet."""
    store = chained(recorder)
    head = store.select_head()
    if head is None:
        return None
    made = key.seal(head.position, head.digest, datetime.now(UTC))
    store.insert_seal(made)
    return made


def _events(store: ChainedRecorder, after: int, upto: int) -> Iterator[EventRow]:
    while batch := store.select_event_rows(after, BATCH_SIZE, upto):
        yield from batch
        after = batch[-1][0]


def _nodes(store: ChainedRecorder, after: int, upto: int) -> Iterator[tuple[int, bytes]]:
    while batch := store.select_node_page(after, 2 * BATCH_SIZE, upto):
        yield from batch
        after = batch[-1][0]


def _links(store: ChainedRecorder, after: int, upto: int) -> Iterator[LinkRow]:
    while batch := store.select_link_rows(after, BATCH_SIZE, upto):
        yield from batch
        after = batch[-1][0]
