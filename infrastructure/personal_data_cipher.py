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
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.personal_data import ERASED, Lifetime
from infrastructure.data_keys import NONCE_BYTES, DataKeyError, DataKeys, period_ref, subject_ref


@dataclass(frozen=True)
class Sealed:
    """A personal value as stored: whose it is, the period it expires with ("" for never), the box."""

    subject: str
    period: str
    box: str


def recording_period(moment: datetime) -> str:
    """The UTC day a value was recorded in: the unit request metadata expires by."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class PersonalDataCipher:
    def __init__(self, keys: DataKeys, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.keys = keys
        self.clock = clock
        self._aeads: dict[tuple[str, str, bytes, bytes | None], AESGCM] = {}

    def seal(self, subject: str, field: str, lifetime: Lifetime, value: str) -> Sealed:
        period = recording_period(self.clock()) if lifetime is Lifetime.REQUEST_METADATA else ""
        subject_key = self.keys.for_writing(subject_ref(subject))
        period_key = self.keys.for_writing(period_ref(period)) if period else None
        aead = self._aead(subject, period, subject_key, period_key)
        nonce = os.urandom(NONCE_BYTES)
        box = nonce + aead.encrypt(nonce, value.encode(), _aad(field, subject, period))
        return Sealed(subject, period, base64.b64encode(box).decode())

    def open(self, field: str, sealed: Sealed) -> str:
        """The plaintext, or ``ERASED`` once the subject's (or the period's) key was destroyed."""
        refs = [subject_ref(sealed.subject)]
        if sealed.period:
            refs.append(period_ref(sealed.period))
        keys = self.keys.for_reading(refs)
        subject_key = keys[refs[0]]
        period_key = keys[refs[1]] if sealed.period else None
        if subject_key is None or (sealed.period and period_key is None):
            return ERASED
        box = base64.b64decode(sealed.box)
        aead = self._aead(sealed.subject, sealed.period, subject_key, period_key)
        try:
            return aead.decrypt(
                box[:NONCE_BYTES], box[NONCE_BYTES:], _aad(field, sealed.subject, sealed.period)
            ).decode()
        except InvalidTag:
            raise DataKeyError(
                f"the {field} of subject {sealed.subject!r} does not open with its data key"
            ) from None

    def _aead(self, subject: str, period: str, subject_key: bytes, period_key: bytes | None) -> AESGCM:
        """One AES-GCM object per key combination (derived once per process)."""
        cache_key = (subject, period, subject_key, period_key)
        aead = self._aeads.get(cache_key)
        if aead is None:
            if period_key is None:
                aead = AESGCM(subject_key)
            else:
                derived = HKDF(
                    algorithm=hashes.SHA256(), length=32, salt=period_key, info=b"cosmo-request-metadata"
                ).derive(subject_key)
                aead = AESGCM(derived)
            if len(self._aeads) > 10_000:
                self._aeads.clear()
            self._aeads[cache_key] = aead
        return aead


def _aad(field: str, subject: str, period: str) -> bytes:
    """Binds a box to its field, subject and period: it cannot be moved to another place."""
    return f"{field}\0{subject}\0{period}".encode()
