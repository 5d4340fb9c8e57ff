"""The Property aggregate's rules, in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from domain.audit import AuditContext
from domain.errors import (
    InvalidAddress,
    InvalidCountry,
    InvalidCurrency,
    InvalidName,
    InvalidOrganisation,
    InvalidRent,
    MissingAuditContext,
    NothingChanged,
    PropertyArchived,
    UnknownPropertyKind,
)
from domain.property import Property
from domain.values import Address, PropertyKind, PropertyStatus, Rent
from tests.conftest import quay_street, rent


def register(name: str = "Harbour View Flats") -> Property:
    return Property.register("acme", name, PropertyKind.APARTMENT, quay_street(), rent())


def test_registered_property_is_active_with_what_was_given(alice: AuditContext) -> None:
    prop = register()
    assert (prop.name, prop.kind, prop.status, prop.organisation) == (
        "Harbour View Flats",
        PropertyKind.APARTMENT,
        PropertyStatus.ACTIVE,
        "acme",
    )
    assert prop.rent == Rent(Decimal("1250.00"), "EUR")
    [registered] = prop.collect_events()
    assert type(registered).__name__ == "PropertyRegistered"
    assert registered.originator_version == 1


def test_a_registration_recorded_before_version_2_reads_as_active() -> None:
    """Version 1 had no status: every property then started active (docs/adr/0019)."""
    state: dict[str, object] = {"name": "Harbour View Flats"}
    Property.PropertyRegistered.upcast_v1_v2(state)
    assert state == {"name": "Harbour View Flats", "status": PropertyStatus.ACTIVE}
    assert Property.PropertyRegistered.class_version == 2


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_name_must_be_present_and_short(alice: AuditContext, name: str) -> None:
    with pytest.raises(InvalidName):
        register(name)


def test_names_are_trimmed(alice: AuditContext) -> None:
    assert register("  Harbour  ").name == "Harbour"


def test_property_needs_an_organisation(alice: AuditContext) -> None:
    with pytest.raises(InvalidOrganisation):
        Property.register(" ", "Harbour", PropertyKind.HOUSE, quay_street(), None)


def test_unknown_kind_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(UnknownPropertyKind, match="house, apartment, commercial, land"):
        PropertyKind.parse("castle")


@pytest.mark.parametrize("country", ["ZZ", "pt", "PRT", ""])
def test_country_must_be_an_iso_alpha2_code(country: str) -> None:
    with pytest.raises(InvalidCountry):
        Address("1 Quay St", "Lisbon", "1100-001", country)


@pytest.mark.parametrize("field", ["street", "city", "postal_code"])
def test_address_parts_must_not_be_blank(field: str) -> None:
    values = {"street": "1 Quay St", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"}
    values[field] = "  "
    with pytest.raises(InvalidAddress, match=field):
        Address(**values)


@pytest.mark.parametrize("amount", ["-0.01", "1.005", "NaN", "Infinity", "1000000000"])
def test_rent_amount_must_be_a_sane_non_negative_money_amount(amount: str) -> None:
    with pytest.raises(InvalidRent):
        Rent(Decimal(amount), "EUR")


def test_rent_currency_must_be_iso_4217() -> None:
    with pytest.raises(InvalidCurrency):
        Rent(Decimal("10"), "EURO")


def test_rent_is_kept_to_the_cent() -> None:
    assert str(Rent(Decimal("1250"), "EUR").amount) == "1250.00"


def test_each_change_records_its_own_event(alice: AuditContext) -> None:
    prop = register()
    prop.rename("Harbour View")
    prop.correct_address(dataclasses.replace(quay_street(), street="2 Quay St"))
    prop.change_rent(None)
    prop.archive("sold")
    names = [type(event).__name__ for event in prop.collect_events()]
    assert names == [
        "PropertyRegistered",
        "PropertyRenamed",
        "AddressCorrected",
        "RentChanged",
        "PropertyArchived",
    ]
    assert prop.version == 5
    assert prop.status is PropertyStatus.ARCHIVED


def test_no_op_changes_are_refused_and_record_nothing(alice: AuditContext) -> None:
    prop = register()
    prop.collect_events()
    attempts: list[tuple[Callable[[Any], None], Any]] = [
        (prop.rename, " Harbour View Flats "),
        (prop.correct_address, quay_street()),
        (prop.change_rent, rent("1250")),
    ]
    for command, value in attempts:
        with pytest.raises(NothingChanged):
            command(value)
    assert prop.collect_events() == []
    assert prop.version == 1


def test_archived_property_refuses_every_change(alice: AuditContext) -> None:
    prop = register()
    prop.archive()
    prop.collect_events()
    attempts: list[tuple[Callable[[Any], None], Any]] = [
        (prop.rename, "New"),
        (prop.correct_address, dataclasses.replace(quay_street(), city="Porto")),
        (prop.change_rent, None),
        (prop.archive, "again"),
    ]
    for command, value in attempts:
        with pytest.raises(PropertyArchived):
            command(value)
    assert prop.collect_events() == []


def test_nothing_is_recorded_without_an_audit_context() -> None:
    with pytest.raises(MissingAuditContext):
        register()


@pytest.mark.parametrize("name", ["Harbour\x00View", "Tab\tinside", "Bell\x07"])
def test_names_with_control_characters_are_refused(alice: AuditContext, name: str) -> None:
    with pytest.raises(InvalidName, match="control characters"):
        register(name)
