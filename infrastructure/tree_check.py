"""``audit verify``'s Merkle half: rebuild the tree from the events and hold the stored one to it.

Fed the events in order (in the same pass that walks the HMAC chain), it recomputes every leaf
and every completed subtree and compares each with the stored node of the same creation number,
so an edited, inserted, deleted, reordered or duplicated event, and an edited node, are found at
the first position they touch. Each checkpoint (stored, or kept by an auditor) must carry a good
signature and the root the rebuilt tree had at its size; one beyond the rebuilt tree means the
log lost its tail.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from eventsourcing.persistence import StoredEvent

from infrastructure.audit_chain import Problem
from infrastructure.log_leaf import event_leaf
from infrastructure.merkle import TreeBuilder
from infrastructure.signed_note import Checkpoint, InvalidNote, VerifierKey


class TreeCheck:
    def __init__(
        self,
        stored_nodes: Iterator[tuple[int, bytes]],
        checkpoints: Sequence[Checkpoint],
        verifier: VerifierKey | None,
    ) -> None:
        self._nodes = stored_nodes
        self._builder = TreeBuilder()
        self._pending = sorted(checkpoints, key=lambda checkpoint: checkpoint.size)
        self.checkpoints_checked = 0
        self.problem: Problem | None = self._check_signatures(checkpoints, verifier)
        self._check_checkpoints()

    @property
    def size(self) -> int:
        return self._builder.size

    def root(self) -> bytes:
        return self._builder.root()

    def feed(self, stored: StoredEvent) -> None:
        if self.problem is not None:
            return
        position = self._builder.size + 1
        before = self._builder.copy()
        for seq, digest in self._builder.append(event_leaf(position, stored)):
            node = next(self._nodes, None)
            if node is None:
                self.problem = Problem(
                    position, "unlogged_event", f"event at position {position} is not in the Merkle tree"
                )
                self._builder = before
                return
            if node != (seq, digest):
                self.problem = Problem(
                    position,
                    "tree_mismatch",
                    f"event at position {position} (or its tree node {node[0]}) differs from what was logged",
                )
                self._builder = before
                return
        self._check_checkpoints()

    def finish(self) -> Problem | None:
        if self.problem is None and next(self._nodes, None) is not None:
            position = self._builder.size + 1
            self.problem = Problem(
                position, "missing_event", f"the tree logs an event at {position} that is gone"
            )
        if self.problem is None and self._pending:
            beyond = self._pending[0]
            self.problem = Problem(
                beyond.size,
                "truncated",
                f"a checkpoint of {beyond.size} events is beyond the log's {self._builder.size}",
            )
        return self.problem

    def _check_checkpoints(self) -> None:
        while self.problem is None and self._pending and self._pending[0].size <= self._builder.size:
            checkpoint = self._pending.pop(0)
            self.checkpoints_checked += 1
            if checkpoint.root != self._builder.root():
                self.problem = Problem(
                    checkpoint.size,
                    "checkpoint_mismatch",
                    f"the log at {checkpoint.size} events differs from its checkpoint"
                    f" of {checkpoint.time:%Y-%m-%dT%H:%M:%SZ}",
                )

    @staticmethod
    def _check_signatures(checkpoints: Sequence[Checkpoint], verifier: VerifierKey | None) -> Problem | None:
        if verifier is None:
            return None
        for checkpoint in checkpoints:
            try:
                opened = verifier.open(checkpoint.text)
            except InvalidNote as error:
                return Problem(
                    checkpoint.size, "forged_checkpoint", f"checkpoint of {checkpoint.size}: {error}"
                )
            if (opened.size, opened.root) != (checkpoint.size, checkpoint.root):
                return Problem(
                    checkpoint.size,
                    "forged_checkpoint",
                    f"checkpoint row of {checkpoint.size} differs from its note",
                )
        return None
