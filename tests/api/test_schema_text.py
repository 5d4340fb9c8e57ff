"""The schema's text and code patterns accept exactly what the API accepts: no more, no less."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.test import APIClient

from api.query import ascii_integer
from api.serializers import MAX_POSITION, IsoCodeField, TextField
from api.text_schema import code_pattern, digits_up_to, text_pattern
from domain.errors import InvalidValue
from domain.iso_codes import COUNTRY_CODES
from domain.values import clean_text
from tests.api.conftest import NEW_PROPERTY

TRICKY = "a \u00a0\u3000\t\n\u2028\u200b\u200c\u200d\u202e\ufeff\u00ad\U000e0041\x00\x85"
texts = st.text(alphabet=st.sampled_from(TRICKY), max_size=8) | st.text(max_size=12)


def accepted(field: serializers.Field[Any, Any, Any, Any], value: Any, *, required: bool) -> bool:
    try:
        clean_text(field.run_validation(value), "name", required=required)
    except (serializers.ValidationError, InvalidValue):
        return False
    return True


@pytest.mark.parametrize("required", [True, False])
@settings(max_examples=400, deadline=None)
@given(value=texts)
@example(value="a\u200db")
@example(value="a\u200d")
@example(value="\n a \t")
@example(value=" " * 5)
def test_text_pattern_matches_exactly_what_text_fields_accept(value: str, required: bool) -> None:
    field = TextField(max_length=10, allow_blank=not required)
    # For a blank-allowed field the schema has a second branch for "" (see text_pattern).
    matches = (value == "" and not required) or (
        re.search(text_pattern(required=required), value) is not None and len(value) <= 10
    )
    assert matches == accepted(field, value, required=required), repr(value)


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet="PTptXx \n\u00a0", max_size=5))
@example(value=" pT\n")
def test_code_pattern_matches_exactly_what_code_fields_accept(value: str) -> None:
    try:
        accepted = IsoCodeField(COUNTRY_CODES).run_validation(value) in COUNTRY_CODES
    except serializers.ValidationError:
        accepted = False
    assert (re.search(code_pattern(COUNTRY_CODES), value) is not None) == accepted, repr(value)


@pytest.mark.parametrize("name", [42, 4.2, True, ["a"], {"a": 1}])
def test_text_fields_take_only_json_strings(manager: APIClient, name: Any) -> None:
    response = manager.post("/api/properties", {**NEW_PROPERTY, "name": name}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_codes_are_taken_in_any_case_and_stored_upper_case(manager: APIClient) -> None:
    body = {**NEW_PROPERTY, "address": {**NEW_PROPERTY["address"], "country": " pt"}}
    body["rent"] = {"amount": "10.00", "currency": "eur"}
    created = manager.post("/api/properties", body, format="json").json()
    assert (created["address"]["country"], created["rent"]["currency"]) == ("PT", "EUR")


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet="0123456789", min_size=1, max_size=21) | st.integers(0, 2**64).map(str))
@example(value=str(MAX_POSITION))
@example(value=str(MAX_POSITION + 1))
@example(value="0" * 19)
def test_the_version_pattern_matches_exactly_the_numbers_the_server_reads(value: str) -> None:
    assert (re.fullmatch(digits_up_to(MAX_POSITION), value) is not None) == (ascii_integer(value) is not None)
