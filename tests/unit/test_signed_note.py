"""Checkpoints in the C2SP signed-note format: what they say, who signed them, and forgeries."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from infrastructure.log_leaf import event_leaf_bytes
from infrastructure.merkle import leaf_bytes, payload_hash
from infrastructure.signed_note import (
    EM_DASH,
    InvalidNote,
    InvalidSigningKey,
    SigningKey,
    UnsignedNote,
    VerifierKey,
    open_note,
    split_notes,
)

ORIGIN = "cosmo.local/audit"
KEY = SigningKey.from_text(ORIGIN, base64.b64encode(b"k" * 32).decode())
ROOT = hashlib.sha256(b"root").digest()
WHEN = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)


def test_a_checkpoint_is_the_c2sp_body_a_blank_line_and_one_signature_line() -> None:
    made = KEY.sign(42, ROOT, WHEN)
    body, signature = made.text.split("\n\n")
    assert body + "\n" == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\ntime 2026-12-02T01:02:03Z\n"
    assert signature.startswith(f"{EM_DASH} {ORIGIN} ")
    assert signature.endswith("\n")
    blob = base64.b64decode(signature.split(" ")[2])
    assert blob[:4] == KEY.verifier.hash
    assert len(blob) == 68
    assert (made.size, made.root, made.time) == (42, ROOT, WHEN.replace(microsecond=0))


def test_the_verifier_key_is_a_c2sp_vkey_whose_hash_binds_name_and_key() -> None:
    name, key_hash, encoded = KEY.verifier.vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert name == ORIGIN
    assert raw[0] == 0x01
    assert len(raw) == 33
    assert key_hash == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw[1:]).digest()[:4].hex()
    assert VerifierKey.parse(KEY.verifier.vkey).open(KEY.sign(1, ROOT, WHEN).text).size == 1
    with pytest.raises(InvalidNote):
        VerifierKey.parse(f"other.example+{key_hash}+{encoded}")


def test_a_pem_key_signs_like_its_seed() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private = Ed25519PrivateKey.from_private_bytes(b"k" * 32)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    assert SigningKey.from_text(ORIGIN, pem).verifier.vkey == KEY.verifier.vkey


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    other = SigningKey.from_text(ORIGIN, base64.b64encode(b"o" * 32).decode())
    with pytest.raises(InvalidNote, match="no signature"):
        KEY.verifier.open(other.sign(42, ROOT, WHEN).text)


@settings(max_examples=80, deadline=None)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_flipping_any_bit_of_a_signed_checkpoint_fails_its_check(position: int, bit: int) -> None:
    text = KEY.sign(42, ROOT, WHEN).text.encode()
    changed = bytearray(text)
    changed[position % len(text)] ^= 1 << bit
    try:
        forged = changed.decode()
    except UnicodeDecodeError:
        return  # not text any more: no verifier would read it
    with pytest.raises(InvalidNote):
        KEY.verifier.open(forged)


NEXT = SigningKey.from_text(ORIGIN, base64.b64encode(b"n" * 32).decode())


def test_a_handover_names_the_next_key_in_its_body_and_both_keys_sign_it() -> None:
    made = KEY.hand_over(NEXT, 42, ROOT, WHEN)
    body, signatures = made.text.split("\n\n")
    assert body.endswith(f"\ntime 2026-12-02T01:02:03Z\nhandover {NEXT.verifier.vkey}")
    assert [base64.b64decode(line.split(" ")[2])[:4] for line in signatures.splitlines()] == [
        KEY.verifier.hash,
        NEXT.verifier.hash,
    ]
    assert KEY.verifier.open(made.text) == NEXT.verifier.open(made.text) == made
    assert made.handover == NEXT.verifier


@settings(max_examples=80, deadline=None)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_flipping_any_bit_of_a_handover_fails_its_check(position: int, bit: int) -> None:
    text = KEY.hand_over(NEXT, 42, ROOT, WHEN).text.encode()
    changed = bytearray(text)
    changed[position % len(text)] ^= 1 << bit
    try:
        forged = changed.decode()
    except UnicodeDecodeError:
        return
    with pytest.raises(InvalidNote):
        KEY.verifier.open(forged)


def test_a_handover_the_next_key_did_not_sign_is_refused() -> None:
    made = KEY.hand_over(NEXT, 42, ROOT, WHEN)
    without_next = made.text.rsplit(EM_DASH, 1)[0]
    with pytest.raises(InvalidNote, match="not signed by that key"):
        KEY.verifier.open(without_next)


def test_a_handover_to_the_same_key_or_another_logs_is_refused() -> None:
    with pytest.raises(InvalidSigningKey, match="is the current one"):
        KEY.hand_over(KEY, 42, ROOT, WHEN)
    elsewhere = SigningKey.from_text("other.example/log", base64.b64encode(b"n" * 32).decode())
    with pytest.raises(InvalidSigningKey, match=r"named 'other\.example/log'"):
        KEY.hand_over(elsewhere, 42, ROOT, WHEN)


def test_a_note_opens_with_any_of_the_logs_keys_and_with_no_other() -> None:
    keys = [NEXT.verifier, KEY.verifier]
    assert open_note(KEY.sign(1, ROOT, WHEN).text, keys).size == 1
    assert open_note(NEXT.sign(2, ROOT, WHEN).text, keys).size == 2
    stranger = SigningKey.from_text(ORIGIN, base64.b64encode(b"s" * 32).decode())
    with pytest.raises(UnsignedNote, match="no signature by any of the log's keys"):
        open_note(stranger.sign(3, ROOT, WHEN).text, keys)
    cosigned = KEY.sign(4, ROOT, WHEN).text + stranger.sign(4, ROOT, WHEN).text.split("\n\n")[1]
    assert open_note(cosigned, keys).size == 4  # a witness's cosignature is not ours to check
    forged = KEY.sign(5, ROOT, WHEN).text.replace("\n5\n", "\n6\n")
    with pytest.raises(InvalidNote, match="does not verify"):
        open_note(forged, keys)


def test_a_file_of_appended_checkpoints_splits_into_each_note() -> None:
    notes = [KEY.sign(size, ROOT, WHEN).text for size in (1, 2, 3)]
    assert split_notes("\n".join(notes) + "\n") == notes
    assert split_notes(notes[0]) == [notes[0]]


def test_an_events_leaf_is_cosmo_leaf_1_of_its_stored_fields() -> None:
    """The inlined leaf the store writes is the documented encoding, foreign events included."""
    timestamp = datetime(2026, 12, 2, 0, 47, 20, 18508, tzinfo=UTC)
    state = orjson.dumps(
        {
            "timestamp": {"_type_": "datetime", "_data_": timestamp.isoformat()},
            "audit": {
                "_type_": "audit_context",
                "_data_": {
                    "actor_id": "7",
                    "username": "alice",
                    "role": {"_type_": "role", "_data_": "manager"},
                    "organisation": "acmé",
                    "client_ip": "203.0.113.7",
                },
            },
            "name": "Harbour View Flats",
        }
    )
    stored = StoredEvent(uuid4(), 3, "cosmo.property.renamed", state)
    actor = {"actor_id": "7", "organisation": "acmé", "role": "manager"}
    expected = leaf_bytes(5, stored.originator_id, 3, stored.topic, timestamp, actor, payload_hash(state))
    assert event_leaf_bytes(5, stored) == expected
    assert b"alice" not in expected
    assert b"203.0.113.7" not in expected
    foreign = StoredEvent(uuid4(), 1, "elsewhere.thing", b"\xff not json")
    assert event_leaf_bytes(1, foreign) == leaf_bytes(
        1, foreign.originator_id, 1, foreign.topic, "", None, payload_hash(foreign.state)
    )


def test_a_signature_line_with_a_character_outside_ascii_is_an_invalid_note() -> None:
    """A flipped bit that turns a newline into a vertical tab joins two signature lines: the
    base64 then holds an em dash, which is refused as a forgery, not raised as a ValueError."""
    text = KEY.hand_over(NEXT, 42, ROOT, WHEN).text
    head, last = text.rsplit(f"\n{EM_DASH}", 1)
    with pytest.raises(InvalidNote):
        KEY.verifier.open(f"{head}\x0b{EM_DASH}{last}")
