"""Reading the audit stream in chain order, a page or a batch at a time, so memory stays flat.

The service whose store is read is handed in by the entrypoint (a view or a command).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext

import orjson

from api.event_json import row_json, store_transcoder
from domain.service import PropertyService
from infrastructure.audit_trail import chained
from infrastructure.event_store import AuditEntry, AuditFilter, ChainedRecorder, EntryRow

BATCH_SIZE = 1000


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
        yield b"".join(
            [orjson.dumps(row_json(row, transcoder), option=orjson.OPT_APPEND_NEWLINE) for row in batch]
        )
