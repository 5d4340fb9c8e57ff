"""Operating the read models over HTTP: status, readiness, dashboards, waiting for a position."""

from __future__ import annotations

from collections.abc import Callable

from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from domain.audit import acting_as
from domain.service import PropertyService
from domain.values import PropertyKind
from projections.registry import PROJECTIONS, all_projections
from projections.runner import catch_up
from tests.api.conftest import create
from tests.conftest import context_for, quay_street


def write_behind_the_api(service: PropertyService, name: str = "Written elsewhere") -> int:
    """A write by another process whose read models have not caught up yet."""
    with acting_as(context_for("bob")):
        receipt = service.register_property(name=name, kind=PropertyKind.HOUSE, address=quay_street())
    assert receipt.position is not None
    return receipt.position


def test_admins_see_every_projection_status(
    client_for: Callable[..., APIClient], service: PropertyService
) -> None:
    create(client_for("alice"))
    body = client_for("root", "acme", "admin").get("/api/projections").json()
    rows = {row["name"]: row for row in body["projections"]}
    assert set(rows) == set(PROJECTIONS)
    states = {
        name: (row["position"], row["head"], row["lag_events"], row["state"]) for name, row in rows.items()
    }
    assert states == {
        name: (1, 1, 0, "live") if projection.inline else (0, 1, 1, "catching up")
        for name, projection in PROJECTIONS.items()
    }, "a write waits for the inline read models only; the workers move the others"
    for role in ("manager", "auditor"):
        assert client_for(f"not-{role}", "acme", role).get("/api/projections").status_code == 403


def test_dashboard_counts_per_organisation_with_tenancy(client_for: Callable[..., APIClient]) -> None:
    alice, bob = client_for("alice"), client_for("bob", "globex")
    sold = create(alice)
    create(alice)
    create(bob)
    alice.post(f"/api/properties/{sold['id']}/archive", {}, format="json")
    mine = alice.get("/api/dashboard").json()["organisations"]
    assert mine == [
        {
            "organisation": "acme",
            "active_properties": 1,
            "archived_properties": 1,
            "images_pending": 0,
            "images_failed": 0,
        }
    ]
    everyone = client_for("ann", "audit-firm", "auditor").get("/api/dashboard").json()["organisations"]
    assert [row["organisation"] for row in everyone] == ["acme", "globex"]


def test_ready_is_503_while_a_read_model_lags_too_far(
    client_for: Callable[..., APIClient], service: PropertyService, settings: Settings
) -> None:
    settings.COSMO_READY_MAX_LAG_EVENTS = 0
    client = APIClient()
    assert client.get("/ready").status_code == 200
    write_behind_the_api(service)
    lagging = client.get("/ready")
    assert lagging.status_code == 503
    assert "property_list" in lagging.json()["error"]["message"]
    for projection in all_projections():
        catch_up(projection, service)
    assert client.get("/ready").status_code == 200


def test_reads_wait_for_a_named_position_then_give_up_with_503(
    manager: APIClient, service: PropertyService, settings: Settings
) -> None:
    settings.COSMO_MIN_POSITION_WAIT_SECONDS = 0.2
    position = write_behind_the_api(service)
    behind = manager.get("/api/properties", HTTP_X_COSMO_MIN_POSITION=str(position))
    assert behind.status_code == 503
    assert behind.json()["error"]["code"] == "projection_behind"
    assert behind["Retry-After"] == "1"
    catch_up(all_projections()[0], service)
    caught_up = manager.get("/api/properties", HTTP_X_COSMO_MIN_POSITION=str(position))
    assert caught_up.status_code == 200
    assert manager.get("/api/properties", HTTP_X_COSMO_MIN_POSITION="soon").status_code == 400
