"""The property endpoints through the DRF test client, on a real database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from domain.audit import Role
from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, create


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return dict(body["error"])


def test_registering_answers_201_with_the_property_its_version_and_location(manager: APIClient) -> None:
    response = manager.post("/api/properties", NEW_PROPERTY, format="json")
    assert response.status_code == 201
    body = response.json()
    assert response["ETag"] == '"1"'
    assert response["Location"] == f"/api/properties/{body['id']}"
    assert int(response["X-Cosmo-Position"]) >= 1
    assert {k: body[k] for k in ("version", "name", "kind", "status", "address", "rent", "organisation")} == {
        "version": 1,
        "name": "Harbour View Flats",
        "kind": "apartment",
        "status": "active",
        "address": NEW_PROPERTY["address"],
        "rent": {"amount": "1250.00", "currency": "EUR"},
        "organisation": "acme",
    }
    assert body["created_at"].endswith("Z")


def test_rent_is_optional(manager: APIClient) -> None:
    body = create(manager, rent=None)
    assert body["rent"] is None
    assert manager.get(f"/api/properties/{body['id']}").json()["rent"] is None


def test_the_next_read_shows_the_write(manager: APIClient) -> None:
    created = create(manager)
    response = manager.get(f"/api/properties/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response["ETag"] == '"1"'
    assert manager.get(f"/api/properties/{created['id']}", HTTP_IF_NONE_MATCH='"1"').status_code == 304


@pytest.mark.parametrize(
    ("body", "field_path"),
    [
        ({"name": ""}, ["name"]),
        ({"name": "   "}, ["name"]),
        ({"kind": "castle"}, ["kind"]),
        ({"address": {**NEW_PROPERTY["address"], "country": "ZZ"}}, ["address", "country"]),
        ({"address": {**NEW_PROPERTY["address"], "street": ""}}, ["address", "street"]),
        ({"address": "1 Quay St"}, ["address"]),
        ({"rent": {"amount": "-1.00", "currency": "EUR"}}, ["rent", "amount"]),
        ({"rent": {"amount": "10.001", "currency": "EUR"}}, ["rent", "amount"]),
        ({"rent": {"amount": "ten", "currency": "EUR"}}, ["rent", "amount"]),
        ({"rent": {"amount": "10", "currency": "EURO"}}, ["rent", "currency"]),
        ({"rent": {"amount": "10", "currency": "ZZZ"}}, ["rent", "currency"]),
        ({"organisation": "globex"}, ["organisation"]),
        ({"audit": {"username": "someone else"}}, ["audit"]),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_records_nothing(
    manager: APIClient, service: PropertyService, body: dict[str, Any], field_path: list[str]
) -> None:
    response = manager.post("/api/properties", {**NEW_PROPERTY, **body}, format="json")
    assert response.status_code == 400, response.content
    error = error_of(response)
    node: Any = error["fields"]
    for key in field_path:
        node = node[key]
    assert node
    assert error["message"]
    assert service.recorder.max_notification_id() is None


def test_malformed_json_and_wrong_media_type_are_clear_4xx(manager: APIClient) -> None:
    broken = manager.post("/api/properties", b'{"name": ', content_type="application/json")
    assert broken.status_code == 400
    assert error_of(broken)["code"] == "parse_error"
    form = manager.post("/api/properties", {"name": "x"})
    assert form.status_code == 415
    assert error_of(form)["code"] == "unsupported_media_type"


def test_missing_fields_are_all_reported(manager: APIClient) -> None:
    error = error_of(manager.post("/api/properties", {}, format="json"))
    assert set(error["fields"]) == {"name", "kind", "address"}


def test_patch_with_current_version_changes_fields_and_bumps_version(manager: APIClient) -> None:
    created = create(manager)
    response = manager.patch(
        f"/api/properties/{created['id']}",
        {"name": "Harbour View", "rent": {"amount": "1300", "currency": "EUR"}},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"3"'
    body = response.json()
    assert (body["name"], body["rent"]["amount"], body["version"]) == ("Harbour View", "1300.00", 3)


def test_stale_if_match_is_412_and_records_nothing(manager: APIClient, service: PropertyService) -> None:
    created = create(manager)
    manager.patch(f"/api/properties/{created['id']}", {"name": "One"}, format="json", HTTP_IF_MATCH='"1"')
    head = service.recorder.max_notification_id()
    stale = manager.patch(
        f"/api/properties/{created['id']}", {"name": "Two"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert stale.status_code == 412
    assert error_of(stale)["code"] == "version_conflict"
    assert service.recorder.max_notification_id() == head
    assert manager.get(f"/api/properties/{created['id']}").json()["name"] == "One"


def test_unreadable_if_match_is_400(manager: APIClient) -> None:
    created = create(manager)
    response = manager.patch(
        f"/api/properties/{created['id']}", {"name": "x"}, format="json", HTTP_IF_MATCH="yesterday"
    )
    assert response.status_code == 400
    assert "If-Match" in error_of(response)["fields"]


def test_patch_that_changes_nothing_keeps_the_version(manager: APIClient, service: PropertyService) -> None:
    created = create(manager)
    response = manager.patch(
        f"/api/properties/{created['id']}", {"name": "Harbour View Flats"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert service.recorder.max_notification_id() == 1


def test_patch_refuses_fields_that_cannot_change(manager: APIClient) -> None:
    created = create(manager)
    response = manager.patch(f"/api/properties/{created['id']}", {"kind": "house"}, format="json")
    assert response.status_code == 400
    assert "kind" in error_of(response)["fields"]


def test_archived_property_refuses_changes_with_409(manager: APIClient) -> None:
    created = create(manager)
    archived = manager.post(f"/api/properties/{created['id']}/archive", {"reason": "sold"}, format="json")
    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    for response in (
        manager.patch(f"/api/properties/{created['id']}", {"name": "New"}, format="json"),
        manager.post(f"/api/properties/{created['id']}/archive", {}, format="json"),
    ):
        assert response.status_code == 409
        assert error_of(response)["code"] == "property_archived"


def test_list_filters_searches_and_paginates(manager: APIClient) -> None:
    lisbon = create(manager, name="Harbour View Flats")
    create(manager, name="Tagus Loft")
    create(manager, name="Ribeira House", address={**NEW_PROPERTY["address"], "city": "Porto"})
    manager.post(f"/api/properties/{lisbon['id']}/archive", {}, format="json")

    def names(query: str) -> list[str]:
        response = manager.get(f"/api/properties?{query}")
        assert response.status_code == 200, response.content
        return sorted(p["name"] for p in response.json()["results"])

    assert names("") == ["Harbour View Flats", "Ribeira House", "Tagus Loft"]
    assert names("search=harb") == ["Harbour View Flats"]
    assert names("city=porto") == ["Ribeira House"]
    assert names("status=active") == ["Ribeira House", "Tagus Loft"]
    assert names("status=archived&city=Lisbon") == ["Harbour View Flats"]
    page = manager.get("/api/properties?page_size=2&page=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 1
    assert page["previous"] is not None
    assert page["next"] is None


def test_bad_list_queries_are_400_or_404(manager: APIClient) -> None:
    assert manager.get("/api/properties?status=sold").status_code == 400
    assert manager.get("/api/properties?page=99").status_code == 404


def test_state_at_a_version_and_as_of_a_time(manager: APIClient) -> None:
    created = create(manager)
    before_rename = datetime.fromisoformat(created["created_at"])
    manager.patch(f"/api/properties/{created['id']}", {"name": "Harbour View"}, format="json")
    url = f"/api/properties/{created['id']}"
    assert manager.get(f"{url}?version=1").json()["name"] == "Harbour View Flats"
    assert manager.get(f"{url}?version=2").json()["name"] == "Harbour View"
    as_of = manager.get(url, {"as_of": before_rename.isoformat()})
    assert as_of.status_code == 200
    assert (as_of.json()["name"], as_of["ETag"]) == ("Harbour View Flats", '"1"')
    too_early = (before_rename - timedelta(days=1)).isoformat()
    assert manager.get(url, {"as_of": too_early}).status_code == 404
    assert manager.get(f"{url}?version=9").status_code == 404
    assert manager.get(f"{url}?version=0").status_code == 400
    assert manager.get(f"{url}?as_of=last-tuesday").status_code == 400


def test_other_organisations_properties_look_missing(client_for: Callable[..., APIClient]) -> None:
    alice, mallory = client_for("alice"), client_for("mallory", "globex")
    created = create(alice)
    url = f"/api/properties/{created['id']}"
    for response in (
        mallory.get(url),
        mallory.get(f"{url}?version=1"),
        mallory.patch(url, {"name": "Mine"}, format="json"),
        mallory.post(f"{url}/archive", {}, format="json"),
    ):
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert mallory.get("/api/properties").json()["count"] == 0
    assert alice.get(url).json()["name"] == "Harbour View Flats"


def test_auditor_reads_every_organisation_and_writes_nothing(client_for: Callable[..., APIClient]) -> None:
    created = create(client_for("alice"))
    create(client_for("bob", "globex"))
    auditor = client_for("ann", "audit-firm", "auditor")
    assert auditor.get("/api/properties").json()["count"] == 2
    assert auditor.get(f"/api/properties/{created['id']}").status_code == 200
    for response in (
        auditor.post("/api/properties", NEW_PROPERTY, format="json"),
        auditor.patch(f"/api/properties/{created['id']}", {"name": "x"}, format="json"),
        auditor.post(f"/api/properties/{created['id']}/archive", {}, format="json"),
    ):
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"


def test_events_record_the_caller_from_the_request_not_the_body(
    manager: APIClient, service: PropertyService
) -> None:
    created = create(manager)
    manager.patch(
        f"/api/properties/{created['id']}",
        {"name": "Renamed"},
        format="json",
        HTTP_X_REQUEST_ID="req-abc-123",
    )
    notifications = service.recorder.select_notifications(start=1, limit=10)
    # Decoded by the store's transcoder: the personal fields are stored sealed (docs/adr/0016).
    audits = [service.mapper.transcoder.decode(n.state)["audit"] for n in notifications]
    for audit in audits:
        assert audit.username == "alice"
        assert audit.role == Role.MANAGER
        assert audit.organisation == "acme"
        assert audit.client_ip == "198.51.100.23"
        assert audit.user_agent == "cosmo-tests/1.0"
        assert audit.request_id
    assert audits[1].request_id == "req-abc-123"
    assert audits[0].request_id != audits[1].request_id
    assert all(b"198.51.100.23" not in n.state for n in notifications)
