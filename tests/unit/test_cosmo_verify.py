"""The offline verifier (tools/cosmo_verify.py) against bundles and trees built here, independently.

The trees come from RFC 9162's recursive definitions (MTH, PATH, PROOF) written out below and are
cross-checked with pymerkle; the bundles are written by hand, field by field, as
docs/audit-bundle.md describes them, so the verifier is tested against the format, not itself.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from tests.verifier import line_values, load_tool

cv = load_tool()

# --- RFC 9162 §2.1, recursively ---------------------------------------------------------------


def split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = split(n)
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    return subproof(m, leaves, True)


# --- A signing log and hand-written events ----------------------------------------------------

ORIGIN = "cosmo.test/audit"
PROPERTY = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
IMAGE = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
OTHER = "99999999-4e5f-4a6b-8c7d-8e9f0a1b2c3d"


def audit(role: str = "manager") -> tuple[dict[str, Any], dict[str, Any]]:
    """An audit context as stored (tagged) and as shown."""
    shown = {
        "actor_id": "17",
        "username": "mara",
        "role": role,
        "organisation": "acme",
        "request_id": "req-1",
        "causation_id": "",
        "client_ip": "192.0.2.7",
        "user_agent": "curl/8 \u00e9t\u00e9",
    }
    stored = {"_type_": "audit_context", "_data_": {**shown, "role": {"_type_": "role", "_data_": role}}}
    return stored, shown


def stored_time(second: int, micro: int) -> tuple[dict[str, Any], str, str]:
    """A timestamp as stored, as shown, and as a leaf spells it."""
    iso = f"2026-11-30T10:00:{second:02d}" + (f".{micro:06d}" if micro else "")
    return (
        {"_type_": "datetime", "_data_": iso + "+00:00"},
        iso + "Z",
        f"2026-11-30T10:00:{second:02d}.{micro:06d}Z",
    )


EVENT_KINDS: list[tuple[str, str, str, Callable[[int], tuple[dict[str, Any], dict[str, Any]]]]] = [
    (
        "cosmo.property.registered",
        "Property",
        "PropertyRegistered",
        lambda n: (
            {
                "name": f"Harbour View {n}",
                "kind": {"_type_": "property_kind", "_data_": "apartment"},
                "address": {
                    "_type_": "address",
                    "_data_": {"street": "1 Quay", "city": "Kiel", "postal_code": "24103", "country": "DE"},
                },
                "rent": {
                    "_type_": "rent",
                    "_data_": {"amount": {"_type_": "decimal", "_data_": "1E+3"}, "currency": "EUR"},
                },
                "organisation": "acme",
            },
            {
                "name": f"Harbour View {n}",
                "kind": "apartment",
                "address": {"street": "1 Quay", "city": "Kiel", "postal_code": "24103", "country": "DE"},
                "rent": {"amount": "1000", "currency": "EUR"},
                "organisation": "acme",
            },
        ),
    ),
    (
        "cosmo.property.image_attached",
        "Property",
        "ImageAttached",
        lambda n: (
            {"image_id": {"_type_": "uuid", "_data_": IMAGE.replace("-", "")}},
            {"image_id": IMAGE},
        ),
    ),
    (
        "cosmo.image.added",
        "PropertyImage",
        "ImageAdded",
        lambda n: (
            {
                "property_id": {"_type_": "uuid", "_data_": PROPERTY.replace("-", "")},
                "caption": "Kitchen",
                "taken_on": {"_type_": "date", "_data_": "2026-11-01"},
                "sizes": [1, 2.5, True, None],
            },
            {
                "property_id": PROPERTY,
                "caption": "Kitchen",
                "taken_on": "2026-11-01",
                "sizes": [1, 2.5, True, None],
            },
        ),
    ),
    (
        "cosmo.property.renamed",
        "Property",
        "PropertyRenamed",
        lambda n: ({"name": f"Renamed \u2603 {n}"}, {"name": f"Renamed \u2603 {n}"}),
    ),
]
AGGREGATE_OF = {
    "cosmo.property.registered": PROPERTY,
    "cosmo.property.image_attached": PROPERTY,
    "cosmo.image.added": IMAGE,
    "cosmo.property.renamed": PROPERTY,
}


def key_hash_of(key: Ed25519PrivateKey) -> bytes:
    public = key.public_key().public_bytes_raw()
    return hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public).digest()[:4]


def vkey_of(key: Ed25519PrivateKey) -> str:
    encoded = base64.b64encode(b"\x01" + key.public_key().public_bytes_raw()).decode()
    return f"{ORIGIN}+{key_hash_of(key).hex()}+{encoded}"


class Log:
    """A log of ``size`` events with checkpoints signed by its own key, able to write bundles."""

    def __init__(self, size: int, *, key: Ed25519PrivateKey | None = None, salt: str = "") -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.events: list[dict[str, Any]] = []
        self.leaves: list[bytes] = []
        versions: dict[str, int] = {}
        for position in range(1, size + 1):
            topic, aggregate_type, type_name, make = EVENT_KINDS[(position - 1) % len(EVENT_KINDS)]
            aggregate_id = AGGREGATE_OF[topic]
            versions[aggregate_id] = versions.get(aggregate_id, 0) + 1
            data_stored, data_shown = make(position)
            audit_stored, audit_shown = audit()
            time_stored, time_shown, time_leaf = stored_time(
                position % 60, 0 if position % 3 else 250 * position
            )
            state = {**data_stored, "timestamp": time_stored, "audit": audit_stored}
            payload = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode() + salt.encode()
            digest = hashlib.sha256(payload).hexdigest()
            actor = f'{{"actor_id":"17","organisation":"acme","role":"{audit_shown["role"]}"}}'
            self.leaves.append(
                b"".join(
                    len(field.encode()).to_bytes(4, "big") + field.encode()
                    for field in (
                        "cosmo-leaf/1",
                        str(position),
                        aggregate_id,
                        str(versions[aggregate_id]),
                        topic,
                        time_leaf,
                        actor,
                        digest,
                    )
                )
            )
            self.events.append(
                {
                    "position": position,
                    "aggregate_id": aggregate_id,
                    "aggregate_type": aggregate_type,
                    "version": versions[aggregate_id],
                    "type": type_name,
                    "timestamp": time_shown,
                    "actor": {"id": "17", "username": "mara", "role": "manager"},
                    "data": data_shown,
                    "metadata": audit_shown,
                    "topic": topic,
                    "payload_sha256": digest,
                    "payload": base64.b64encode(payload).decode(),
                }
            )

    @property
    def vkey(self) -> str:
        return vkey_of(self.key)

    def checkpoint(
        self,
        size: int,
        second: int = 0,
        signers: list[Ed25519PrivateKey] | None = None,
        handover: Ed25519PrivateKey | None = None,
    ) -> str:
        """The signed note of the tree of ``size`` leaves; a handover names the next key in its body."""
        root = base64.b64encode(mth(self.leaves[:size])).decode()
        body = f"{ORIGIN}\n{size}\n{root}\ntime 2026-12-01T00:00:{second:02d}Z\n"
        if handover is not None:
            body += f"handover {vkey_of(handover)}\n"
        lines = [
            f"\u2014 {ORIGIN} " + base64.b64encode(key_hash_of(key) + key.sign(body.encode())).decode() + "\n"
            for key in signers or [self.key]
        ]
        return f"{body}\n" + "".join(lines)

    def bundle(
        self,
        positions: list[int],
        size: int,
        earlier: tuple[int, ...] = (),
        selection: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The bundle as a value to edit: its header line, and its event lines as a list."""
        events = [
            {**self.events[p - 1], "inclusion_proof": [h.hex() for h in path(p - 1, self.leaves[:size])]}
            for p in positions
        ]
        header = {
            "format": "cosmo-audit-bundle/2",
            "selection": selection or {"from": positions[0], "to": positions[-1]},
            "checkpoint": self.checkpoint(size),
            "consistency": [
                {
                    "checkpoint": self.checkpoint(m, second=i + 1),
                    "proof": [h.hex() for h in consistency(m, self.leaves[:size])],
                }
                for i, m in enumerate(earlier)
            ],
            "events": len(events),
        }
        return {"header": header, "events": events}


def encode(bundle: dict[str, Any]) -> bytes:
    """NDJSON as docs/audit-bundle.md has it: the header line, then one line per event."""
    lines = [bundle["header"], *bundle["events"]]
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


def verdict(raw: bytes, vkey: str, kept: str | None = None) -> str:
    """``"OK"`` or the failure message."""
    try:
        cv.verify_bundle(io.BytesIO(raw), [vkey], kept)
    except cv.VerificationFailed as failure:
        return str(failure)
    return "OK"


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(11)


# --- Proof maths ------------------------------------------------------------------------------


def test_roots_match_pymerkle_and_every_proof_verifies_for_small_trees() -> None:
    leaves = [b"leaf %d" % i for i in range(1, 34)]
    reference = InmemoryTree(algorithm="sha256")
    for size in range(1, len(leaves) + 1):
        reference.append_entry(leaves[size - 1])
        root = mth(leaves[:size])
        assert reference.get_root(size) == root
        for index in range(size):
            leaf = cv.leaf_hash(leaves[index])
            assert cv.inclusion_root(index, size, leaf, path(index, leaves[:size])) == root
        for old in range(1, size + 1):
            proof = consistency(old, leaves[:size])
            assert cv.consistency_holds(old, size, mth(leaves[:old]), root, proof)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_any_flipped_bit_of_a_leaf_proof_or_root_fails(size: int, data: st.DataObject) -> None:
    leaves = [b"e%d" % i for i in range(size)]
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    root = mth(leaves)
    proof = path(index, leaves)
    cproof = consistency(old, leaves)
    leaf = cv.leaf_hash(leaves[index])
    old_root = mth(leaves[:old])
    assert cv.inclusion_root(index, size, leaf, proof) == root
    assert cv.consistency_holds(old, size, old_root, root, cproof)

    def flipped(value: bytes) -> bytes:
        bit = data.draw(st.integers(0, len(value) * 8 - 1))
        return bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(value))

    assert cv.inclusion_root(index, size, flipped(leaf), proof) != root
    assert cv.inclusion_root(index, size, leaf, proof) != flipped(root)
    assert not cv.consistency_holds(old, size, flipped(old_root), root, cproof)
    assert not cv.consistency_holds(old, size, old_root, flipped(root), cproof)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        assert (
            cv.inclusion_root(index, size, leaf, [*proof[:which], flipped(proof[which]), *proof[which + 1 :]])
            != root
        )
    if cproof:
        which = data.draw(st.integers(0, len(cproof) - 1))
        broken = [*cproof[:which], flipped(cproof[which]), *cproof[which + 1 :]]
        assert not cv.consistency_holds(old, size, old_root, root, broken)


def test_a_proof_for_another_index_or_size_fails() -> None:
    leaves = [b"x%d" % i for i in range(13)]
    root = mth(leaves)
    proof = path(4, leaves)
    assert cv.inclusion_root(5, 13, cv.leaf_hash(leaves[4]), proof) != root
    assert cv.inclusion_root(4, 14, cv.leaf_hash(leaves[4]), proof) != mth([*leaves, b"more"])
    assert cv.inclusion_root(4, 5, cv.leaf_hash(leaves[4]), proof) is None
    assert cv.inclusion_root(13, 13, cv.leaf_hash(leaves[4]), proof) is None
    assert not cv.consistency_holds(5, 13, mth(leaves[:5]), root, consistency(6, leaves))
    assert cv.consistency_holds(0, 13, mth([]), root, [])
    assert not cv.consistency_holds(0, 13, mth([]), root, [root])
    assert not cv.consistency_holds(0, 13, root, root, [])


# --- Whole bundles ----------------------------------------------------------------------------


def test_a_bundle_of_a_range_with_earlier_checkpoints_verifies(log: Log) -> None:
    raw = encode(log.bundle([3, 4, 5, 6], size=11, earlier=(1, 4, 8, 11)))
    report = cv.verify_bundle(io.BytesIO(raw), [log.vkey])
    assert (report.events, report.earlier_checkpoints, report.checkpoint.size) == (4, 4, 11)
    assert report.selection == "positions 3..6"


def test_a_property_bundle_holds_its_photos_events_and_nothing_else(log: Log) -> None:
    selection = {"property_id": PROPERTY}
    assert verdict(encode(log.bundle(list(range(1, 12)), 11, selection=selection)), log.vkey) == "OK"
    foreign = log.bundle(list(range(1, 5)), 11, selection={"property_id": OTHER})
    assert "neither the property's nor one of its photos'" in verdict(encode(foreign), log.vkey)


def test_a_range_bundle_missing_an_event_of_its_range_fails(log: Log) -> None:
    """As a writer reading a log that lost position 5 writes it: the header counts what was selected."""
    bundle = log.bundle([3, 4, 6], size=11, selection={"from": 3, "to": 6})
    bundle["header"]["events"] = 4
    assert verdict(encode(bundle), log.vkey) == (
        "event at position 6: the events are not exactly the selected positions: position 5 should come here"
    )


def edit(bundle: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> bytes:
    copy = json.loads(json.dumps(bundle))
    change(copy)
    return encode(copy)


def payload_edit(bundle: dict[str, Any]) -> None:
    event = bundle["events"][1]
    state = json.loads(base64.b64decode(event["payload"]))
    state["image_id"]["_data_"] = OTHER.replace("-", "")
    payload = json.dumps(state, separators=(",", ":")).encode()
    event["payload"] = base64.b64encode(payload).decode()
    event["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    event["data"]["image_id"] = OTHER


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "shown data": (lambda b: b["events"][0]["data"].update(name="Forged"), "shown data"),
    "shown metadata": (lambda b: b["events"][0]["metadata"].update(client_ip="10.0.0.1"), "shown metadata"),
    "shown actor": (lambda b: b["events"][0]["actor"].update(username="eve"), "shown actor"),
    "shown timestamp": (lambda b: b["events"][0].update(timestamp="2026-11-30T10:00:02Z"), "shown timestamp"),
    "event type": (lambda b: b["events"][0].update(type="PropertyRenamed"), "shown type"),
    "topic": (
        lambda b: b["events"][3].update(topic="cosmo.property.archived", type="PropertyArchived"),
        "inclusion",
    ),
    "version": (lambda b: b["events"][0].update(version=2), "inclusion"),
    "aggregate id": (lambda b: b["events"][0].update(aggregate_id=OTHER), "inclusion"),
    "position": (lambda b: b["events"][0].update(position=2), "inclusion"),
    "payload and its hash": (payload_edit, "inclusion"),
    "payload hash only": (lambda b: b["events"][0].update(payload_sha256="0" * 64), "payload_sha256"),
    "proof hash": (lambda b: b["events"][2]["inclusion_proof"].__setitem__(0, "1" * 64), "inclusion"),
    "proof dropped": (lambda b: b["events"][2]["inclusion_proof"].pop(), "inclusion"),
    "checkpoint size": (
        lambda b: b["header"].update(checkpoint=b["header"]["checkpoint"].replace("\n11\n", "\n12\n")),
        "signature",
    ),
    "extra field": (lambda b: b["events"][0].update(note="hi"), "exactly the fields"),
    "earlier checkpoint's proof": (
        lambda b: b["header"]["consistency"][0]["proof"].reverse(),
        "not a prefix",
    ),
    "format tag": (lambda b: b["header"].update(format="cosmo-audit-bundle/1"), "format"),
    "extra header field": (lambda b: b["header"].update(note="hi"), "the header (line 1) does not have"),
    "event count": (lambda b: b["header"].update(events=5), "announces 5 event lines for positions 1..4"),
    "event count not a number": (lambda b: b["header"].update(events="4"), "event count"),
    "selection widened": (
        lambda b: b["header"]["selection"].update(to=5),
        "announces 4 event lines for positions 1..5",
    ),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_each_edit_of_a_bundle_fails_naming_what(log: Log, name: str) -> None:
    change, expected = TAMPERING[name]
    bundle = log.bundle([1, 2, 3, 4], size=11, earlier=(2, 7))
    message = verdict(edit(bundle, change), log.vkey)
    assert expected in message


def test_the_failure_names_the_events_position(log: Log) -> None:
    bundle = log.bundle([5, 6, 7], size=11)
    message = verdict(edit(bundle, lambda b: b["events"][1]["data"].update(name="x")), log.vkey)
    assert message.startswith("event at position 6: ")


def test_proofs_swapped_between_two_events_fail(log: Log) -> None:
    bundle = log.bundle([2, 3], size=11)

    def swap(b: dict[str, Any]) -> None:
        first, second = b["events"]
        first["inclusion_proof"], second["inclusion_proof"] = (
            second["inclusion_proof"],
            first["inclusion_proof"],
        )

    assert verdict(edit(bundle, swap), log.vkey).startswith("event at position 2: the inclusion proof")


def test_a_checkpoint_signed_by_another_key_fails(log: Log) -> None:
    impostor = Log(11, key=Ed25519PrivateKey.generate())
    raw = encode(impostor.bundle([1, 2], size=11))
    assert "no signature by a trusted key" in verdict(raw, log.vkey)


# --- Key rotation: handovers -----------------------------------------------------------------

NEW_KEY = Ed25519PrivateKey.generate()


def rotated(log: Log, handover_note: str | None = None, after: str | None = None) -> dict[str, Any]:
    """Events 9 and 10 proven against a checkpoint of 11 by the new key; earlier: 5 by the old key,
    the handover at 8 (by both), 10 by the new key."""
    bundle = log.bundle([9, 10], size=11, earlier=(5, 8, 10))
    notes = [
        log.checkpoint(5, second=1),
        handover_note or log.checkpoint(8, second=2, signers=[log.key, NEW_KEY], handover=NEW_KEY),
        after or log.checkpoint(10, second=3, signers=[NEW_KEY]),
    ]
    for item, note in zip(bundle["header"]["consistency"], notes, strict=True):
        item["checkpoint"] = note
    bundle["header"]["checkpoint"] = log.checkpoint(11, second=4, signers=[NEW_KEY])
    return bundle


def verdict_with(bundle: dict[str, Any], *keys: Ed25519PrivateKey) -> str:
    try:
        cv.verify_bundle(io.BytesIO(encode(bundle)), [vkey_of(key) for key in keys])
    except cv.VerificationFailed as failure:
        return str(failure)
    return "OK"


def test_a_handover_makes_the_next_key_trusted_from_that_checkpoint_on(log: Log) -> None:
    report = cv.verify_bundle(io.BytesIO(encode(rotated(log))), [log.vkey])
    assert [(key.key_hash, size) for key, size in report.handovers] == [(key_hash_of(NEW_KEY), 8)]
    assert f"key {key_hash_of(NEW_KEY).hex()} took over at tree size 8" in report.text()
    assert report.unchecked == 0


def test_with_the_new_key_alone_only_checkpoints_before_its_handover_go_unsigned(log: Log) -> None:
    report = cv.verify_bundle(io.BytesIO(encode(rotated(log))), [vkey_of(NEW_KEY)])
    assert (report.unchecked, report.handovers) == (1, [])
    assert "1 earlier checkpoints predate the handover to your key" in report.text()
    both = cv.verify_bundle(io.BytesIO(encode(rotated(log))), [vkey_of(NEW_KEY), log.vkey])
    assert both.unchecked == 0
    stranger = Ed25519PrivateKey.generate()
    unknown_after = rotated(log, after=log.checkpoint(10, second=3, signers=[stranger]))
    assert verdict_with(unknown_after, NEW_KEY) == (
        "earlier checkpoint #3 carries no signature by a trusted key (given with --key, or handed over to)"
    )


def test_without_the_handover_the_new_keys_checkpoints_fail_with_the_old_key(log: Log) -> None:
    bundle = rotated(log)
    del bundle["header"]["consistency"][1]
    assert verdict_with(bundle, log.key).startswith(
        "earlier checkpoint #2 carries no signature by a trusted key"
    )


def test_a_cosignature_without_a_handover_line_hands_nothing_over(log: Log) -> None:
    """Anyone can append a signature line to a note: only a body the trusted key signed names a key."""
    cosigned = log.checkpoint(8, second=2, signers=[log.key, NEW_KEY])
    message = verdict_with(rotated(log, handover_note=cosigned), log.key)
    assert message.startswith("earlier checkpoint #3 carries no signature by a trusted key")


def test_a_handover_the_named_key_did_not_sign_fails(log: Log) -> None:
    unsigned = log.checkpoint(8, second=2, signers=[log.key], handover=NEW_KEY)
    message = verdict_with(rotated(log, handover_note=unsigned), log.key)
    assert message == "earlier checkpoint #2 hands over to a key that did not sign it"
    forged = rotated(log)
    note = forged["header"]["consistency"][1]["checkpoint"]
    forged["header"]["consistency"][1]["checkpoint"] = (
        note[:-8] + ("A" if note[-8] != "A" else "B") + note[-7:]
    )
    assert "earlier checkpoint #2's signature does not verify" in verdict_with(forged, log.key)


def test_a_handover_line_that_names_no_key_fails(log: Log) -> None:
    good = log.checkpoint(8, second=2, signers=[log.key, NEW_KEY], handover=NEW_KEY)
    garbled = good.replace(f"handover {vkey_of(NEW_KEY)}", "handover not-a-key")
    message = verdict_with(rotated(log, handover_note=garbled), log.key)
    assert message == "earlier checkpoint #2's handover line does not name a verifier key"


def test_a_forged_log_with_its_own_key_does_not_pass_for_ours(log: Log) -> None:
    forged = Log(11, salt=" ")
    raw = encode(forged.bundle([1, 2], size=11))
    assert verdict(raw, forged.vkey) == "OK"
    assert verdict(raw, log.vkey) != "OK"


def test_a_kept_checkpoint_from_before_more_writes_passes(log: Log) -> None:
    raw = encode(log.bundle([9, 10], size=11, earlier=(5, 8)))
    assert verdict(raw, log.vkey, kept=log.checkpoint(8, second=2)) == "OK"
    assert verdict(raw, log.vkey, kept=log.checkpoint(11)) == "OK"


def test_a_witness_file_of_kept_checkpoints_passes_only_if_each_is_a_prefix(log: Log) -> None:
    """As ``audit checkpoint --publish FILE`` appends them: each note, then a blank line."""
    raw = encode(log.bundle([9, 10], size=11, earlier=(5, 8)))
    witness = log.checkpoint(5, second=1) + "\n" + log.checkpoint(8, second=2) + "\n"
    report = cv.verify_bundle(io.BytesIO(raw), [log.vkey], witness)
    assert [kept.size for kept in report.kept] == [5, 8]
    assert "tree size 5) is a prefix" in report.text()
    forked = Log(11, key=log.key, salt=" ")
    message = verdict(raw, log.vkey, witness + forked.checkpoint(8, second=3))
    assert message.startswith("kept #3 (tree size 8) is not a prefix")
    assert verdict(raw, log.vkey, log.checkpoint(8, second=2).rstrip("\n")) == "OK"


def test_a_kept_checkpoint_of_a_forked_log_fails() -> None:
    honest = Log(11)
    forked = Log(11, key=honest.key, salt=" ")
    raw = encode(honest.bundle([9, 10], size=11, earlier=(5, 8)))
    message = verdict(raw, honest.vkey, kept=forked.checkpoint(8))
    assert "the log was rewritten" in message


def test_a_kept_checkpoint_larger_than_the_bundle_tree_fails_as_a_cut_log(log: Log) -> None:
    truncated = encode(log.bundle([1, 2], size=6, earlier=(3,)))
    message = verdict(truncated, log.vkey, kept=log.checkpoint(9))
    assert "no consistency proof from the kept checkpoint's tree size 9" in message


def test_a_kept_checkpoint_signed_by_another_key_fails(log: Log) -> None:
    raw = encode(log.bundle([9, 10], size=11, earlier=(8,)))
    stranger = Log(11, key=Ed25519PrivateKey.generate())
    assert "kept checkpoint" in verdict(raw, log.vkey, kept=stranger.checkpoint(8))


def test_every_single_byte_edit_fails_unless_it_leaves_the_same_json_value() -> None:
    """The proofs bind values, not layout: only an edit that parses to the very same value passes."""
    small = Log(5)
    bundle = small.bundle([2, 3, 4], size=5, earlier=(1, 3))
    raw = encode(bundle)
    original = line_values(raw)
    chooser = random.Random(2026)  # reproducible sampling
    offsets = sorted(set(range(0, len(raw), 7)) | set(chooser.sample(range(len(raw)), 400)))
    passed_with_other_value = []
    for offset, mask in itertools.product(offsets, (0x01, 0x20)):
        mutated = bytearray(raw)
        mutated[offset] ^= mask
        if verdict(bytes(mutated), small.vkey) == "OK":
            same = line_values(bytes(mutated)) == original
            if not same:
                passed_with_other_value.append((offset, raw[offset : offset + 1], mask))
    assert passed_with_other_value == []


def lines_of(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


LINE_EDITS: dict[str, tuple[Callable[[list[bytes]], list[bytes]], str]] = {
    "an event line dropped": (
        lambda ls: [*ls[:2], *ls[3:]],
        "event at position 3: the events are not exactly the selected positions: position 2 should come here",
    ),
    "an event line duplicated": (
        lambda ls: [*ls[:3], ls[2], *ls[3:]],
        "event at position 2: the events are not in strictly increasing position order (it follows 2)",
    ),
    "two event lines swapped": (
        lambda ls: [ls[0], ls[2], ls[1], *ls[3:]],
        "event at position 2: the events are not exactly the selected positions: position 1 should come here",
    ),
    "the last line dropped": (lambda ls: ls[:-1], "the file ends after 3 of the 4 event lines"),
    "the file cut inside the last line": (
        lambda ls: [*ls[:-1], ls[-1][:40]],
        "line 5 does not end with a newline: the file was cut short",
    ),
    "the final newline missing": (lambda ls: [*ls[:-1], ls[-1][:-1]], "line 5 does not end with a newline"),
    "only the header left": (lambda ls: ls[:1], "the file ends after 0 of the 4 event lines"),
    "an empty file": (lambda ls: [], "the file is empty"),
    "a blank line between events": (lambda ls: [*ls[:2], b"\n", *ls[2:]], "line 3 is blank"),
    "a blank line at the end": (lambda ls: [*ls, b"\n"], "line 6 is blank"),
    "a line of spaces": (lambda ls: [*ls[:2], b"  \n", *ls[2:]], "line 3 is blank"),
    "CR LF line ends": (lambda ls: [line[:-1] + b"\r\n" for line in ls], "line 1 ends with CR LF"),
    "an event line more than announced": (
        lambda ls: [*ls, ls[1]],
        "line 6 is an event line more than the 4 its header announces",
    ),
    "the header not first": (lambda ls: [*ls[1:], ls[0]], "the header (line 1) does not have exactly"),
    "two lines on one": (lambda ls: [ls[0], ls[1][:-1] + ls[2], *ls[3:]], "line 2 is not valid UTF-8 JSON"),
    "the header split over lines": (
        lambda ls: [json.dumps(json.loads(ls[0]), indent=1).encode() + b"\n", *ls[1:]],
        "the header (line 1) is not valid UTF-8 JSON",
    ),
    "invalid UTF-8": (lambda ls: [ls[0], ls[1].replace(b"mara", b"m\xffra"), *ls[2:]], "line 2 is not valid"),
    "a repeated key": (
        lambda ls: [ls[0], ls[1].replace(b'{"position": 1,', b'{"position": 1, "position": 1,'), *ls[2:]],
        "line 2 repeats a key in one JSON object",
    ),
    "NaN": (lambda ls: [ls[0], ls[1].replace(b'"version": 1,', b'"version": NaN,'), *ls[2:]], "holds NaN"),
}


@pytest.mark.parametrize("name", list(LINE_EDITS))
def test_each_edit_of_the_lines_fails_naming_what(log: Log, name: str) -> None:
    change, expected = LINE_EDITS[name]
    raw = b"".join(change(lines_of(encode(log.bundle([1, 2, 3, 4], size=11, earlier=(2,))))))
    assert expected in verdict(raw, log.vkey)


def test_a_bundle_of_one_event_verifies(log: Log) -> None:
    raw = encode(log.bundle([7], size=11, earlier=(3,)))
    assert raw.count(b"\n") == 2
    assert verdict(raw, log.vkey) == "OK"


def test_lines_are_checked_as_they_are_read_and_the_first_failure_stops_the_reading(log: Log) -> None:
    """A file is read line by line: the verifier never asks for a line after the one that failed."""
    bundle = log.bundle(list(range(1, 12)), size=11)
    bundle["events"][3]["data"]["name"] = "Forged"
    read: list[int] = []

    def lines() -> Iterator[bytes]:
        for number, line in enumerate(lines_of(encode(bundle)), start=1):
            read.append(number)
            yield line

    with pytest.raises(cv.VerificationFailed, match="event at position 4: the shown data"):
        cv.verify_bundle(lines(), [log.vkey])
    assert read == [1, 2, 3, 4, 5]


def test_a_property_bundle_names_the_first_event_of_an_aggregate_it_never_attached() -> None:
    """A photo's events may come before the property attaches it; one never attached is a stray."""
    small = Log(8)
    bundle = small.bundle([1, 3, 4, 6, 7], size=8, selection={"property_id": PROPERTY})
    assert [event["type"] for event in bundle["events"]][1:4] == [
        "ImageAdded",
        "PropertyRenamed",
        "ImageAttached",
    ]
    assert verdict(encode(bundle), small.vkey) == "OK"
    without_attachment = small.bundle([1, 3, 4, 7], size=8, selection={"property_id": PROPERTY})
    assert verdict(encode(without_attachment), small.vkey) == (
        "event at position 3: the event is neither the property's nor one of its photos'"
    )


def test_the_public_key_must_be_a_well_formed_ed25519_verifier_key(log: Log) -> None:
    raw = encode(log.bundle([1], size=11))
    name, key_hash, key = log.vkey.split("+", 2)
    assert "hash does not match" in verdict(raw, f"{name}+00000000+{key}")
    assert "verifier key" in verdict(raw, "not a key")
    assert "hash does not match" in verdict(raw, f"other.origin+{key_hash}+{key}")


# --- The command line -------------------------------------------------------------------------


def test_the_command_exits_0_1_or_2(log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_file = tmp_path / "bundle.ndjson"
    key_file = tmp_path / "key.txt"
    kept_file = tmp_path / "kept.txt"
    bundle_file.write_bytes(encode(log.bundle([2, 3], size=11, earlier=(4,))))
    key_file.write_text(log.vkey + "\n")
    kept_file.write_text(log.checkpoint(4, second=1))
    assert cv.main([str(bundle_file), "--public-key", str(key_file), "--kept", str(kept_file)]) == 0
    assert "OK: 2 events" in capsys.readouterr().out
    assert cv.main([str(bundle_file), "--public-key", log.vkey, "--kept", log.checkpoint(5)]) == 1
    assert "FAILED: the bundle has no consistency proof" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        cv.main([str(tmp_path / "nowhere.ndjson"), "--public-key", log.vkey])
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as directory:
        cv.main([str(tmp_path), "--public-key", log.vkey])
    assert directory.value.code == 2
    with pytest.raises(SystemExit) as no_key:
        cv.main([str(bundle_file)])
    assert no_key.value.code == 2
    with pytest.raises(SystemExit) as bad_key:
        cv.main([str(bundle_file), "--public-key", "not-a-key"])
    assert bad_key.value.code == 2
    with pytest.raises(SystemExit) as kept_typo:
        cv.main([str(bundle_file), "--public-key", log.vkey, "--kept", str(tmp_path / "kpet.txt")])
    assert kept_typo.value.code == 2
    assert "kpet.txt" in capsys.readouterr().err
