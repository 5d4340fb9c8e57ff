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
MAX_RENEWED = 500  # (subject, period) pairs read again in one query: at most 1,000 parameters
SEPARATOR = ":"


@dataclass(frozen=True)
class Sealed:
    """A personal value as stored: whose it is, the period it expires with ("" for never), the box.

    Stored as one string, its token ``subject:period:box`` (the box in base64, the period a day or
    empty: neither holds a colon, so a subject may). Events stored before the token was adopted
    hold the three as a list; both read back.
    """

    subject: str
    period: str
    box: str

    @property
    def token(self) -> str:
        return f"{self.subject}{SEPARATOR}{self.period}{SEPARATOR}{self.box}"

    @classmethod
    def stored(cls, data: str | list[str]) -> Sealed:
        """The sealed value of a stored ``_data_``: a token, or the older [subject, period, box]."""
        if isinstance(data, str):
            subject, period, box = data.rsplit(SEPARATOR, 2)
            return cls(subject, period, box)
        return cls(*data)


def recording_period(moment: datetime) -> str:
    """The UTC day a value was recorded in: the unit request metadata expires by."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class _BoxKey:
    """The key of one (subject, period), with what was sealed under it in this process.

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
        self.sealed: dict[tuple[str, str], str] = {}


class PersonalDataCipher:
    def __init__(self, keys: DataKeys, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.keys = keys
        self.clock = clock
        self._writers: dict[tuple[str, str], _BoxKey] = {}
        # What was read in this cache period: the keys of (subject, period) pairs, and by token,
        # (field, what it opened to): what a reader looks up for every sealed value.
        self._readers: dict[tuple[str, str], _BoxKey | None] = {}
        self._used: set[tuple[str, str]] = set()  # the pairs whose keys opened something
        self._opened: dict[str, tuple[str, str]] = {}
        self._period_ends = 0.0
        self._version = keys.version

    def seal(self, subject: str, field: str, lifetime: Lifetime, value: str) -> str:
        """The token of ``value`` sealed under its subject's key (and its period's): ``Sealed.token``."""
        period = recording_period(self.clock()) if lifetime is Lifetime.REQUEST_METADATA else ""
        key = self._writer(subject, period)
        token = key.sealed.get((field, value))
        if token is None:
            aad = f"{field}\0{subject}\0{period}".encode()
            nonce = hmac.new(key.nonce_key, aad + b"\0" + value.encode(), hashlib.sha256).digest()[
                :NONCE_BYTES
            ]
            box = base64.b64encode(nonce + key.aead.encrypt(nonce, value.encode(), aad)).decode()
            token = Sealed(subject, period, box).token
            if len(key.sealed) < MAX_CACHED:
                key.sealed[(field, value)] = token
        return token

    def opened(self) -> dict[str, tuple[str, str]]:
        """The values opened in this cache period, by token: ``(field, plaintext or ERASED)``. A
        reader looks a token up here first (one dict lookup, as fast as reading it in clear) and
        calls :meth:`open` when it is missing or was opened as another field."""
        if self._version != self.keys.version or self._period_ends <= time.monotonic():
            self._renew()
        return self._opened

    def open(self, field: str, data: str | list[str]) -> str:
        """The plaintext of a stored sealed value (a token, or the older list), or ``ERASED`` once
        the subject's (or the period's) key was destroyed. The associated data binds a box to its
        field, subject and period: it cannot be moved to another place."""
        opened = self.opened()
        token = data if isinstance(data, str) else Sealed.stored(data).token
        hit = opened.get(token)
        if hit is not None and hit[0] == field:
            return hit[1]
        sealed = Sealed.stored(data)
        key = self._reader(sealed.subject, sealed.period)
        if key is None:
            plain = ERASED
        else:
            raw = binascii.a2b_base64(sealed.box)
            try:
                aad = f"{field}\0{sealed.subject}\0{sealed.period}".encode()
                plain = key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()
            except InvalidTag:
                raise DataKeyError(
                    f"the {field} of subject {sealed.subject!r} does not open with its data key"
                ) from None
        if len(opened) < MAX_CACHED:
            opened[token] = (field, plain)
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

    def _renew(self) -> None:
        """Start a cache period (``DataKeys.cache_seconds``): forget what was opened, and read the
        keys of the (subject, period) pairs used in the last period again, in one query, so that a
        batch of events by many people costs one key query per cache period, not one per person.
        The period is how long another process's erasure may go unseen here."""
        recent = list(self._used)[:MAX_RENEWED]
        self._used.clear()
        self._check_version()
        self._readers.clear()
        self._opened.clear()
        self._read_keys(recent, renewing=True)
        self._period_ends = time.monotonic() + self.keys.cache_seconds

    def _reader(self, subject: str, period: str) -> _BoxKey | None:
        """The key of a (subject, period) in this cache period, or None when one of its keys was
        destroyed."""
        pair = (subject, period)
        self._used.add(pair)
        try:
            return self._readers[pair]
        except KeyError:  # not read in this period (or another thread just started a new one)
            return self._read_keys([pair])[pair]

    def _read_keys(
        self, pairs: list[tuple[str, str]], renewing: bool = False
    ) -> dict[tuple[str, str], _BoxKey | None]:
        """Read the keys of these (subject, period) pairs, kept for this period and returned.
        Renewing, each is read from the table (none kept from an older period) and a missing one
        is left out, to be named when it is read."""
        refs = {subject_ref(subject) for subject, _ in pairs} | {period_ref(p) for _, p in pairs if p}
        keys = self.keys.for_reading(sorted(refs), missing_ok=renewing, refresh=renewing)
        read: dict[tuple[str, str], _BoxKey | None] = {}
        for subject, period in pairs:
            refs_of_pair = [subject_ref(subject), *([period_ref(period)] if period else [])]
            if all(ref in keys for ref in refs_of_pair):
                subject_key, period_key = keys[refs_of_pair[0]], keys[refs_of_pair[-1]] if period else None
                destroyed = subject_key is None or (period != "" and period_key is None)
                read[(subject, period)] = (
                    None if destroyed else _BoxKey(_combined(subject_key, period_key))  # type: ignore[arg-type]
                )
        if len(self._readers) > MAX_CACHED:
            self._readers.clear()
        self._readers.update(read)
        return read

    def _check_version(self) -> None:
        """Keys were destroyed or forgotten in this process: drop everything derived from them."""
        if self._version != self.keys.version:
            self._writers.clear()
            self._readers.clear()
            self._opened.clear()
            self._version = self.keys.version


def _combined(subject_key: bytes, period_key: bytes | None) -> bytes:
    """The subject's key for a name; for request metadata, a key that needs the period's key too."""
    if period_key is None:
        return subject_key
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=period_key, info=b"cosmo-request-metadata").derive(
        subject_key
    )
