"""Value objects: immutable, validated on construction, compared by value."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from domain.errors import (
    InvalidAddress,
    InvalidCountry,
    InvalidCurrency,
    InvalidRent,
    InvalidValue,
    UnknownPropertyKind,
)
from domain.iso_codes import COUNTRY_CODES, CURRENCY_CODES

MAX_TEXT_LENGTH = 200
MAX_RENT = Decimal("1000000000")
CENTS = Decimal("0.01")


class PropertyKind(StrEnum):
    HOUSE = "house"
    APARTMENT = "apartment"
    COMMERCIAL = "commercial"
    LAND = "land"

    @classmethod
    def parse(cls, value: str) -> PropertyKind:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(kind.value for kind in cls)
            raise UnknownPropertyKind(
                f"unknown kind {value!r}: expected one of {allowed}", field="kind"
            ) from None


class PropertyStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


# Control characters (PostgreSQL refuses NUL, logs choke on the rest), line and paragraph
# separators (they break lines in logs and JavaScript), lone surrogates (no encoding can store them).
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Zero-width (non-)joiners are format characters that real text needs: emoji sequences such as
# "👩‍🔧" and Persian or Indic words are spelled with them. They are allowed only between two
# visible characters, where they join something; every other format character (category Cf:
# bidi controls such as U+202E, BOM, zero-width space, tag characters...) is refused.
_JOINERS = frozenset({"\u200c", "\u200d"})


def _is_invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def _misplaced_format_character(text: str) -> bool:
    """A format character other than a joiner, or a joiner that joins nothing."""
    for index, char in enumerate(text):
        if unicodedata.category(char) != "Cf":
            continue
        if char not in _JOINERS or index in (0, len(text) - 1):
            return True
        if _is_invisible(text[index - 1]) or _is_invisible(text[index + 1]):
            return True
    return False


def clean_text(
    value: str,
    field: str,
    *,
    error: type[InvalidValue] = InvalidValue,
    max_length: int = MAX_TEXT_LENGTH,
    required: bool = True,
) -> str:
    """Trimmed, bounded text that shows what it says: no control or invisible format characters.

    A bidi override (U+202E) makes "gnp.exe" display as "exe.png", and a zero-width space makes
    two names that look the same differ, so text with them is refused rather than cleaned.
    """
    text = value.strip()
    label = field.split(".")[-1]
    if required and not text:
        raise error(f"{label} must not be empty", field=field)
    if len(text) > max_length:
        raise error(f"{label} is longer than {max_length} characters", field=field)
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text):
        raise error(f"{label} must not contain control characters", field=field)
    if _misplaced_format_character(text):
        raise error(
            f"{label} must not contain invisible formatting characters (bidi controls, zero-width "
            "spaces, BOM); a zero-width joiner is allowed only between two visible characters",
            field=field,
        )
    return text


@dataclass(frozen=True)
class Address:
    """A postal address; the country is an ISO 3166-1 alpha-2 code."""

    street: str
    city: str
    postal_code: str
    country: str

    def __post_init__(self) -> None:
        for part in ("street", "city", "postal_code"):
            object.__setattr__(
                self, part, clean_text(getattr(self, part), f"address.{part}", error=InvalidAddress)
            )
        if self.country not in COUNTRY_CODES:
            raise InvalidCountry(
                f"country {self.country!r} is not an ISO 3166-1 alpha-2 code", field="address.country"
            )


@dataclass(frozen=True)
class Rent:
    """A monthly rent: a non-negative amount with at most two decimals, in an ISO 4217 currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        try:
            exponent = self.amount.as_tuple().exponent
            finite = self.amount.is_finite()
        except (AttributeError, InvalidOperation):
            raise InvalidRent("amount must be a decimal number", field="rent.amount") from None
        if not finite or not isinstance(exponent, int):
            raise InvalidRent("amount must be a finite decimal number", field="rent.amount")
        if self.amount < 0:
            raise InvalidRent("amount must not be negative", field="rent.amount")
        if self.amount.is_signed():
            raise InvalidRent("amount must not be negative zero", field="rent.amount")
        if self.amount >= MAX_RENT:
            raise InvalidRent(f"amount must be below {MAX_RENT}", field="rent.amount")
        if exponent < -2:
            raise InvalidRent("amount has more than two decimal places", field="rent.amount")
        if self.currency not in CURRENCY_CODES:
            raise InvalidCurrency(
                f"currency {self.currency!r} is not an ISO 4217 code", field="rent.currency"
            )
        object.__setattr__(self, "amount", self.amount.quantize(CENTS))
