"""Verifying and sealing the audit chain of a store, in batches with flat memory.

One pass over the events checks both the keyed chain (its links and seals) and the Merkle tree
(its nodes and signed checkpoints); the first problem, by position, is the one reported.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from infrastructure.audit_chain import ChainKey, ChainLink, Seal, Verification, walk_chain
from infrastructure.event_store import ChainedRecorder
from infrastructure.signed_note import Checkpoint, VerifierKey
from infrastructure.transparency_log import TransparencyLog
from infrastructure.tree_check import TreeCheck

BATCH_SIZE = 1000


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
    verifier: VerifierKey | None = None,
) -> Verification:
    """Recompute the whole chain and tree; seals and checkpoints kept outside the database are
    checked with the stored ones (checkpoint signatures with ``verifier``, when there is one)."""
    store = chained(recorder)
    seals = [*store.select_seals(), *external_seals]
    checkpoints = [*TransparencyLog(store, None, "").checkpoints(), *kept_checkpoints]
    tree = TreeCheck(_nodes(store), checkpoints, verifier)

    def events() -> Iterator[tuple[int, StoredEvent]]:
        """The events for the chain walk; each goes into the tree once the walk has accepted it."""
        accepted: StoredEvent | None = None
        for notification_id, stored in _events(store):
            if accepted is not None:
                tree.feed(accepted)
            accepted = stored
            yield notification_id, stored
        if accepted is not None:
            tree.feed(accepted)

    result = walk_chain(key, events(), _links(store), seals)
    if result.first_problem is None:
        result.first_problem = tree.finish()
    elif tree.problem is not None and tree.problem.position < result.first_problem.position:
        result.first_problem = tree.problem
    result.tree_size = tree.size
    result.root = base64.b64encode(tree.root()).decode()
    result.checkpoints_checked = tree.checkpoints_checked
    return result


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


def _nodes(store: ChainedRecorder) -> Iterator[tuple[int, bytes]]:
    after = -1
    while batch := store.select_node_page(after, 2 * BATCH_SIZE):
        yield from batch
        after = batch[-1][0]


def _links(store: ChainedRecorder) -> Iterator[ChainLink]:
    after = 0
    while batch := store.select_links(after, BATCH_SIZE):
        yield from batch
        after = batch[-1].position
