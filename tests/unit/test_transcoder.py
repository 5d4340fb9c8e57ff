"""Stored events round-trip exactly, and contain no Python class paths."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import TranscodingNotRegisteredError
from hypothesis import given
from hypothesis import strategies as st

from domain.audit import Role
from domain.iso_codes import COUNTRY_CODES, CURRENCY_CODES
from domain.values import Address, PropertyKind, PropertyStatus, Rent
from infrastructure.transcoder import OrjsonTranscoder
from tests.conftest import context_for, quay_street

transcoder = OrjsonTranscoder()


def test_every_registered_type_round_trips() -> None:
    state = {
        "id": uuid4(),
        "amount": Decimal("12.30"),
        "at": datetime(2026, 11, 27, 4, 55, tzinfo=UTC),
        "on": date(1999, 12, 31),
        "address": quay_street(),
        "rent": Rent(Decimal("1250.00"), "EUR"),
        "rent_removed": None,
        "audit": context_for("alice"),
        "role": Role.AUDITOR,
        "kind": PropertyKind.LAND,
        "status": PropertyStatus.ARCHIVED,
        "nested": {"list": [1, "two", 3.5, True]},
    }
    assert transcoder.decode(transcoder.encode(state)) == state


def test_stored_bytes_are_plain_json_with_stable_type_names() -> None:
    stored = orjson.loads(transcoder.encode({"address": quay_street()}))
    assert stored == {
        "address": {
            "_type_": "address",
            "_data_": {"street": "1 Quay St", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"},
        }
    }


def test_unregistered_types_are_refused_not_stringified() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        transcoder.encode({"raw": b"bytes"})


def test_decimal_keeps_its_exact_digits() -> None:
    big = Decimal("123456789012345678901234567890.12")
    assert transcoder.decode(transcoder.encode({"x": big}))["x"].as_tuple() == big.as_tuple()


text = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), min_size=1, max_size=50
).filter(lambda s: s.strip() == s and s != "")


@given(
    street=text,
    city=text,
    postal_code=text,
    country=st.sampled_from(sorted(COUNTRY_CODES)),
    cents=st.integers(min_value=0, max_value=99_999_999_999),
    currency=st.sampled_from(sorted(CURRENCY_CODES)),
    label=st.text(max_size=30),
)
def test_arbitrary_valid_values_round_trip(
    street: str, city: str, postal_code: str, country: str, cents: int, currency: str, label: str
) -> None:
    state = {
        "address": Address(street, city, postal_code, country),
        "rent": Rent(Decimal(cents).scaleb(-2), currency),
        "label": label,
    }
    assert transcoder.decode(transcoder.encode(state)) == state


@given(
    moment=st.datetimes(timezones=st.just(UTC)),
    day=st.dates(),
    amount=st.decimals(allow_nan=False, allow_infinity=False),
    label=st.text(),
)
def test_far_dates_big_decimals_and_any_text_round_trip(
    moment: datetime, day: date, amount: Decimal, label: str
) -> None:
    state = {"at": moment, "on": day, "amount": amount, "label": label, "": label}
    decoded = transcoder.decode(transcoder.encode(state))
    assert decoded == state
    assert decoded["amount"].as_tuple() == amount.as_tuple()
