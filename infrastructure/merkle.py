"""RFC 9162 Merkle tree maths over the event log: leaf encoding, hashes, proofs, and their checks.

Pure functions, no database: ``infrastructure/transparency_log.py`` stores the nodes these compute
and ``tools/cosmo_verify.py`` re-implements the checks on an auditor's machine. The tree is stored
as its complete (perfect, aligned) subtrees only, each under a sequence number (``node_seq``) that
is the order in which an append-only log creates them, so a stored tree is a table written
strictly at its end, and any subtree hash an RFC 9162 proof needs is a fold of a few stored nodes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

import orjson

LEAF_FORMAT = "cosmo-leaf/1"
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
ACTOR_FIELDS = ("actor_id", "organisation", "role")


def actor_json(actor: Mapping[str, str] | None) -> str:
    """The pseudonymous actor of a leaf: ids and role only; names and addresses stay in the payload."""
    values = {name: str((actor or {}).get(name, "")) for name in ACTOR_FIELDS}
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()


def recorded_time(moment: datetime | str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always six fraction digits (from ISO 8601 text too)."""
    if isinstance(moment, str):
        if len(moment) == 32 and moment.endswith("+00:00") and moment[19] == ".":
            return moment[:26] + "Z"  # what the transcoder stores for UTC: no parsing needed
        moment = datetime.fromisoformat(moment)
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical_uuid(value: UUID | str) -> str:
    return str(value) if isinstance(value, UUID) else str(UUID(value))


def leaf_bytes(
    position: int,
    aggregate_id: UUID | str,
    version: int,
    topic: str,
    recorded_at: datetime | str,
    actor: Mapping[str, str] | None,
    payload_sha256: str,
) -> bytes:
    """The canonical cosmo-leaf/1 encoding: each field length-prefixed, so no two events collide.

    It holds the payload's hash, not the payload: erasing a payload later leaves every proof valid.
    """
    fields = (
        LEAF_FORMAT,
        str(position),
        _canonical_uuid(aggregate_id),
        str(version),
        topic,
        recorded_at if isinstance(recorded_at, str) else recorded_time(recorded_at),
        actor_json(actor),
        payload_sha256,
    )
    encoded = [field.encode() for field in fields]
    return b"".join(struct.pack(">I", len(part)) + part for part in encoded)


def payload_hash(state: bytes) -> str:
    return hashlib.sha256(state).hexdigest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, computed the RFC's recursive way (the reference the stored tree is held to)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = _split(len(leaf_hashes))
    return node_hash(root_from_leaves(leaf_hashes[:k]), root_from_leaves(leaf_hashes[k:]))


# --- which subtrees a proof needs (ranges of leaves [start, end)) ---------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]) as the leaf ranges whose hashes form it, bottom-up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) as leaf ranges, in proof order."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append((lo + k, hi))
            hi = lo + k
        else:
            proof.append((lo, lo + k))
            m -= k
            lo += k
            complete = False
    if not complete:
        proof.append((lo, hi))
    proof.reverse()
    return proof


# --- stored nodes ---------------------------------------------------------------------------------


def node_seq(level: int, index: int) -> int:
    """Where the perfect subtree (level, index) comes in the order an append-only log creates nodes.

    Appending leaf m creates the leaf, then each parent it completes, lowest first; before it,
    2m - popcount(m) nodes exist. A subtree is created with its last leaf.
    """
    last = ((index + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def nodes_for_size(size: int) -> int:
    """How many perfect subtrees a tree of ``size`` leaves has: the stored node count."""
    return 2 * size - size.bit_count()


def size_from_node_count(count: int) -> int:
    """The inverse of ``nodes_for_size``; raises when ``count`` is not a complete tree's."""
    size = count // 2
    while nodes_for_size(size) < count:
        size += 1
    if nodes_for_size(size) != count:
        raise ValueError(f"{count} stored nodes is not a whole tree")
    return size


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The (level, index) subtrees that tile [start, end), left to right, largest aligned first."""
    tiles = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        tiles.append((level, start >> level))
        start += 1 << level
    return tiles


def range_seqs(ranges: Iterable[tuple[int, int]]) -> set[int]:
    """Every stored node that the hashes of ``ranges`` need."""
    return {node_seq(level, index) for start, end in ranges for level, index in perfect_subtrees(start, end)}


def range_hash(start: int, end: int, lookup: Callable[[int], bytes]) -> bytes:
    """MTH(D[start:end]) from stored nodes, for a range an RFC 9162 recursion produces."""
    hashes = [lookup(node_seq(level, index)) for level, index in perfect_subtrees(start, end)]
    if not hashes:
        return EMPTY_ROOT
    folded = hashes[-1]
    for left in reversed(hashes[:-1]):
        folded = node_hash(left, folded)
    return folded


def frontier(size: int) -> list[tuple[int, int]]:
    """The (level, index) subtrees that tile [0, size): what an append needs to know."""
    return perfect_subtrees(0, size)


def frontier_seqs(size: int) -> list[int]:
    """Where the subtrees of ``frontier(size)`` are stored, left to right."""
    return [node_seq(level, index) for level, index in frontier(size)]


class TreeBuilder:
    """Appends leaves left to right keeping only the frontier; says which nodes each append creates."""

    def __init__(self, size: int = 0, frontier_hashes: Sequence[bytes] = ()) -> None:
        self.size = size
        self._stack = [
            (level, digest) for (level, _), digest in zip(frontier(size), frontier_hashes, strict=True)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, bytes]]:
        """The (seq, hash) of the leaf and of every subtree it completes, in creation order."""
        index = self.size
        stack = self._stack
        stack.append((0, leaf))
        created = [(node_seq(0, index), leaf)]
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            level, right = stack.pop()
            _, left = stack.pop()
            parent = node_hash(left, right)
            stack.append((level + 1, parent))
            created.append((node_seq(level + 1, index >> (level + 1)), parent))
        self.size = index + 1
        return created

    def frontier_hashes(self) -> tuple[bytes, ...]:
        """The hashes of ``frontier(self.size)``, left to right: the stack is that frontier."""
        return tuple(digest for _, digest in self._stack)

    def copy(self) -> TreeBuilder:
        duplicate = TreeBuilder()
        duplicate.size, duplicate._stack = self.size, list(self._stack)
        return duplicate

    def root(self) -> bytes:
        return fold_root([digest for _, digest in self._stack])


def fold_root(frontier_hashes: Sequence[bytes]) -> bytes:
    """The root of a tree from the hashes of its frontier subtrees, left to right."""
    if not frontier_hashes:
        return EMPTY_ROOT
    folded = frontier_hashes[-1]
    for left in reversed(frontier_hashes[:-1]):
        folded = node_hash(left, folded)
    return folded


def appended_nodes(
    size: int, frontier_hashes: Sequence[bytes], leaf_hashes: Iterable[bytes]
) -> list[tuple[int, bytes]]:
    """The (seq, hash) of every node created by appending ``leaf_hashes`` to a tree of ``size``.

    ``frontier_hashes`` are the hashes of ``frontier(size)``, left to right; nothing else is read.
    """
    builder = TreeBuilder(size, frontier_hashes)
    return [node for leaf in leaf_hashes for node in builder.append(leaf)]


# --- client-side checks (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (new_size, new_root) extends the tree (old_size, old_root)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(sibling, first)
            second = node_hash(sibling, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == old_root and second == new_root
