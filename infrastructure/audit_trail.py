"""Verifying and sealing the audit chain of a store, in batches with flat memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from infrastructure.audit_chain import ChainKey, ChainLink, Seal, Verification, walk_chain
from infrastructure.event_store import ChainedRecorder

BATCH_SIZE = 1000


class NotAChainedStore(TypeError):
    pass


def chained(recorder: ApplicationRecorder) -> ChainedRecorder:
    if not isinstance(recorder, ChainedRecorder):
        raise NotAChainedStore(f"{type(recorder).__name__} keeps no audit chain")
    return recorder


def verify(recorder: ApplicationRecorder, key: ChainKey, external_seals: Iterable[Seal] = ()) -> Verification:
    """Recompute the whole chain; seals kept outside the database are checked with the stored ones."""
    store = chained(recorder)
    seals = [*store.select_seals(), *external_seals]
    return walk_chain(key, _events(store), _links(store), seals)


def seal(recorder: ApplicationRecorder, key: ChainKey) -> Seal | None:
    """Sign the current head and keep the seal; None when nothing has been recorded yet."""
    store = chained(recorder)
    head = store.select_head()
    if head is None:
        return None
    made = key.seal(head.position, head.digest, datetime.now(UTC))
    store.insert_seal(made)
    return made


def _events(store: ChainedRecorder) -> Iterator[tuple[int, StoredEvent]]:
    after = 0
    while batch := store.select_notifications(start=after, limit=BATCH_SIZE, inclusive_of_start=False):
        for notification in batch:
            yield notification.id, notification
        after = batch[-1].id


def _links(store: ChainedRecorder) -> Iterator[ChainLink]:
    after = 0
    while batch := store.select_links(after, BATCH_SIZE):
        yield from batch
        after = batch[-1].position
