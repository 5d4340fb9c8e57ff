#!/usr/bin/env python3
"""Verify a Cosmo audit bundle offline: ``cosmo_verify.py BUNDLE --key KEY [--key …] [--kept CHECKPOINT]``.

An auditor runs this on their own machine with nothing but Python 3.11+ and ``cryptography``: no
Django, no database, no server, no secret, no code of Cosmo's. It trusts only the public keys it is
given, and a key one of them handed the log over to (a rotation: a checkpoint signed by a trusted
key that names the next key, which signs it too). It checks that the checkpoints are signed by
trusted keys, that every event in the bundle is a leaf of the checkpoint's tree (RFC 9162
inclusion proofs over leaves it re-encodes itself from the shown fields and the stored payload),
that each shown field is what the stored payload says, that every earlier checkpoint in the bundle
is a prefix of this one (consistency proofs), and, with ``--kept``, that a checkpoint the auditor
saved earlier is a prefix too.

The bundle (``cosmo-audit-bundle/2``, documented in docs/audit-bundle.md) is NDJSON: a header line,
then one line per event. It is read and checked a line at a time, so a bundle of millions of
events needs no more memory than one of a few. Exit status: 0 when everything holds, 1 naming the
first failure (the event's position when an event failed, else the line), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeGuard
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BUNDLE_FORMAT = "cosmo-audit-bundle/2"
LEAF_FORMAT = "cosmo-leaf/1"
ED25519_ALGORITHM = 0x01
EM_DASH = "\u2014"

HEADER_KEYS = frozenset({"format", "selection", "checkpoint", "consistency", "events"})
EVENT_KEYS = frozenset(
    {
        "position",
        "aggregate_id",
        "aggregate_type",
        "version",
        "type",
        "timestamp",
        "actor",
        "data",
        "metadata",
        "topic",
        "payload_sha256",
        "payload",
        "inclusion_proof",
    }
)
CONSISTENCY_KEYS = frozenset({"checkpoint", "proof"})
ENVELOPE = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp", "audit"})
IMAGE_ATTACHED = "cosmo.property.image_attached"

# The names the export shows for each stored topic: (aggregate type, event type). Stored topics are
# stable (a refactor never renames them); a new event type adds a line here and in the format doc.
TOPIC_NAMES: dict[str, tuple[str, str]] = {
    "cosmo.property.registered": ("Property", "PropertyRegistered"),
    "cosmo.property.image_attached": ("Property", "ImageAttached"),
    "cosmo.property.image_detached": ("Property", "ImageDetached"),
    "cosmo.property.cover_image_set": ("Property", "CoverImageSet"),
    "cosmo.property.images_reordered": ("Property", "ImagesReordered"),
    "cosmo.property.renamed": ("Property", "PropertyRenamed"),
    "cosmo.property.address_corrected": ("Property", "AddressCorrected"),
    "cosmo.property.rent_changed": ("Property", "RentChanged"),
    "cosmo.property.archived": ("Property", "PropertyArchived"),
    "cosmo.image.added": ("PropertyImage", "ImageAdded"),
    "cosmo.image.caption_changed": ("PropertyImage", "ImageCaptionChanged"),
    "cosmo.image.processed": ("PropertyImage", "ImageProcessed"),
    "cosmo.image.processing_failed": ("PropertyImage", "ImageProcessingFailed"),
    "cosmo.image.retry_requested": ("PropertyImage", "ImageRetryRequested"),
    "cosmo.image.removed": ("PropertyImage", "ImageRemoved"),
    "cosmo.retention.originals_pruned": ("RetentionRun", "OriginalsPruned"),
    "cosmo.retention.orphaned_blobs_removed": ("RetentionRun", "OrphanedBlobsRemoved"),
    "cosmo.retention.request_metadata_expired": ("RetentionRun", "RequestMetadataExpired"),
    "cosmo.erasure.subject_erased": ("SubjectErasure", "SubjectErased"),
}


class SealedValue:
    """A personal value stored encrypted under its subject's key (docs/adr/0016): the bundle shows
    it as the server opened it (or "[erased]"), which only the key holder can check."""


SEALED = SealedValue()


class VerificationFailed(Exception):
    """The bundle does not prove what it claims; ``position`` names the event when one failed."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.position is None else f"event at position {self.position}: {text}"


# --- RFC 9162 §2.1 Merkle tree hashing and proof verification ---------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def inclusion_root(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when it is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return result if sn == 0 else None


def consistency_holds(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """Whether the tree of ``old_size`` leaves is a prefix of the one of ``new_size`` (§2.1.4.2)."""
    if old_size == 0:
        return not proof and old_root == hashlib.sha256(b"").digest()  # the empty tree prefixes all
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(sibling, fr), node_hash(sibling, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# --- The leaf: cosmo-leaf/1 ------------------------------------------------------------------


def leaf_bytes(
    position: int,
    aggregate_id: str,
    version: int,
    topic: str,
    recorded_time: str,
    actor: str,
    payload_sha256: str,
) -> bytes:
    """Each field as a 4-byte big-endian length and its UTF-8 bytes, in the documented order."""
    fields = [LEAF_FORMAT, str(position), aggregate_id, str(version), topic, recorded_time, actor]
    fields.append(payload_sha256)
    out = bytearray()
    for field in fields:
        encoded = field.encode("utf-8")
        out += len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


def actor_json(audit: dict[str, Any] | None) -> str:
    """The pseudonymous actor of a leaf: id, organisation and role, canonical compact JSON."""
    audit = audit or {}
    actor = {key: str(audit.get(key, "")) for key in ("actor_id", "organisation", "role")}
    return json.dumps(actor, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) ------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: str
    handover: VerifierKey | None = None


def strict_b64(text: str, what: str) -> bytes:
    """Standard base64 in its one canonical spelling, so no edited character decodes the same."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationFailed(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise VerificationFailed(f"{what} is not canonical base64")
    return raw


def strict_hex(text: Any, what: str) -> bytes:
    """A SHA-256 as 64 lowercase hex digits, nothing else."""
    if not isinstance(text, str) or len(text) != 64 or text.strip("0123456789abcdef"):
        raise VerificationFailed(f"{what} is not 64 lowercase hex digits")
    return bytes.fromhex(text)


def key_hash_of(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519_ALGORITHM]) + public_key).digest()[:4]


def parse_vkey(text: str) -> VerifierKey:
    """``<name>+<8 hex key hash>+<base64(0x01 ‖ 32-byte Ed25519 key)>`` (C2SP signed-note vkey)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise VerificationFailed("the public key is not a '<name>+<hash>+<key>' verifier key")
    name, hash_hex, key_b64 = parts
    raw = strict_b64(key_b64, "the public key")
    if len(raw) != 33 or raw[0] != ED25519_ALGORITHM:
        raise VerificationFailed("the public key is not an Ed25519 verifier key")
    key_hash = key_hash_of(name, raw[1:])
    if hash_hex != key_hash.hex():
        raise VerificationFailed("the public key's hash does not match its name and key")
    return VerifierKey(name, key_hash, Ed25519PublicKey.from_public_bytes(raw[1:]))


class Untrusted(VerificationFailed):
    """A well-formed note that no trusted key signed."""


class Keyring:
    """The keys the auditor trusts: those given, and each one a trusted checkpoint handed over to.

    Checkpoints are opened oldest first, so a key handed over to signs only the checkpoints after
    its handover. A handover counts only when a trusted key signed its body, which names the new
    key: a signature line alone could have been appended by anyone.
    """

    def __init__(self, given: list[VerifierKey]) -> None:
        self.given = given
        self.trusted = {(key.name, key.key_hash): key for key in given}
        self.handovers: list[tuple[VerifierKey, int]] = []
        """(key, tree size) of each handover followed, for the report."""

    def open(self, note: Any, what: str) -> Checkpoint:
        """The checkpoint a signed note carries, once a trusted key's signature over its body holds;
        signatures by keys it does not know are skipped (cosignatures: C2SP signed-note)."""
        body, signatures = note_parts(note, what)
        checkpoint = parse_checkpoint_body(body, what)
        signer = None
        for name, signature in signatures:
            key = self.trusted.get((name, signature[:4]))
            if key is not None:
                check_signature(key, signature, body, what)
                signer = key
        if signer is None:
            raise Untrusted(
                f"{what} carries no signature by a trusted key (given with --key, or handed over to)"
            )
        if checkpoint.origin != signer.name:
            raise VerificationFailed(
                f"{what} is for origin {checkpoint.origin!r}, its key for {signer.name!r}"
            )
        successor = checkpoint.handover
        if successor is not None:
            found = [s for name, s in signatures if (name, s[:4]) == (successor.name, successor.key_hash)]
            if not found:
                raise VerificationFailed(f"{what} hands over to a key that did not sign it")
            for signature in found:
                check_signature(successor, signature, body, what)
            if (successor.name, successor.key_hash) not in self.trusted:
                self.trusted[successor.name, successor.key_hash] = successor
                self.handovers.append((successor, checkpoint.size))
        return checkpoint

    def adopted_at(self, notes: list[Any]) -> int:
        """How many notes come before the last handover to a given key: signed before that key
        took over, they may carry only keys the auditor did not give."""
        given = {(key.name, key.key_hash) for key in self.given}
        adopted = 0
        for index, note in enumerate(notes):
            try:
                successor = parse_checkpoint_body(note_parts(note, "")[0], "").handover
            except VerificationFailed:
                continue  # opening it in turn names the problem
            if successor is not None and (successor.name, successor.key_hash) in given:
                adopted = index
        return adopted


def note_parts(note: Any, what: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's body (with its last newline) and its signature lines as (key name, bytes)."""
    if not isinstance(note, str):
        raise VerificationFailed(f"{what} is not a signed note text")
    body, separator, lines = note.partition("\n\n")
    if not separator or not lines.endswith("\n"):
        raise VerificationFailed(f"{what} is not a signed note (body, blank line, signature lines)")
    signatures = []
    for line in lines[:-1].split("\n"):
        prefix, _, rest = line.partition(" ")
        name, _, signature_b64 = rest.partition(" ")
        if prefix != EM_DASH or not name or not signature_b64:
            raise VerificationFailed(f"{what} has a malformed signature line")
        signatures.append((name, strict_b64(signature_b64, f"{what}'s signature")))
    return body + "\n", signatures


def check_signature(key: VerifierKey, signature: bytes, body: str, what: str) -> None:
    if len(signature) != 68:
        raise VerificationFailed(f"{what}'s signature is not 4 + 64 bytes")
    try:
        key.public_key.verify(signature[4:], body.encode("utf-8"))
    except InvalidSignature:
        raise VerificationFailed(
            f"{what}'s signature does not verify with the public key {key.key_hash.hex()}"
        ) from None


def parse_checkpoint_body(body: str, what: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise VerificationFailed(f"{what} has no origin, size and root hash lines")
    if not lines[1].isascii() or not lines[1].isdigit() or str(int(lines[1])) != lines[1]:
        raise VerificationFailed(f"{what}'s tree size is not a decimal number")
    root = strict_b64(lines[2], f"{what}'s root hash")
    if len(root) != 32:
        raise VerificationFailed(f"{what}'s root hash is not 32 bytes")
    times = [line.removeprefix("time ") for line in lines[3:] if line.startswith("time ")]
    named = [line.removeprefix("handover ") for line in lines[3:] if line.startswith("handover ")]
    try:
        handovers = [parse_vkey(text) for text in named]
    except VerificationFailed:
        raise VerificationFailed(f"{what}'s handover line does not name a verifier key") from None
    if len(handovers) > 1 or any(key.name != lines[0] for key in handovers):
        raise VerificationFailed(f"{what} hands over to more than one key, or to another log's")
    return Checkpoint(
        lines[0], int(lines[1]), root, times[0] if times else "", handovers[0] if handovers else None
    )


# --- Reading the bundle -----------------------------------------------------------------------


class NotStrictJson(ValueError):
    """JSON that Python's parser accepts but that has more than one meaning, or none in JSON."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise NotStrictJson("repeats a key in one JSON object")
    return result


def _no_constant(name: str) -> NoReturn:
    raise NotStrictJson(f"holds {name}, which is not JSON")


def strict_json(raw: bytes, what: str) -> Any:
    """UTF-8 JSON with no repeated keys and no NaN/Infinity: one text, one meaning."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except NotStrictJson as problem:
        raise VerificationFailed(f"{what} {problem}") from None
    except (UnicodeDecodeError, ValueError):
        raise VerificationFailed(f"{what} is not valid UTF-8 JSON") from None


def numbered_lines(source: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Each line of the file with its number, once it has the form of an NDJSON line.

    A line is one JSON value and a ``\n``: a last line without one is a file cut short.
    """
    for number, line in enumerate(source, start=1):
        if not line.endswith(b"\n"):
            raise VerificationFailed(f"line {number} does not end with a newline: the file was cut short")
        if line.endswith(b"\r\n"):
            raise VerificationFailed(f"line {number} ends with CR LF; lines end with LF alone")
        if not line.strip():
            raise VerificationFailed(f"line {number} is blank")
        yield number, line


def canonical(value: Any) -> str:
    """One spelling per value, telling 1, 1.0 and true apart, for comparing shown with stored."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerificationFailed(f"{what} is not a list of hashes")
    return [strict_hex(item, what) for item in value]


def expect_keys(value: Any, keys: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise VerificationFailed(f"{what} does not have exactly the fields {sorted(keys)}")
    return value


# --- The stored payload as the export renders it ----------------------------------------------


def utc_iso(moment: datetime) -> str:
    """As the export shows times: ISO 8601 in UTC with a Z (microseconds only when not zero)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"


def leaf_time(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stored_datetime(value: Any) -> datetime:
    if not isinstance(value, dict) or value.get("_type_") != "datetime" or set(value) != {"_type_", "_data_"}:
        raise ValueError("not a stored datetime")
    return datetime.fromisoformat(value["_data_"])


def rendered(value: Any) -> Any:
    """A stored (tagged) value as the export shows it: see "Rendering" in docs/audit-bundle.md."""
    if isinstance(value, list):
        return [rendered(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 2 and "_type_" in value and "_data_" in value:
        kind, data = value["_type_"], value["_data_"]
        if kind == "uuid":
            return str(UUID(hex=data))
        if kind == "decimal":
            return format(Decimal(data), "f")
        if kind == "datetime":
            return utc_iso(datetime.fromisoformat(data))
        if kind == "date":
            return date.fromisoformat(data).isoformat()
        if kind == "sealed":
            return SEALED
        return rendered(data)  # a value object's fields, or an enumeration's value
    return {key: rendered(item) for key, item in value.items()}


def check_shown_fields(event: dict[str, Any], state: Any) -> tuple[str, str]:
    """Compare what the bundle shows with the payload; return the leaf's recorded time and actor."""
    if not isinstance(state, dict) or not isinstance(state.get("audit"), dict):
        raise VerificationFailed("the payload is not an event state with an audit context")
    try:
        moment = stored_datetime(state.get("timestamp"))
        audit = rendered(state["audit"])
        data = {key: rendered(item) for key, item in state.items() if key not in ENVELOPE}
    except (ValueError, TypeError, AttributeError, InvalidOperation):
        raise VerificationFailed("the payload holds a value of no known stored form") from None
    if not isinstance(audit, dict):
        raise VerificationFailed("the payload's audit context is not an object")
    audit = with_sealed_as_shown(audit, event.get("metadata"))
    expected = {
        "timestamp": utc_iso(moment),
        "actor": {"id": audit.get("actor_id"), "username": audit.get("username"), "role": audit.get("role")},
        "data": data,
        "metadata": audit,
    }
    for name, value in expected.items():
        if canonical(event[name]) != canonical(value):
            raise VerificationFailed(f"the shown {name} is not what the stored payload says")
    return leaf_time(moment), actor_json(audit)


def with_sealed_as_shown(audit: dict[str, Any], shown: Any) -> dict[str, Any]:
    """The stored audit context, each sealed value replaced by the string the bundle shows for it."""
    opened = dict(audit)
    for name, value in audit.items():
        if value is SEALED:
            text = shown.get(name) if isinstance(shown, dict) else None
            if not isinstance(text, str):
                raise VerificationFailed(f"the sealed {name} must be shown as a string")
            opened[name] = text
    return opened


def check_event(event: Any, line: int, checkpoint: Checkpoint) -> dict[str, Any]:
    """One event line: shown fields against the payload, then its leaf against the checkpoint root."""
    position = event.get("position") if isinstance(event, dict) else None
    try:
        shown = expect_keys(event, EVENT_KEYS, f"line {line}")
        number = shown["position"]
        if not is_int(number) or number < 1:
            raise VerificationFailed(f"line {line}'s position is not a positive integer")
        version = shown["version"]
        if not is_int(version) or version < 1:
            raise VerificationFailed("the version is not a positive integer")
        topic, aggregate_id = shown["topic"], shown["aggregate_id"]
        if not isinstance(topic, str) or not isinstance(aggregate_id, str):
            raise VerificationFailed("the topic and aggregate id must be strings")
        try:
            canonical_id = str(UUID(aggregate_id))
        except ValueError:
            canonical_id = ""
        if aggregate_id != canonical_id:
            raise VerificationFailed("the aggregate id is not a lowercase UUID with dashes")
        names = TOPIC_NAMES.get(topic)
        if names is None:
            raise VerificationFailed(
                f"topic {topic!r} is unknown to this verifier; use the one shipped with the server"
            )
        if (shown["aggregate_type"], shown["type"]) != names:
            raise VerificationFailed(f"the shown type is not {names[1]} of {names[0]}, as topic {topic!r} is")
        if not isinstance(shown["payload"], str):
            raise VerificationFailed("the payload is not base64 text")
        payload = strict_b64(shown["payload"], "the payload")
        payload_hash = hashlib.sha256(payload).hexdigest()
        if strict_hex(shown["payload_sha256"], "payload_sha256").hex() != payload_hash:
            raise VerificationFailed("payload_sha256 is not the SHA-256 of the payload")
        recorded_time, actor = check_shown_fields(shown, strict_json(payload, "the payload"))
        leaf = leaf_bytes(number, aggregate_id, version, topic, recorded_time, actor, payload_hash)
        proof = hashes(shown["inclusion_proof"], "the inclusion proof")
        if inclusion_root(number - 1, checkpoint.size, leaf_hash(leaf), proof) != checkpoint.root:
            raise VerificationFailed(
                f"the inclusion proof does not lead from it to the root of tree size {checkpoint.size}"
            )
    except VerificationFailed as failure:
        if is_int(position) and failure.position is None:
            failure.position = position
        raise
    return shown


class Selection:
    """What the header says the bundle holds, checked as each event line goes past.

    A range must be every position from ``from`` to ``to``, in order; a property's story may hold
    only the property's events and those of photos it attached. A photo's first events come before
    the property attaches it, so that membership is settled after the last line (``finish``).
    """

    def __init__(self, selection: Any, events: Any) -> None:
        if not is_int(events) or events < 1:
            raise VerificationFailed("the header's event count is not a positive integer")
        self.expected = events
        self.seen = 0
        self.last_position = 0
        self.first: int | None = None
        self.property_id: str | None = None
        self.members: set[Any] = set()
        self.outsiders: dict[str, int] = {}  # aggregate id -> its first position, until attached
        if isinstance(selection, dict) and set(selection) == {"from", "to"}:
            first, last = selection["from"], selection["to"]
            if not (is_int(first) and is_int(last) and 1 <= first <= last):
                raise VerificationFailed("the selection's from and to are not positions with from <= to")
            if events != last - first + 1:
                raise VerificationFailed(
                    f"the header announces {events} event lines for positions {first}..{last}"
                )
            self.first, self.text = first, f"positions {first}..{last}"
        elif isinstance(selection, dict) and set(selection) == {"property_id"}:
            if not isinstance(selection["property_id"], str):
                raise VerificationFailed("the selection's property_id is not a string")
            self.property_id = selection["property_id"]
            self.members = {self.property_id}
            self.text = f"property {self.property_id}"
        else:
            raise VerificationFailed("the selection is neither {from, to} nor {property_id}")

    def take(self, event: dict[str, Any]) -> None:
        """The next event line, checked in full already: it must come where the selection says."""
        position = event["position"]
        if position <= self.last_position:
            raise VerificationFailed(
                f"the events are not in strictly increasing position order (it follows {self.last_position})",
                position,
            )
        if self.first is not None and position != self.first + self.seen:
            raise VerificationFailed(
                f"the events are not exactly the selected positions: position {self.first + self.seen}"
                " should come here",
                position,
            )
        if event["aggregate_id"] == self.property_id and event["topic"] == IMAGE_ATTACHED:
            self.members.add(event["data"].get("image_id"))
        elif self.property_id is not None and event["aggregate_id"] not in self.members:
            self.outsiders.setdefault(event["aggregate_id"], position)
        self.seen += 1
        self.last_position = position

    def finish(self) -> None:
        if self.seen < self.expected:
            raise VerificationFailed(
                f"the file ends after {self.seen} of the {self.expected} event lines its header announces:"
                " it was cut short"
            )
        strays = [position for aggregate, position in self.outsiders.items() if aggregate not in self.members]
        if strays:
            raise VerificationFailed(
                "the event is neither the property's nor one of its photos'", min(strays)
            )


@dataclass(frozen=True)
class Report:
    checkpoint: Checkpoint
    selection: str
    events: int
    earlier_checkpoints: int
    kept: list[Checkpoint]
    handovers: list[tuple[VerifierKey, int]]
    unchecked: int

    def text(self) -> str:
        lines = [
            f"OK: {self.events} events ({self.selection}) are in the log of {self.checkpoint.origin}",
            f"    checkpoint: tree size {self.checkpoint.size}, signed {self.checkpoint.time or '(no time)'},"
            " extends every earlier checkpoint in the bundle",
        ]
        lines += [
            f"    key {key.key_hash.hex()} took over at tree size {size}, handed over by a trusted key"
            for key, size in self.handovers
        ]
        if self.unchecked:
            lines.append(
                f"    {self.unchecked} earlier checkpoints predate the handover to your key: their trees are"
                " checked, not their signatures (give their key with --key too to check them)"
            )
        lines += [f"    the kept checkpoint (tree size {kept.size}) is a prefix of it" for kept in self.kept]
        return "\n".join(lines)


def check_checkpoints(
    note: Any, items: Any, keyring: Keyring
) -> tuple[Checkpoint, dict[int, list[bytes]], int]:
    """The bundle's checkpoint, after every earlier one in the header, oldest first (following
    handovers), each a prefix of it. Returns it, the earlier ones' proofs by tree size, and how
    many earlier ones were let through unsigned because they predate the handover to a given key."""
    if not isinstance(items, list):
        raise VerificationFailed("the header's consistency proofs are not a list")
    for number, item in enumerate(items, start=1):
        expect_keys(item, CONSISTENCY_KEYS, f"earlier checkpoint #{number}")
    adopted = keyring.adopted_at([*(item["checkpoint"] for item in items), note])
    opened: list[Checkpoint] = []
    unchecked = 0
    for number, item in enumerate(items, start=1):
        what = f"earlier checkpoint #{number}"
        try:
            opened.append(keyring.open(item["checkpoint"], what))
        except Untrusted:
            if number > adopted:
                raise
            opened.append(parse_checkpoint_body(note_parts(item["checkpoint"], what)[0], what))
            unchecked += 1
    checkpoint = keyring.open(note, "the bundle's checkpoint")
    earlier: dict[int, list[bytes]] = {}
    for number, (old, item) in enumerate(zip(opened, items, strict=True), start=1):
        what = f"earlier checkpoint #{number}"
        proof = hashes(item["proof"], f"{what}'s consistency proof")
        if not consistency_holds(old.size, checkpoint.size, old.root, checkpoint.root, proof):
            raise VerificationFailed(
                f"{what} (tree size {old.size}) is not a prefix of the bundle's tree (size {checkpoint.size})"
            )
        earlier[old.size] = proof
    return checkpoint, earlier, unchecked


def verify_bundle(source: Iterable[bytes], keys: list[str], kept: str | None = None) -> Report:
    """Everything the bundle claims, or the first ``VerificationFailed``.

    ``keys`` are the verifier keys the auditor trusts. ``source`` yields the file's lines (an open
    binary file does): the header is checked first, then each event line as it is read, so memory
    stays flat however many events the file holds.
    """
    keyring = Keyring([parse_vkey(key) for key in keys])
    notes = [] if kept is None else split_notes(kept)
    if kept is not None and not notes:
        raise VerificationFailed("the kept checkpoint text holds no signed note")
    lines = numbered_lines(source)
    first_line = next(lines, None)
    if first_line is None:
        raise VerificationFailed("the file is empty: it has no header line")
    what = "the header (line 1)"
    header = expect_keys(strict_json(first_line[1], what), HEADER_KEYS, what)
    if header["format"] != BUNDLE_FORMAT:
        raise VerificationFailed(f"the bundle's format is not {BUNDLE_FORMAT!r}")
    checkpoint, earlier, unchecked = check_checkpoints(header["checkpoint"], header["consistency"], keyring)
    selection = Selection(header["selection"], header["events"])
    kept_checkpoints = [
        check_kept(
            note, keyring, checkpoint, earlier, "the kept checkpoint" if len(notes) == 1 else f"kept #{n}"
        )
        for n, note in enumerate(notes, start=1)
    ]
    for number, line in lines:
        if selection.seen == selection.expected:
            raise VerificationFailed(
                f"line {number} is an event line more than the {selection.expected} its header announces"
            )
        selection.take(check_event(strict_json(line, f"line {number}"), number, checkpoint))
    selection.finish()
    earlier_count = len(header["consistency"])
    return Report(
        checkpoint,
        selection.text,
        selection.seen,
        earlier_count,
        kept_checkpoints,
        keyring.handovers,
        unchecked,
    )


def check_kept(
    note: str, keyring: Keyring, checkpoint: Checkpoint, earlier: dict[int, list[bytes]], what: str
) -> Checkpoint:
    """A checkpoint the auditor kept is a prefix of the bundle's tree, by a proof the bundle carries."""
    kept = keyring.open(note, what)
    if kept.size == checkpoint.size:
        proof: list[bytes] = []
    elif kept.size in earlier:
        proof = earlier[kept.size]
    else:
        raise VerificationFailed(
            f"the bundle has no consistency proof from {what}'s tree size {kept.size}"
            " (the log may have been cut back or rebuilt)"
        )
    if not consistency_holds(kept.size, checkpoint.size, kept.root, checkpoint.root, proof):
        raise VerificationFailed(
            f"{what} (tree size {kept.size}) is not a prefix of the bundle's tree:"
            " the log was rewritten since it was saved"
        )
    return kept


def split_notes(text: str) -> list[str]:
    """The signed notes in ``text``: one, or several one after another (a witness's file of them)."""
    notes: list[str] = []
    current: list[str] = []
    in_signatures = False
    for line in text.splitlines(keepends=True):
        if in_signatures and not line.startswith(EM_DASH):
            notes.append("".join(current))
            current, in_signatures = [], False
        if not current and not line.strip():
            continue
        current.append(line)
        in_signatures = in_signatures or line.startswith(EM_DASH)
    if current:
        notes.append("".join(current))
    return [note if note.endswith("\n") else note + "\n" for note in notes]


# --- Command line -----------------------------------------------------------------------------


def text_or_file(value: str) -> str:
    """A key or checkpoint given as itself, or as the path of a file holding it."""
    if "\n" not in value and os.path.isfile(value):
        with open(value, encoding="utf-8") as handle:
            return handle.read()
    return value


def kept_note(value: str) -> str:
    """A signed note spans lines: a one-line value that names no file is a mistyped path."""
    text = text_or_file(value)
    if "\n" not in text:
        raise FileNotFoundError(2, "no such file, and not a signed checkpoint note", value)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cosmo_verify.py",
        description="Verify a Cosmo audit bundle offline (format: docs/audit-bundle.md).",
    )
    parser.add_argument("bundle", help="the bundle file written by `manage.py audit bundle`")
    parser.add_argument(
        "--key",
        "--public-key",
        dest="keys",
        action="append",
        required=True,
        help="a verifier key you trust (the text, or a file holding it); repeatable. A key it hands"
        " the log over to (docs/audit-bundle.md, Key rotation) is trusted from that checkpoint on",
    )
    parser.add_argument(
        "--kept", help="checkpoints you saved earlier: a signed note, or a file holding one or several"
    )
    arguments = parser.parse_args(argv)
    try:
        keys = [text_or_file(key) for key in arguments.keys]
        kept = None if arguments.kept is None else kept_note(arguments.kept)
    except OSError as error:
        parser.error(f"cannot read {error.filename}: {error.strerror}")
    try:
        for key in keys:
            parse_vkey(key)
    except VerificationFailed as failure:
        parser.error(f"--key: {failure}")
    try:
        with open(arguments.bundle, "rb") as bundle:
            report = verify_bundle(bundle, keys, kept)
    except OSError as error:
        parser.error(f"cannot read {arguments.bundle}: {error.strerror}")
    except VerificationFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print(report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
