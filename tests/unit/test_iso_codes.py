from __future__ import annotations

import pycountry

from domain.iso_codes import COUNTRY_CODES, CURRENCY_CODES


def test_country_codes_match_iso_3166() -> None:
    assert {country.alpha_2 for country in pycountry.countries} == COUNTRY_CODES


def test_currency_codes_match_iso_4217_without_test_codes() -> None:
    assert {currency.alpha_3 for currency in pycountry.currencies} - {"XTS", "XXX"} == CURRENCY_CODES
