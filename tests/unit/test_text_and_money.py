"""Text that shows what it says and money that is exact: value rules every entry point shares."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.audit import AuditContext
from domain.errors import InvalidAddress, InvalidName, InvalidRent, InvalidValue
from domain.image import valid_caption
from domain.property import Property
from domain.values import Address, PropertyKind, Rent, clean_text
from tests.conftest import quay_street, rent

BIDI_CONTROLS = [
    "\u202a",  # LEFT-TO-RIGHT EMBEDDING
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE: "gnp.exe" shows as "exe.png"
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",
    "\u061c",  # ARABIC LETTER MARK
]
INVISIBLE = [
    "\ufeff",  # BOM / zero-width no-break space
    "\u200b",  # zero-width space
    "\u2060",  # word joiner
    "\u00ad",  # soft hyphen
    "\U000e0041",  # tag LATIN CAPITAL LETTER A: hidden text
]


def register(name: str) -> Property:
    return Property.register("acme", name, PropertyKind.APARTMENT, quay_street(), rent())


@pytest.mark.parametrize("char", BIDI_CONTROLS + INVISIBLE)
def test_names_with_bidi_controls_or_invisible_format_characters_are_refused(
    alice: AuditContext, char: str
) -> None:
    with pytest.raises(InvalidName, match="invisible formatting characters") as refused:
        register(f"Harbour{char}View")
    assert refused.value.field == "name"


@pytest.mark.parametrize("part", ["street", "city", "postal_code"])
@pytest.mark.parametrize("char", ["\u202e", "\ufeff", "\u200b"])
def test_address_parts_refuse_invisible_format_characters_naming_the_part(part: str, char: str) -> None:
    values = {"street": "1 Quay St", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"}
    values[part] = f"{char}{values[part]}"
    with pytest.raises(InvalidAddress) as refused:
        Address(**values)
    assert refused.value.field == f"address.{part}"


@pytest.mark.parametrize("char", ["\u202e", "\ufeff", "\u200b"])
def test_captions_and_archive_reasons_refuse_invisible_format_characters(
    alice: AuditContext, char: str
) -> None:
    with pytest.raises(InvalidValue) as caption:
        valid_caption(f"Sea{char}view")
    assert caption.value.field == "caption"
    with pytest.raises(InvalidValue) as reason:
        register("Harbour View").archive(f"sold{char}")
    assert reason.value.field == "reason"


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\ud800"])
def test_line_separators_and_lone_surrogates_are_refused(char: str) -> None:
    with pytest.raises(InvalidValue, match="control characters"):
        clean_text(f"a{char}b", "name")


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f469\u200d\U0001f527 Workshop",  # woman mechanic: an emoji ZWJ sequence
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 Family home",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: a ZWNJ inside a word
        "\u05d1\u05d9\u05ea \u05d4\u05e0\u05de\u05dc",  # Hebrew, right to left without any control
        "Caf\u00e9 \U0001f1f5\U0001f1f9",  # a flag made of regional indicators
    ],
)
def test_joiners_between_visible_characters_and_plain_rtl_text_are_allowed(text: str) -> None:
    assert clean_text(text, "name") == text


@pytest.mark.parametrize("text", ["\u200dHarbour", "Harbour \u200d View", "Harbour\u200d", "a\u200d\u200db"])
def test_a_joiner_that_joins_nothing_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="zero-width joiner"):
        clean_text(text, "name")


@pytest.mark.parametrize("amount", ["-0", "-0.00", "-0.0"])
def test_negative_zero_rent_is_refused(amount: str) -> None:
    with pytest.raises(InvalidRent, match="negative zero") as refused:
        Rent(Decimal(amount), "EUR")
    assert refused.value.field == "rent.amount"


def test_zero_rent_is_an_amount_like_any_other() -> None:
    assert str(Rent(Decimal("0"), "EUR").amount) == "0.00"


def test_a_float_is_not_a_rent_amount() -> None:
    with pytest.raises(InvalidRent, match="decimal"):
        Rent(1250.5, "EUR")  # type: ignore[arg-type]
