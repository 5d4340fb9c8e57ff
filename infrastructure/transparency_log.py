"""The event log as an RFC 9162 transparency log: proofs from stored nodes, signed checkpoints.

Auditors verify with the public key alone: an inclusion proof shows an event is in the tree a
checkpoint signed, a consistency proof shows a later tree extends an earlier one. Proofs read a
few dozen stored subtree hashes in one query, whatever the size of the log.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from eventsourcing.persistence import ApplicationRecorder

from infrastructure.event_store import AuditFilter, ChainedRecorder, StoredCheckpoint
from infrastructure.merkle import (
    EMPTY_ROOT,
    consistency_ranges,
    inclusion_ranges,
    payload_hash,
    range_hash,
    range_seqs,
)
from infrastructure.signed_note import Checkpoint, InvalidNote, SigningKey, VerifierKey, parse_body

BACKFILL_BATCH = 5000


class OutOfRange(ValueError):
    """A position or size the tree does not have (yet)."""


class NoSigningKey(RuntimeError):
    """Checkpoints need ``COSMO_AUDIT_SIGNING_KEY`` (or ``_FILE``); this process has neither."""


class TransparencyLog:
    """Read side of the Merkle tree the event store writes, and the checkpoints signed over it.

    ``previous_keys`` are the verifier keys of signing keys rotated away from: the checkpoints
    they signed stay genuine.
    """

    def __init__(
        self,
        recorder: ApplicationRecorder,
        signing_key: SigningKey | None,
        origin: str,
        previous_keys: Sequence[VerifierKey] = (),
    ) -> None:
        if not isinstance(recorder, ChainedRecorder):
            raise TypeError(f"{type(recorder).__name__} keeps no Merkle tree")
        self.recorder = recorder
        self.signing_key = signing_key
        self.origin = origin
        self.previous_keys = tuple(previous_keys)

    @property
    def verifier(self) -> VerifierKey:
        if self.signing_key is None:
            raise NoSigningKey("no audit signing key is configured (COSMO_AUDIT_SIGNING_KEY)")
        return self.signing_key.verifier

    @property
    def verifiers(self) -> list[VerifierKey]:
        """Every key whose checkpoints are genuine: the current one first, then the previous ones."""
        current = [] if self.signing_key is None else [self.signing_key.verifier]
        return [*current, *self.previous_keys]

    def size(self) -> int:
        return self.recorder.select_tree_size()

    def _hashes(self, ranges: list[tuple[int, int]], size: int) -> list[bytes]:
        """The hashes of ``ranges`` of the tree of ``size`` leaves, in one query.

        The last leaf comes along: nodes are only ever appended, so when it and every node the
        ranges need are there, the tree has reached ``size``.
        """
        if size == 0:
            return []
        wanted = range_seqs([*ranges, (size - 1, size)])
        nodes = self.recorder.select_nodes(sorted(wanted))
        if len(nodes) != len(wanted):
            raise OutOfRange(f"the tree has fewer than {size} leaves")
        return [range_hash(start, end, nodes.__getitem__) for start, end in ranges]

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        if size < 0:
            raise OutOfRange("a tree size is never negative")
        return self._hashes([(0, size)], size)[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` (position - 1) in the tree of ``size`` leaves."""
        if not 0 <= index < size:
            raise OutOfRange(f"leaf {index} is not in a tree of {size} leaves")
        return self._hashes(inclusion_ranges(index, size), size)

    def inclusion_proofs(self, indexes: list[int], size: int) -> list[list[bytes]]:
        """The inclusion proofs of a batch of leaves, from one read of the nodes: neighbouring
        leaves share most of their proof, and the tree's reach is checked once per batch."""
        if any(not 0 <= index < size for index in indexes):
            raise OutOfRange(f"a leaf of {indexes} is not in a tree of {size} leaves")
        paths = [inclusion_ranges(index, size) for index in indexes]
        hashes = iter(self._hashes([*itertools.chain.from_iterable(paths)], size))
        return [[next(hashes) for _ in path] for path in paths]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        if not 0 <= old_size <= new_size:
            raise OutOfRange(f"no consistency proof from {old_size} to {new_size} leaves")
        return self._hashes(consistency_ranges(old_size, new_size), new_size)

    def leaf_hash(self, index: int) -> bytes:
        return self._hashes([(index, index + 1)], index + 1)[0]

    def payload_hash(self, position: int) -> str:
        """SHA-256 (hex) of the event's stored bytes, as its leaf commits to them."""
        entries = self.recorder.select_entries(position - 1, 1, AuditFilter())
        if not entries or entries[0].link.position != position:
            raise OutOfRange(f"no event at position {position}")
        return payload_hash(bytes(entries[0].event.state))

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint made, oldest first, as signed (read back from the signed text)."""
        return [_checkpoint(row) for row in self.recorder.select_checkpoints()]

    def latest_checkpoint(self) -> Checkpoint | None:
        latest = self.recorder.select_checkpoints(latest_only=True)
        return _checkpoint(latest[0]) if latest else None

    def make_checkpoint(self) -> Checkpoint:
        """Sign the tree as it is now and keep the note; an empty log has a checkpoint too."""
        if self.signing_key is None:
            raise NoSigningKey("no audit signing key is configured (COSMO_AUDIT_SIGNING_KEY)")
        size = self.size()
        made = self.signing_key.sign(size, self.root(size), datetime.now(UTC))
        self._keep(made)
        return made

    def hand_over(self, successor: SigningKey) -> Checkpoint:
        """Sign the tree as it is now with the current key and ``successor``, naming ``successor``
        as the next key, and keep the note: the handover an auditor follows from the old key.

        A checkpoint of the same tree made by a worker in the same second would take its place
        (one row per size and second); the handover is then signed again a second later.
        """
        if self.signing_key is None:
            raise NoSigningKey("no audit signing key is configured (COSMO_AUDIT_SIGNING_KEY)")
        while True:
            size = self.size()
            made = self.signing_key.hand_over(successor, size, self.root(size), datetime.now(UTC))
            if self._keep(made):
                return made
            time.sleep(1)

    def _keep(self, made: Checkpoint) -> bool:
        """Store the note; False when a checkpoint of the same size and second is there already."""
        return self.recorder.insert_checkpoint(
            StoredCheckpoint(made.size, made.time.strftime("%Y-%m-%dT%H:%M:%SZ"), made.root, made.text)
        )

    def checkpoint_if_due(self, every_events: int, every_seconds: float) -> Checkpoint | None:
        """What workers call each round: a checkpoint after N new events or T seconds with any new."""
        if self.signing_key is None:
            return None
        size = self.size()
        latest = self.latest_checkpoint()
        if latest is None:
            first = self.recorder.select_links(0, 1)
            if not first:
                return None
            grown, since = size, first[0].recorded_at  # the first checkpoint: T after the first event
        else:
            grown, since = size - latest.size, latest.time
        age = (datetime.now(UTC) - since).total_seconds()
        if grown >= max(every_events, 1) or (grown > 0 and age >= every_seconds):
            return self.make_checkpoint()
        return None

    def behind(self) -> bool:
        """Whether events recorded before the tree existed still wait for their leaves."""
        head = self.recorder.select_head()
        return head is not None and head.position > self.size()

    def backfill(self, batch: int = BACKFILL_BATCH) -> int:
        """Build the tree for events recorded before it existed; returns the leaves added."""
        added = 0
        while self.behind() and (step := self.recorder.backfill_tree(batch)):
            added += step
        return added

    def keep(self, every_events: int, every_seconds: float) -> None:
        """A worker round's upkeep: one backfill batch when behind, else a checkpoint when due.

        Only a log never checkpointed is backfilled by itself (the migration of a log recorded
        before the tree): once a checkpoint exists, a tree behind its events is evidence that
        someone removed nodes, and extending it is left to an operator (``audit backfill``).
        """
        if not self.behind():
            self.checkpoint_if_due(every_events, every_seconds)
        elif not self.recorder.select_checkpoints(latest_only=True):
            self.recorder.backfill_tree(BACKFILL_BATCH)


def _checkpoint(row: StoredCheckpoint) -> Checkpoint:
    body, _, _ = row.note.partition("\n\n")
    try:
        return parse_body(body + "\n", row.note)
    except InvalidNote:
        # A stored row whose note no longer parses is shown as recorded; verify reports it.
        return Checkpoint("", row.size, row.root, datetime.fromisoformat(row.made_at), row.note)
