"""``audit verify``'s pass over the stored log: chain links, Merkle nodes and checkpoints.

Why it reads raw rows in one loop: verify has to keep pace with a plain read of the log, so each
event is read once, as stored (no transcoding, no domain objects), and both checks run on the
same bytes: the keyed link digest first, then the event's leaf and the subtrees it completes,
each held to the stored node of the same creation number.

Why spans: the log can be cut at any position k and both halves checked at once, because
everything the second half needs from the first (the link digest at k, the frontier of the tree of
k leaves) is stored, and the first half checks exactly those stored values. Put back together,
the spans report what one pass would: the first problem by position. The chain walk stops at its
first bad link; the tree check stops at its first bad node while the walk goes on, because a
later chain problem cannot come before it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256

from infrastructure.audit_chain import GENESIS_DIGEST, ChainKey, Problem, Seal, Verification
from infrastructure.log_leaf import dashed, row_leaf_bytes
from infrastructure.merkle import LEAF_PREFIX, NODE_PREFIX, fold_root
from infrastructure.signed_note import Checkpoint, InvalidNote, VerifierKey, open_note

EventRow = tuple[int, str, int, str, bytes]
"""(notification id, aggregate id as 32 hex digits, version, topic, state)."""
LinkRow = tuple[int, int, str]
"""(position, notification id, digest)."""
Frontier = list[tuple[int, bytes]]
"""(level, hash) of the perfect subtrees tiling a tree, left to right."""


@dataclass(frozen=True)
class SpanStart:
    """Where a span picks up: the position before its first event, that link's digest and event
    (notification id), the tree then."""

    position: int = 0
    digest: str = GENESIS_DIGEST
    frontier: Frontier = field(default_factory=list)
    notification_id: int = 0


@dataclass
class SpanResult:
    """What one span found; ``combine`` puts the spans of a log back together."""

    checked: int = 0
    head_digest: str = GENESIS_DIGEST
    chain_problem: Problem | None = None
    tree_problem: Problem | None = None
    digest_at: dict[int, str] = field(default_factory=dict)
    tree_size: int = 0
    frontier: Frontier = field(default_factory=list)
    checkpoints_checked: int = 0


def check_span(
    key: ChainKey,
    start: SpanStart,
    events: Iterator[EventRow],
    links: Iterator[LinkRow],
    nodes: Iterator[tuple[int, bytes]],
    checkpoints: Sequence[Checkpoint],
    sealed_positions: frozenset[int],
    last: bool,
) -> SpanResult:
    """Walk a span's events and links in step (both ascending), feeding each accepted event to the
    tree check. The last span also owns what lies beyond the log: stored nodes of events that are
    gone, checkpoints larger than the log."""
    result = SpanResult(head_digest=start.digest)
    tree = TreeCheck(nodes, start.position, start.frontier, checkpoints)
    digest = start.digest
    expected_position = start.position + 1
    link_digest, feed = key.row_link_digest, tree.feed  # looked up once: this loop runs per event
    event, link = next(events, None), next(links, None)
    while event is not None or link is not None:
        if (
            event is None
            or link is None
            or link[0] != expected_position
            or event[0] != link[1]
            or link_digest(digest, event[0], event[1], event[2], event[3], event[4]) != link[2]
        ):
            result.chain_problem = _link_problem(key, digest, expected_position, event, link)
            break
        position, digest = link[0], link[2]
        if position in sealed_positions:
            result.digest_at[position] = digest
        feed(position, event)
        expected_position += 1
        event, link = next(events, None), next(links, None)
    result.checked = expected_position - 1 - start.position
    result.head_digest = digest
    result.tree_problem = tree.finish() if last and result.chain_problem is None else tree.problem
    result.tree_size, result.frontier = tree.size, tree.frontier
    result.checkpoints_checked = tree.checkpoints_checked
    return result


def combine(
    spans: Sequence[SpanResult], seals: Sequence[Seal], key: ChainKey, signature_problem: Problem | None
) -> Verification:
    """The spans, in log order, as one pass over the whole log would have reported them."""
    result = Verification()
    digest_at: dict[int, str] = {}
    primary: Problem | None = None
    tree_problem: Problem | None = signature_problem
    tree_span = spans[-1]  # the span whose tree is reported: where the tree or the walk stopped
    for span in spans:
        result.checked += span.checked
        result.checkpoints_checked += span.checkpoints_checked if tree_problem is None else 0
        digest_at.update(span.digest_at)
        if span.checked:
            result.head_digest = span.head_digest
        if tree_problem is None and span.tree_problem is not None:
            tree_problem, tree_span = span.tree_problem, span
        if span.chain_problem is not None:
            primary = span.chain_problem
            tree_span = tree_span if tree_problem is not None else span
            break
    result.head_position = result.checked
    if primary is None:
        primary = _seal_problem(key, sorted(seals, key=lambda seal: seal.position), digest_at, result)
    if primary is None or (tree_problem is not None and tree_problem.position < primary.position):
        primary = tree_problem
    result.first_problem = primary
    result.tree_size = tree_span.tree_size
    result.root = base64.b64encode(fold_root([digest for _, digest in tree_span.frontier])).decode()
    return result


def signature_problem(checkpoints: Sequence[Checkpoint], verifiers: Sequence[VerifierKey]) -> Problem | None:
    """A checkpoint whose note opens with none of ``verifiers`` (the log's current key and the ones
    it rotated away from), or says other than its row. No keys, no signature check."""
    if not verifiers:
        return None
    for checkpoint in checkpoints:
        try:
            opened = open_note(checkpoint.text, verifiers)
        except InvalidNote as error:
            return Problem(checkpoint.size, "forged_checkpoint", f"checkpoint of {checkpoint.size}: {error}")
        if (opened.size, opened.root) != (checkpoint.size, checkpoint.root):
            return Problem(
                checkpoint.size,
                "forged_checkpoint",
                f"checkpoint row of {checkpoint.size} differs from its note",
            )
    return None


def _link_problem(
    key: ChainKey, previous_digest: str, expected_position: int, event: EventRow | None, link: LinkRow | None
) -> Problem:
    """What is wrong with a link and its event that the walk did not accept."""
    if link is None:
        assert event is not None
        return Problem(expected_position, "unchained_event", f"event #{event[0]} has no chain link")
    position, linked_id, digest = link
    if position != expected_position:
        return Problem(expected_position, "missing_link", f"chain jumps to position {position}")
    if event is None or event[0] > linked_id:
        return Problem(position, "missing_event", f"event #{linked_id} is gone")
    notification_id, hex_id, version, topic, state = event
    if notification_id < linked_id:
        return Problem(position, "unchained_event", f"event #{notification_id} was not recorded by Cosmo")
    assert key.row_link_digest(previous_digest, notification_id, hex_id, version, topic, state) != digest
    return Problem(position, "digest_mismatch", f"event #{notification_id} differs from what was recorded")


def _seal_problem(
    key: ChainKey, seals: Sequence[Seal], digest_at: dict[int, str], result: Verification
) -> Problem | None:
    head = result.head_position
    for seal in seals:
        result.seals_checked += 1
        if not key.seal_is_genuine(seal):
            return Problem(
                seal.position, "forged_seal", f"seal at position {seal.position} has a bad signature"
            )
        if seal.position > head:
            return Problem(seal.position, "truncated", f"sealed position {seal.position} is beyond the head")
        if digest_at.get(seal.position) != seal.digest:
            return Problem(seal.position, "seal_mismatch", f"chain at {seal.position} differs from its seal")
    return None


class TreeCheck:
    """Rebuilds the tree leaf by leaf, keeping only its frontier, and compares every node it
    completes with the next stored one; each checkpoint must have the root the rebuilt tree had at
    its size, and one beyond the rebuilt tree means a lost tail."""

    def __init__(
        self,
        stored_nodes: Iterator[tuple[int, bytes]],
        size: int,
        frontier: Frontier,
        checkpoints: Sequence[Checkpoint],
    ) -> None:
        self._nodes = stored_nodes
        self.frontier = list(frontier)
        self.size = size
        self._pending = sorted(checkpoints, key=lambda checkpoint: checkpoint.size)
        self._next_checkpoint = -1
        self.checkpoints_checked = 0
        self.problem: Problem | None = None
        self._check_checkpoints()

    def feed(self, position: int, event: EventRow) -> None:
        if self.problem is not None:
            return
        index = self.size
        digest = sha256(
            LEAF_PREFIX + row_leaf_bytes(position, dashed(event[1]), event[2], event[3], event[4])
        ).digest()
        seq = 2 * index - index.bit_count()
        stack, level = self.frontier, 0
        merged: Frontier = []
        while True:
            stored = next(self._nodes, None)
            if stored is None or stored[0] != seq or stored[1] != digest:
                stack.extend(reversed(merged))  # back to the tree before this event
                self.problem = (
                    Problem(
                        position, "unlogged_event", f"event at position {position} is not in the Merkle tree"
                    )
                    if stored is None
                    else Problem(
                        position,
                        "tree_mismatch",
                        f"event at position {position} (or its tree node {stored[0]})"
                        " differs from what was logged",
                    )
                )
                return
            if not stack or stack[-1][0] != level:
                break
            merged.append(stack.pop())
            digest = sha256(NODE_PREFIX + merged[-1][1] + digest).digest()
            level += 1
            seq += 1
        stack.append((level, digest))
        self.size = index + 1
        if self.size == self._next_checkpoint:
            self._check_checkpoints()

    def finish(self) -> Problem | None:
        if self.problem is None and next(self._nodes, None) is not None:
            position = self.size + 1
            self.problem = Problem(
                position, "missing_event", f"the tree logs an event at {position} that is gone"
            )
        if self.problem is None and self._pending:
            beyond = self._pending[0]
            self.problem = Problem(
                beyond.size,
                "truncated",
                f"a checkpoint of {beyond.size} events is beyond the log's {self.size}",
            )
        return self.problem

    def _check_checkpoints(self) -> None:
        pending = self._pending
        while self.problem is None and pending and pending[0].size <= self.size:
            checkpoint = pending.pop(0)
            self.checkpoints_checked += 1
            if checkpoint.root != fold_root([digest for _, digest in self.frontier]):
                self.problem = Problem(
                    checkpoint.size,
                    "checkpoint_mismatch",
                    f"the log at {checkpoint.size} events differs from its checkpoint"
                    f" of {checkpoint.time:%Y-%m-%dT%H:%M:%SZ}",
                )
        self._next_checkpoint = pending[0].size if pending else -1
