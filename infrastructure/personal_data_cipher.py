"""Personal fields sealed under their subject's data key as events are stored, opened as they are read.

The transcoder calls :meth:`PersonalDataCipher.seal` for each personal field named in
``domain/personal_data.py`` and :meth:`PersonalDataCipher.open` for each sealed value it reads, so
every reader (API, history, export, projections, rebuild) gets plaintext, or ``"[erased]"`` once
the key is gone, without knowing about encryption. Only the personal values are sealed: the
timestamp, the actor id, organisation and role stay in clear at their JSON paths, where the audit
log's Merkle leaf reads them.

A name is sealed under the subject's key; request metadata (address, user agent) under a key
derived from the subject's key and the key of the UTC day it was recorded in, so destroying
either one (erasure, or retention) makes it unreadable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.personal_data import ERASED, Lifetime
from infrastructure.data_keys import NONCE_BYTES, DataKeyError, DataKeys, period_ref, subject_ref

MAX_CACHED = 10_000


@dataclass(frozen=True)
class Sealed:
    """A personal value as stored: whose it is, the period it expires with ("" for never), the box."""

    subject: str
    period: str
    box: str


def recording_period(moment: datetime) -> str:
    """The UTC day a value was recorded in: the unit request metadata expires by."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class _BoxKey:
    """The key of one (subject, period), with what was sealed and opened under it in this process.

    Sealing is deterministic (the nonce is an HMAC of the field and the value under the key, a
    synthetic IV): the same value of the same field under the same key always gives the same box.
    That leaks only whether two of one person's events (of one day, for request metadata) hold
    the same value, and it lets a reader open each distinct box once per cache period instead of
    once per event: an export or a rebuild reads the same name, address and agent thousands of
    times.
    """

    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(key)
        self.nonce_key = hmac.new(key, b"cosmo-synthetic-nonce", hashlib.sha256).digest()
        self.opened: dict[str, str] = {}
        self.sealed: dict[tuple[str, str], str] = {}


class PersonalDataCipher:
    def __init__(self, keys: DataKeys, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.keys = keys
        self.clock = clock
        self._writers: dict[tuple[str, str], _BoxKey] = {}
        self._readers: dict[tuple[str, str], tuple[float, _BoxKey | None]] = {}
        self._version = keys.version

    def seal(self, subject: str, field: str, lifetime: Lifetime, value: str) -> Sealed:
        period = recording_period(self.clock()) if lifetime is Lifetime.REQUEST_METADATA else ""
        key = self._writer(subject, period)
        box = key.sealed.get((field, value))
        if box is None:
            aad = f"{field}\0{subject}\0{period}".encode()
            nonce = hmac.new(key.nonce_key, aad + b"\0" + value.encode(), hashlib.sha256).digest()[
                :NONCE_BYTES
            ]
            box = base64.b64encode(nonce + key.aead.encrypt(nonce, value.encode(), aad)).decode()
            if len(key.sealed) < MAX_CACHED:
                key.sealed[(field, value)] = box
        return Sealed(subject, period, box)

    def open(self, field: str, subject: str, period: str, box: str) -> str:
        """The plaintext of a sealed value (``Sealed``'s fields), or ``ERASED`` once the subject's
        (or the period's) key was destroyed. The associated data binds a box to its field, subject
        and period: it cannot be moved to another place."""
        cached = self._readers.get((subject, period))
        if self._version == self.keys.version and cached is not None and cached[0] > time.monotonic():
            key = cached[1]  # the common case, inline: it runs for every personal field read
        else:
            key = self._reader(subject, period)
        if key is None:
            return ERASED
        plain = key.opened.get(box)
        if plain is None:
            raw = binascii.a2b_base64(box)
            try:
                aad = f"{field}\0{subject}\0{period}".encode()
                plain = key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()
            except InvalidTag:
                raise DataKeyError(
                    f"the {field} of subject {subject!r} does not open with its data key"
                ) from None
            if len(key.opened) < MAX_CACHED:
                key.opened[box] = plain
        return plain

    def _writer(self, subject: str, period: str) -> _BoxKey:
        """Made (or read) once per process: a destroyed key is refused when it is first needed."""
        self._check_version()
        key = self._writers.get((subject, period))
        if key is None:
            subject_key = self.keys.for_writing(subject_ref(subject))
            period_key = self.keys.for_writing(period_ref(period)) if period else None
            key = _BoxKey(_combined(subject_key, period_key))
            if len(self._writers) > MAX_CACHED:
                self._writers.clear()
            self._writers[(subject, period)] = key
        return key

    def _reader(self, subject: str, period: str) -> _BoxKey | None:
        """The key of a (subject, period), or None when one of its keys was destroyed; kept as long
        as the data keys' cache keeps keys (``DataKeys.cache_seconds``)."""
        self._check_version()
        cached = self._readers.get((subject, period))
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        refs = [subject_ref(subject), *([period_ref(period)] if period else [])]
        keys = self.keys.for_reading(refs)
        subject_key, period_key = keys[refs[0]], keys[refs[-1]] if period else None
        destroyed = subject_key is None or (period != "" and period_key is None)
        key = None if destroyed else _BoxKey(_combined(subject_key, period_key))  # type: ignore[arg-type]
        if len(self._readers) > MAX_CACHED:
            self._readers.clear()
        self._readers[(subject, period)] = (now + self.keys.cache_seconds, key)
        return key

    def _check_version(self) -> None:
        """Keys were destroyed or forgotten in this process: drop everything derived from them."""
        if self._version != self.keys.version:
            self._writers.clear()
            self._readers.clear()
            self._version = self.keys.version


def _combined(subject_key: bytes, period_key: bytes | None) -> bytes:
    """The subject's key for a name; for request metadata, a key that needs the period's key too."""
    if period_key is None:
        return subject_key
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=period_key, info=b"cosmo-request-metadata").derive(
        subject_key
    )
