"""The Merkle maths against RFC 6962/9162's published vectors and an independent implementation."""

from __future__ import annotations

import warnings
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from infrastructure.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    appended_nodes,
    consistency_ranges,
    frontier,
    inclusion_ranges,
    leaf_bytes,
    leaf_hash,
    node_seq,
    nodes_for_size,
    range_hash,
    root_from_leaves,
    size_from_node_count,
    verify_consistency,
    verify_inclusion,
)

# The test data of certificate-transparency (RFC 6962 §2.1, the hashing RFC 9162 keeps).
VECTOR_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
VECTOR_CONSISTENCY = {
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
VECTOR_INCLUSION = {
    (0, 8): VECTOR_CONSISTENCY[(1, 8)],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
}


class StoredTree:
    """A tree as the event store keeps it: only the nodes appends create, under their seq."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.nodes = dict(appended_nodes(0, [], leaves))

    def hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return [range_hash(start, end, self.nodes.__getitem__) for start, end in ranges]

    def root(self, size: int) -> bytes:
        return self.hashes([(0, size)])[0] if size else EMPTY_ROOT

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self.hashes(inclusion_ranges(index, size))

    def consistency(self, old: int, new: int) -> list[bytes]:
        return self.hashes(consistency_ranges(old, new))


def leaves_of(count: int) -> list[bytes]:
    return [leaf_hash(f"event {i}".encode()) for i in range(count)]


def flip(digest: bytes, bit: int) -> bytes:
    changed = bytearray(digest)
    changed[bit // 8 % len(changed)] ^= 1 << (bit % 8)
    return bytes(changed)


VECTOR_TREE = StoredTree([leaf_hash(bytes.fromhex(leaf)) for leaf in VECTOR_LEAVES])


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_published_vectors_at_every_size(size: int) -> None:
    assert VECTOR_TREE.root(size).hex() == VECTOR_ROOTS[size - 1]
    assert root_from_leaves(VECTOR_TREE.leaves[:size]).hex() == VECTOR_ROOTS[size - 1]


@pytest.mark.parametrize(("sizes", "expected"), VECTOR_CONSISTENCY.items())
def test_consistency_proofs_match_the_published_vectors(sizes: tuple[int, int], expected: list[str]) -> None:
    old, new = sizes
    proof = VECTOR_TREE.consistency(old, new)
    assert [digest.hex() for digest in proof] == expected
    assert verify_consistency(old, new, VECTOR_TREE.root(old), VECTOR_TREE.root(new), proof)


@pytest.mark.parametrize(("at", "expected"), VECTOR_INCLUSION.items())
def test_inclusion_proofs_match_the_published_vectors(at: tuple[int, int], expected: list[str]) -> None:
    index, size = at
    proof = VECTOR_TREE.inclusion(index, size)
    assert [digest.hex() for digest in proof] == expected
    assert verify_inclusion(VECTOR_TREE.leaves[index], index, size, proof, VECTOR_TREE.root(size))


def test_the_empty_tree_has_the_hash_of_nothing_and_extends_to_any_tree() -> None:
    assert root_from_leaves([]) == TreeBuilder().root() == EMPTY_ROOT
    assert verify_consistency(0, 5, EMPTY_ROOT, StoredTree(leaves_of(5)).root(5), [])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 31, 64, 100])
def test_roots_and_inclusion_paths_agree_with_pymerkle(size: int) -> None:
    entries = [f"entry {i}".encode() for i in range(size)]
    theirs = InmemoryTree(algorithm="sha256")
    for entry in entries:
        theirs.append_entry(entry)
    ours = StoredTree([leaf_hash(entry) for entry in entries])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for prefix in range(1, size + 1):
            assert ours.root(prefix) == theirs.get_state(prefix)
    for index in range(size):
        path = theirs.prove_inclusion(index + 1, size).serialize()["path"]
        assert path[0] == ours.leaves[index].hex()  # pymerkle's path starts with the leaf itself
        assert [digest.hex() for digest in ours.inclusion(index, size)] == path[1:]


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_every_proof_of_a_random_tree_verifies_and_any_flipped_bit_fails(
    size: int, data: st.DataObject
) -> None:
    tree = StoredTree(leaves_of(size))
    root = tree.root(size)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = tree.inclusion(index, size)
    leaf = tree.leaves[index]
    assert verify_inclusion(leaf, index, size, proof, root)
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_inclusion(flip(leaf, bit), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flip(root, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        assert not verify_inclusion(
            leaf, index, size, [*proof[:at], flip(proof[at], bit), *proof[at + 1 :]], root
        )

    old = data.draw(st.integers(1, size), label="old size")
    old_root = tree.root(old)
    consistency = tree.consistency(old, size)
    assert verify_consistency(old, size, old_root, root, consistency)
    assert not verify_consistency(old, size, flip(old_root, bit), root, consistency)
    assert not verify_consistency(old, size, old_root, flip(root, bit), consistency)
    if consistency:
        at = data.draw(st.integers(0, len(consistency) - 1), label="consistency element")
        forged = [*consistency[:at], flip(consistency[at], bit), *consistency[at + 1 :]]
        assert not verify_consistency(old, size, old_root, root, forged)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 200), cut=st.integers(0, 200))
def test_appending_in_any_batches_stores_the_same_nodes_reading_only_the_frontier(
    size: int, cut: int
) -> None:
    cut = min(cut, size)
    leaves = leaves_of(size)
    first = dict(appended_nodes(0, [], leaves[:cut]))
    frontier_hashes = [first[node_seq(level, index)] for level, index in frontier(cut)]
    rest = dict(appended_nodes(cut, frontier_hashes, leaves[cut:]))
    whole = dict(appended_nodes(0, [], leaves))
    assert {**first, **rest} == whole
    assert sorted(whole) == list(range(nodes_for_size(size)))
    assert size_from_node_count(len(whole)) == size


def test_leaf_bytes_length_prefix_each_field_of_cosmo_leaf_1() -> None:
    encoded = leaf_bytes(
        7,
        UUID("90ECDFDC-0A5A-47B2-BC38-8ED421AC29F5"),
        3,
        "cosmo.property.renamed",
        "2026-12-02T00:47:20.018508Z",
        {"role": "manager", "organisation": "acmé", "actor_id": "42"},
        "ab" * 32,
    )
    fields = []
    while encoded:
        length = int.from_bytes(encoded[:4], "big")
        fields.append(encoded[4 : 4 + length].decode())
        encoded = encoded[4 + length :]
    assert fields == [
        "cosmo-leaf/1",
        "7",
        "90ecdfdc-0a5a-47b2-bc38-8ed421ac29f5",
        "3",
        "cosmo.property.renamed",
        "2026-12-02T00:47:20.018508Z",
        '{"actor_id":"42","organisation":"acmé","role":"manager"}',
        "ab" * 32,
    ]
