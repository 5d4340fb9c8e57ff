"""Reading the audit stream in chain order, a page or a batch at a time, so memory stays flat.

The service whose store is read is handed in by the entrypoint (a view or a command).
"""

from __future__ import annotations

import fcntl
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import orjson

from api.event_json import row_json, store_transcoder
from domain.service import PropertyService
from infrastructure.audit_trail import chained
from infrastructure.event_store import AuditEntry, AuditFilter, ChainedRecorder, EntryRow
from infrastructure.transcoder import OrjsonTranscoder

BATCH_SIZE = 1000
FORK_MIN_EVENTS = 20_000
"""Fewer events than this per process and forking costs more than it saves (as ``audit verify``)."""
PIPE_BYTES = 1 << 20
"""A worker's pipe holds a whole chunk (1000 events of ~700 B) up to Linux's default pipe-max-size."""


class ExportWorkerFailed(RuntimeError):
    pass


def read_page(service: PropertyService, after: int, limit: int, where: AuditFilter) -> list[AuditEntry]:
    return chained(service.recorder).select_entries(after, limit, where)


def read_batches(service: PropertyService, where: AuditFilter) -> Iterator[list[AuditEntry]]:
    """Every matching entry up to the head as it was when reading began, in batches.

    Stopping at that head makes a long read a snapshot: it ends even while writes go on.
    """
    store = chained(service.recorder)
    last = _head_position(store)
    after = 0
    while batch := [e for e in store.select_entries(after, BATCH_SIZE, where) if e.link.position <= last]:
        yield batch
        after = batch[-1].link.position


def read_row_batches(
    service: PropertyService, where: AuditFilter, hold_connection: bool = False
) -> Iterator[list[EntryRow]]:
    """``read_batches`` as bare rows (position first), for the export.

    Each batch is read as a scan (bytes as stored, no hex text to decode on PostgreSQL). The API
    holds no connection between batches: a slow client of the streamed export must not keep one
    from the pool. ``hold_connection`` reads every batch over one connection instead, as a command
    line may, which shares its pool with nobody: on SQLite opening a connection per batch cost
    ~1 ms of CPU, about a tenth of the export.
    """
    store = chained(service.recorder)
    last = _head_position(store)
    after = 0
    with store.scanning() if hold_connection else nullcontext(None) as held:
        scan_for_batch = store.scanning if held is None else lambda: nullcontext(held)
        while batch := _entry_rows(scan_for_batch, after, where, last):
            yield batch
            after = batch[-1][0]


def _entry_rows(
    scan_for_batch: Callable[[], AbstractContextManager[ChainedRecorder]],
    after: int,
    where: AuditFilter,
    last: int,
) -> list[EntryRow]:
    with scan_for_batch() as scan:
        return [row for row in scan.select_entry_rows(after, BATCH_SIZE, where) if row[0] <= last]


def _head_position(store: ChainedRecorder) -> int:
    head = store.select_head()
    return 0 if head is None else head.position


def ndjson_chunks(
    service: PropertyService, where: AuditFilter, hold_connection: bool = False
) -> Iterator[bytes]:
    """The export: one JSON event per line, one chunk per batch (``read_row_batches``)."""
    transcoder = store_transcoder(service)
    for batch in read_row_batches(service, where, hold_connection):
        yield _ndjson(batch, transcoder)


def forked_ndjson_chunks(service: PropertyService, where: AuditFilter, workers: int) -> Iterator[bytes]:
    """The export of a command line over ``workers`` processes: the same bytes as ``ndjson_chunks``.

    Why: presenting an event (parse, present, encode) costs the export several times what reading
    it does, and a command line may fork, as ``audit verify`` does (a server process never: a fork
    copies its threads and sockets). Positions are gap-free (docs/adr/0009), so the log up to the
    head is cut into ranges of ``BATCH_SIZE`` positions; range i is presented by process
    i mod ``workers`` on a connection of its own, and this process writes the chunks in range
    order, taking the others' from a pipe. A worker waits until its chunk is taken, so every
    process holds one chunk at a time (memory stays flat) while presenting the next one.
    """
    store = chained(service.recorder)
    last = _head_position(store)
    if workers <= 1 or last < FORK_MIN_EVENTS * 2 or not store.readable_elsewhere:
        yield from ndjson_chunks(service, where, hold_connection=True)
        return
    transcoder = store_transcoder(service)
    context = multiprocessing.get_context("fork")
    workers_of: list[tuple[BaseProcess, Connection]] = []
    try:
        for worker in range(1, workers):
            receive, send = context.Pipe(duplex=False)
            _widen(send)
            args = (store, transcoder, where, last, worker, workers, send)
            process = context.Process(target=_export_worker, args=args, daemon=True)
            process.start()
            send.close()
            workers_of.append((process, receive))
        with store.scanning() as scan:
            for index in range(_ranges(last)):
                owner = index % workers
                yield (
                    _range_chunk(scan, transcoder, where, index, last)
                    if owner == 0
                    else _received(*workers_of[owner - 1])
                )
    finally:
        for started, receive in workers_of:  # done by now, unless the reader stopped early
            receive.close()
            started.terminate()
            started.join()


def _widen(pipe: Connection) -> None:
    """Let a whole chunk wait in the pipe (Linux only; the default 64 KiB, ~100 events, otherwise):
    a worker then never waits for the parent in the middle of a chunk. With 64 KiB a 100,000-event
    export made ~500 waits of the worker and ~150 of the parent, each a wake-up to wait for on a
    busy machine; with 1 MiB about 10 and 20."""
    with suppress(AttributeError, OSError):  # no F_SETPIPE_SZ here, or above fs.pipe-max-size
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _ranges(last: int) -> int:
    return -(-last // BATCH_SIZE)


def _range_chunk(
    scan: ChainedRecorder, transcoder: OrjsonTranscoder, where: AuditFilter, index: int, last: int
) -> bytes:
    after = index * BATCH_SIZE
    return _ndjson(
        scan.select_entry_rows(after, BATCH_SIZE, where, min(after + BATCH_SIZE, last)), transcoder
    )


def _export_worker(
    store: ChainedRecorder,
    transcoder: OrjsonTranscoder,
    where: AuditFilter,
    last: int,
    worker: int,
    workers: int,
    send: Connection,
) -> None:
    """Presents its ranges in order, each sent once the parent took the one before. A failure ends
    the process (its traceback on stderr): the parent then finds the pipe closed, and stops."""
    with store.scanning(own_connection=True) as scan:
        # The cipher reads data keys through the store: in this process, over its own connection,
        # never the pool inherited from the parent, whose connections the parent goes on using.
        store._run = scan._run  # type: ignore[method-assign]
        for index in range(worker, _ranges(last), workers):
            send.send_bytes(_range_chunk(scan, transcoder, where, index, last))


def _received(process: BaseProcess, receive: Connection) -> bytes:
    try:
        return receive.recv_bytes()
    except EOFError:
        process.join()
        failed = f"export worker {process.pid} failed (exit code {process.exitcode})"
        raise ExportWorkerFailed(failed) from None


def _ndjson(rows: list[EntryRow], transcoder: OrjsonTranscoder) -> bytes:
    return b"".join(
        [orjson.dumps(row_json(row, transcoder), option=orjson.OPT_APPEND_NEWLINE) for row in rows]
    )
