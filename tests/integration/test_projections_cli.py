"""The operator's view: ``projections status`` and ``projections rebuild`` as commands."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from domain.audit import AuditContext
from domain.service import PropertyService
from domain.values import PropertyKind
from projections.models import PropertyListing
from projections.registry import PROJECTIONS, all_projections
from projections.runner import catch_up
from tests.conftest import quay_street, rent


@pytest.fixture
def store(service: PropertyService, alice: AuditContext) -> PropertyService:
    for n in range(12):
        service.register_property(name=f"P{n}", kind=PropertyKind.LAND, address=quay_street(), rent=rent())
    for projection in all_projections():
        catch_up(projection, service)
    return service


def test_status_lists_every_projection_with_its_position(
    store: PropertyService, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("projections", "status", "--json")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["name"] for row in rows} == set(PROJECTIONS)
    assert all((row["position"], row["head"], row["state"]) == (12, 12, "live") for row in rows)
    call_command("projections", "status")
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("projection")
    assert "property_list" in table


def test_rebuild_all_shows_progress_and_swaps(
    store: PropertyService, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("projections", "rebuild", "--all", "--batch-size", "5")
    out, err = capsys.readouterr()
    assert "property_list: rebuilt 12 events into generation 2" in out
    assert "ev/s" in err or "ev]" in err, "a tqdm progress bar with a rate"
    assert PropertyListing.live().count() == 12
    call_command("projections", "rebuild", "--all", "--batch-size", "5", "--one-process")
    assert "property_list: rebuilt 12 events into generation 3" in capsys.readouterr().out
    assert PropertyListing.live().count() == 12


def test_rebuild_check_reports_drift_and_fails(
    store: PropertyService, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("projections", "rebuild", "--check", "property_list")
    assert "no drift" in capsys.readouterr().out
    PropertyListing.live().filter(name="P3").update(status="archived")
    with pytest.raises(CommandError, match="drift"):
        call_command("projections", "rebuild", "--check", "property_list")
    assert "1 rows only in the live model" in capsys.readouterr().out


def test_unknown_names_are_refused(store: PropertyService) -> None:
    with pytest.raises(CommandError, match="known: property_list"):
        call_command("projections", "rebuild", "nope")
    with pytest.raises(CommandError, match="--all"):
        call_command("projections", "rebuild")
