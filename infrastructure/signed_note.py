"""Checkpoints as C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

The format is the one transparency logs (Go's sumdb, Sigstore, Tessera) use, so an auditor's own
tools can read it: the body names the log (origin), the tree size and the root hash, plus a
``time`` extension line; the signature line carries the key name and a 4-byte key hash so a
verifier knows which of its keys to try. Only the public key ever leaves the server.

A key is rotated with a handover checkpoint: its body names the next key on a ``handover``
extension line and both keys sign it, so whoever trusts the old key learns the new one from a note
the old key signed (a signature line alone would not do: anyone can append one to a note).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

ALGORITHM_ED25519 = 0x01
EM_DASH = "\u2014"
_TIME = re.compile(r"^time (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$")
HANDOVER = "handover "


class InvalidNote(ValueError):
    """Text that is not a checkpoint this log could have signed (unreadable, or a bad signature)."""


class UnsignedNote(InvalidNote):
    """A note that carries no signature line of the key it was opened with."""


class InvalidSigningKey(ValueError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log had ``size`` leaves with this ``root`` at ``time``."""

    origin: str
    size: int
    root: bytes
    time: datetime
    text: str
    handover: VerifierKey | None = None
    """The key this checkpoint hands the log over to (a rotation), signed by both keys."""

    @property
    def body(self) -> str:
        return checkpoint_body(self.origin, self.size, self.root, self.time, self.handover)


def checkpoint_body(
    origin: str, size: int, root: bytes, time: datetime, handover: VerifierKey | None = None
) -> str:
    stamp = time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {stamp}\n"
    return body if handover is None else f"{body}{HANDOVER}{handover.vkey}\n"


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALGORITHM_ED25519]) + public_key).digest()[:4]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class VerifierKey:
    """A named Ed25519 public key, written as a C2SP vkey: ``<name>+<8 hex key hash>+<base64>``."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        self.name = name
        self.public_key = public_key
        self.raw = _raw(public_key)
        self.hash = key_hash(name, self.raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifierKey) and (other.name, other.raw) == (self.name, self.raw)

    def __hash__(self) -> int:
        return hash((self.name, self.raw))

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ALGORITHM_ED25519]) + self.raw).decode()
        return f"{self.name}+{self.hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, hex_hash, encoded = text.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
            if raw[:1] != bytes([ALGORITHM_ED25519]) or len(raw) != 33:
                raise ValueError("not an Ed25519 key")
            key = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        except (ValueError, binascii.Error) as error:
            raise InvalidNote(f"not a verifier key: {error}") from None
        if key.hash.hex() != hex_hash.lower():
            raise InvalidNote("the verifier key's hash does not match its name and key")
        return key

    def open(self, text: str) -> Checkpoint:
        """The checkpoint in ``text`` if this key signed exactly its body; else ``InvalidNote``
        (``UnsignedNote`` when the note has no signature line of this key at all).

        A handover must also be signed by the key it names: that key proves it exists and is held.
        """
        body, separator, signatures = text.partition("\n\n")
        if not separator or not body or not text.endswith("\n"):
            raise InvalidNote(
                "a signed note is a body, a blank line and signature lines, each ending in a newline"
            )
        body += "\n"
        for line in signatures[:-1].split("\n"):
            prefix = f"{EM_DASH} {self.name} "
            if not line.startswith(prefix):
                continue
            encoded = line[len(prefix) :]
            try:
                blob = base64.b64decode(encoded, validate=True)
            except ValueError:  # binascii.Error, or a character outside ASCII
                raise InvalidNote("the signature is not base64") from None
            if base64.b64encode(blob).decode() != encoded:
                raise InvalidNote("the signature is not in canonical base64")
            if blob[:4] != self.hash or len(blob) != 68:
                continue
            try:
                self.public_key.verify(blob[4:], body.encode())
            except InvalidSignature:
                raise InvalidNote("the checkpoint's signature does not verify") from None
            checkpoint = parse_body(body, text)
            if checkpoint.origin != self.name:
                raise InvalidNote(f"the checkpoint is for {checkpoint.origin!r}, not {self.name!r}")
            successor = checkpoint.handover
            if successor is not None and successor.hash != self.hash:
                try:
                    successor.open(text)
                except UnsignedNote:
                    raise InvalidNote(
                        f"the handover to {successor.hash.hex()} is not signed by that key"
                    ) from None
            return checkpoint
        raise UnsignedNote(f"no signature by {self.name} ({self.hash.hex()}) on the checkpoint")


def open_note(text: str, keys: Sequence[VerifierKey]) -> Checkpoint:
    """The checkpoint in ``text`` if one of ``keys`` signed it: the log's current key or one it
    rotated away from. A bad signature by any of them is a forgery, not a reason to try the next."""
    for key in keys:
        try:
            return key.open(text)
        except UnsignedNote:
            continue
    names = ", ".join(key.hash.hex() for key in keys)
    raise UnsignedNote(f"no signature by any of the log's keys ({names}) on the checkpoint")


def split_notes(text: str) -> list[str]:
    """The signed notes in ``text``: one, or several appended one after another (``--publish FILE``)."""
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
    return notes


def parse_body(body: str, text: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) not in (5, 6) or lines[-1] != "":
        raise InvalidNote("a checkpoint body is origin, size, root, a time line and maybe a handover line")
    origin, size_text, root_text, time_line = lines[:4]
    handover = None
    if len(lines) == 6:
        if not lines[4].startswith(HANDOVER):
            raise InvalidNote("a checkpoint's line after its time can only be a handover line")
        handover = VerifierKey.parse(lines[4].removeprefix(HANDOVER))
    time_match = _TIME.match(time_line)
    if not size_text.isdigit() or time_match is None:
        raise InvalidNote("a checkpoint names its size in decimal and its time in RFC 3339 UTC")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise InvalidNote("the root hash is not base64") from None
    if len(root) != 32:
        raise InvalidNote("the root hash is not 32 bytes")
    time = datetime.strptime(time_match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return Checkpoint(origin, int(size_text), root, time, text, handover)


class SigningKey:
    """The log's Ed25519 private key; it comes from the environment or a file, never the database."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.verifier = VerifierKey(name, private_key.public_key())

    @classmethod
    def from_text(cls, name: str, text: str) -> SigningKey:
        """A PEM private key, or the base64 of the 32-byte Ed25519 seed."""
        text = text.strip()
        try:
            if text.startswith("-----BEGIN"):
                loaded = load_pem_private_key(text.encode(), password=None)
                if not isinstance(loaded, Ed25519PrivateKey):
                    raise InvalidSigningKey("the audit signing key must be an Ed25519 key")
                return cls(name, loaded)
            seed = base64.b64decode(text, validate=True)
            return cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        except (ValueError, binascii.Error) as error:
            raise InvalidSigningKey(f"unreadable audit signing key: {error}") from None

    @staticmethod
    def generate_text() -> str:
        """A fresh seed as ``from_text`` reads it (what ``make run`` writes to var/local.env)."""
        return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()

    def sign(self, size: int, root: bytes, time: datetime) -> Checkpoint:
        return self._note(checkpoint_body(self.verifier.name, size, root, time), [self])

    def hand_over(self, successor: SigningKey, size: int, root: bytes, time: datetime) -> Checkpoint:
        """A checkpoint naming ``successor`` as the log's next key, signed by this key and by it."""
        if successor.verifier.name != self.verifier.name:
            raise InvalidSigningKey(
                f"the new key is named {successor.verifier.name!r}, the log {self.verifier.name!r}"
            )
        if successor.verifier.hash == self.verifier.hash:
            raise InvalidSigningKey("the new signing key is the current one")
        body = checkpoint_body(self.verifier.name, size, root, time, successor.verifier)
        return self._note(body, [self, successor])

    @staticmethod
    def _note(body: str, signers: Sequence[SigningKey]) -> Checkpoint:
        lines = [
            f"{EM_DASH} {signer.verifier.name} "
            + base64.b64encode(signer.verifier.hash + signer._private_key.sign(body.encode())).decode()
            for signer in signers
        ]
        return parse_body(body, body + "\n" + "".join(line + "\n" for line in lines))
