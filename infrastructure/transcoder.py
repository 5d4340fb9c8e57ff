"""An orjson transcoder whose every non-JSON type is named in the stored bytes.

Unlike orjson's own dataclass/UUID/datetime support, each value is tagged with the type it came
from, so decoding gives back the exact objects (``decode(encode(e)) == e``) and a stored event
never depends on a Python class path that a refactor could move.

Given a :class:`PersonalDataCipher`, the personal fields named in ``domain/personal_data.py`` are
stored sealed (``{"_type_": "sealed", "_data_": "subject:period:box"}``) and opened on reading;
without one (unit tests, benchmarks' baseline) they are stored in clear, and a sealed value reads
back as a :class:`Sealed` object.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder, TranscodingNotRegisteredError

from domain.audit import AuditContext, Role
from domain.image import ImageFile, ImageStatus, ImageVariant
from domain.personal_data import PERSONAL_RECORDS
from domain.values import Address, PropertyKind, PropertyStatus, Rent
from infrastructure.personal_data_cipher import PersonalDataCipher, Sealed

TYPE_KEY = "_type_"
DATA_KEY = "_data_"
SEALED = "sealed"

_SCALARS: dict[type, tuple[str, Any, Any]] = {
    UUID: ("uuid", lambda value: value.hex, UUID),
    Decimal: ("decimal", str, Decimal),
    datetime: ("datetime", lambda value: value.isoformat(), datetime.fromisoformat),
    date: ("date", lambda value: value.isoformat(), date.fromisoformat),
}

# Value objects are stored as their fields; the tag is a stable name, never a class path.
_RECORDS: dict[type, str] = {
    Address: "address",
    Rent: "rent",
    AuditContext: "audit_context",
    ImageFile: "image_file",
    ImageVariant: "image_variant",
}

_ENUMS: dict[type[Enum], str] = {
    Role: "role",
    PropertyKind: "property_kind",
    PropertyStatus: "property_status",
    ImageStatus: "image_status",
}

# What a reader of the stored JSON needs to present a tagged value without decoding it into
# objects (``api.event_json``): each record tag's field names, in the class's order, and the enum tags.
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in fields(record_type)) for record_type, name in _RECORDS.items()
}
ENUM_TAGS: frozenset[str] = frozenset(_ENUMS.values())


_NESTED = (dict, list)  # what orjson.loads nests; everything else it gives is a leaf


_PERSONAL_TAGS = frozenset(_RECORDS[record_type] for record_type in PERSONAL_RECORDS)


class OrjsonTranscoder(Transcoder):
    def __init__(self, cipher: PersonalDataCipher | None = None) -> None:
        self.cipher = cipher
        self._decoders: dict[str, Any] = {name: decode for name, _, decode in _SCALARS.values()}
        for record_type, name in _RECORDS.items():
            self._decoders[name] = _record_decoder(record_type)
        for enum_type, name in _ENUMS.items():
            self._decoders[name] = _enum_decoder(enum_type)

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(self._tag(obj))

    def decode(self, data: bytes) -> Any:
        return self._untag(orjson.loads(data))

    def _tag(self, value: Any) -> Any:
        kind = type(value)
        if kind in (str, int, float, bool) or value is None:
            return value
        if kind is dict:
            return {key: self._tag(item) for key, item in value.items()}
        if kind in (list, tuple):
            return [self._tag(item) for item in value]
        if kind in _SCALARS:
            name, encode, _ = _SCALARS[kind]
            return {TYPE_KEY: name, DATA_KEY: encode(value)}
        if kind in _ENUMS:
            return {TYPE_KEY: _ENUMS[kind], DATA_KEY: value.value}
        if kind in _RECORDS:
            data = {f.name: self._tag(getattr(value, f.name)) for f in fields(value)}
            if self.cipher is not None and kind in PERSONAL_RECORDS:
                self._seal(value, data)
            return {TYPE_KEY: _RECORDS[kind], DATA_KEY: data}
        raise TranscodingNotRegisteredError(f"cannot store a value of type {kind.__qualname__}")

    def _seal(self, record: Any, data: dict[str, Any]) -> None:
        """Replace the record's non-empty personal values by their sealed form, in place."""
        assert self.cipher is not None
        layout = PERSONAL_RECORDS[type(record)]
        subject = str(getattr(record, layout.subject_field))
        for personal in layout.personal:
            plain = getattr(record, personal.name)
            if plain:
                token = self.cipher.seal(subject, personal.name, personal.lifetime, str(plain))
                data[personal.name] = {TYPE_KEY: SEALED, DATA_KEY: token}

    def _untag(self, value: Any) -> Any:
        # Plain leaves (most of an event) are passed on without a call: rebuilds decode every event.
        if type(value) is list:
            return [self._untag(item) if type(item) in _NESTED else item for item in value]
        if type(value) is not dict:
            return value
        if len(value) == 2 and TYPE_KEY in value and DATA_KEY in value:
            tag, data = value[TYPE_KEY], value[DATA_KEY]
            if tag == SEALED:
                return Sealed.stored(data)
            decode = self._decoders.get(tag)
            if decode is None:
                raise TranscodingNotRegisteredError(f"unknown stored type {tag!r}")
            if self.cipher is not None and tag in _PERSONAL_TAGS:
                return decode(self._opened(data))
            return decode(self._untag(data) if type(data) in _NESTED else data)
        return {key: self._untag(item) if type(item) in _NESTED else item for key, item in value.items()}

    def decode_value(self, value: Any) -> Any:
        """A value as ``orjson.loads`` gave it from stored bytes, decoded (personal fields opened):
        for readers that present most of the stored JSON as it is and decode one part of it."""
        return self._untag(value)

    def _opened(self, data: dict[str, Any]) -> dict[str, Any]:
        """A personal record's fields, each sealed one opened here, where its name (bound into
        its box) is known. Written as one loop, a sealed value found by a dict lookup of its token
        (``PersonalDataCipher.opened``): every event's audit context goes through it."""
        assert self.cipher is not None
        lately = self.cipher.opened()
        opened = {}
        for name, item in data.items():
            if type(item) is dict:
                if item.get(TYPE_KEY) == SEALED:
                    token = item[DATA_KEY]
                    hit = lately.get(token) if type(token) is str else None
                    if hit is not None and hit[0] == name:
                        opened[name] = hit[1]
                    else:
                        opened[name] = self.cipher.open(name, token)
                else:
                    opened[name] = self._untag(item)
            else:
                opened[name] = item
        return opened


def _record_decoder(record_type: type) -> Any:
    """Rebuild a stored value object without re-running today's validation on old facts.

    The decoded fields become the object's ``__dict__`` in one step (the mapper makes events the
    same way): ``data`` is always a dict the decoder has just built, shared with nothing.
    """

    def decode(data: dict[str, Any]) -> Any:
        record: Any = object.__new__(record_type)
        object.__setattr__(record, "__dict__", data)
        return record

    return decode


def _enum_decoder(enum_type: type[Enum]) -> Any:
    """The member with a stored value by one dict lookup: calling the enum (its metaclass's
    ``__call__``, then ``__new__``) cost more than the rest of decoding a role, for every event."""
    members = enum_type._value2member_map_

    def decode(value: Any) -> Any:
        try:
            return members[value]
        except (KeyError, TypeError):
            return enum_type(value)  # raises the enum's own error for a value it does not have

    return decode
