"""Strict input at the edge: one meaning per JSON document, no unknown query parameter ignored."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import NEW_PROPERTY, create


def post_raw(client: APIClient, path: str, body: str) -> Any:
    return client.generic("POST", path, body, content_type="application/json")


def test_duplicate_json_keys_are_refused(manager: APIClient) -> None:
    body = '{"name": "a", "name": "b", "kind": "house", "address": {}}'
    response = post_raw(manager, "/api/properties", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "duplicate key 'name'" in response.json()["error"]["message"]


def test_duplicate_keys_in_a_nested_object_are_refused(manager: APIClient) -> None:
    address = '{"street": "1", "city": "Lisbon", "city": "Porto", "postal_code": "1", "country": "PT"}'
    body = f'{{"name": "a", "kind": "house", "address": {address}}}'
    assert post_raw(manager, "/api/properties", body).status_code == 400


@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_500(manager: APIClient, depth: int) -> None:
    response = post_raw(manager, "/api/properties", "[" * depth + "]" * depth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize("body", ['{"name": NaN}', '{"name": Infinity}', "1" * 5000, '{"name": "\\ud800"'])
def test_hostile_json_is_a_400(manager: APIClient, body: str) -> None:
    assert post_raw(manager, "/api/properties", body).status_code == 400


def test_bytes_that_are_not_utf8_are_a_400(manager: APIClient) -> None:
    response = manager.post("/api/properties", data=b'{"name": "\xff"}', content_type="application/json")
    assert response.status_code == 400


def test_a_well_formed_property_still_registers(manager: APIClient) -> None:
    assert create(manager)["name"] == NEW_PROPERTY["name"]


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/api/properties?stauts=archived", "stauts"),
        ("/api/properties?page=1&colour=red", "colour"),
        ("/api/dashboard?x=1", "x"),
        ("/api/audit/verify?deep=1", "deep"),
        ("/health?verbose=1", "verbose"),
    ],
)
def test_unknown_query_parameters_are_refused_everywhere(client_for: Any, path: str, unknown: str) -> None:
    response = client_for("ada", role="admin").get(path)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {unknown: ["unknown query parameter"]}


def test_unknown_query_parameters_on_a_property_and_its_photos_are_refused(manager: APIClient) -> None:
    prop = create(manager)
    for path in (f"/api/properties/{prop['id']}", f"/api/properties/{prop['id']}/images"):
        assert manager.get(f"{path}?verison=1").status_code == 400
    assert (
        manager.patch(f"/api/properties/{prop['id']}?dry_run=1", {"name": "X"}, format="json").status_code
        == 400
    )
    assert manager.get(f"/api/properties/{prop['id']}")["ETag"] == '"1"'


def test_the_list_filters_orders_and_pages(manager: APIClient) -> None:
    for name, city in (("B", "Porto"), ("A", "Lisbon"), ("C", "Lisbon")):
        create(manager, name=name, address={**NEW_PROPERTY["address"], "city": city})
    listed = manager.get("/api/properties?city=lisbon&ordering=-name&page_size=1&page=2").json()
    assert (listed["count"], [p["name"] for p in listed["results"]]) == (2, ["A"])
    by_name = manager.get("/api/properties?ordering=name").json()["results"]
    assert [p["name"] for p in by_name] == ["A", "B", "C"]


@pytest.mark.parametrize(
    "query",
    ["ordering=colour", "status=demolished", "kind=castle", "search=" + "x" * 201, "page=0", "page=x"],
)
def test_bad_list_parameters_are_json_errors(manager: APIClient, query: str) -> None:
    response = manager.get(f"/api/properties?{query}")
    assert response.status_code in (400, 404)
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_a_page_past_the_end_is_not_found(manager: APIClient) -> None:
    create(manager)
    response = manager.get("/api/properties?page=2")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("header", ["-1", "\u00b2", "1.5", "x"])
def test_a_min_position_that_is_not_a_non_negative_integer_is_a_400(manager: APIClient, header: str) -> None:
    response = manager.get("/api/properties", HTTP_X_COSMO_MIN_POSITION=header)
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["city=Lisbon&city=Porto", "page_size=1&page_size=2"])
def test_a_query_parameter_given_twice_is_refused(manager: APIClient, query: str) -> None:
    response = manager.get(f"/api/properties?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"].values()) == [["given more than once"]]


@pytest.mark.parametrize("page_size", ["0", "101", "x", "null", "\u00b2"])
def test_a_page_size_out_of_range_is_a_400_not_quietly_the_default(
    manager: APIClient, page_size: str
) -> None:
    response = manager.get(f"/api/properties?page_size={page_size}")
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "path",
    ["/api/properties/{id}?version=99999999999999999999", "/api/audit/events?after=99999999999999999999"],
)
def test_versions_and_positions_beyond_64_bits_are_a_400(client_for: Any, path: str) -> None:
    client = client_for("ada", role="admin")
    prop = create(client)
    assert client.get(path.format(id=prop["id"])).status_code == 400


@pytest.mark.parametrize("query", ["status=", "kind=", "page=", "page=0", "page=x"])
def test_an_empty_or_malformed_list_parameter_is_a_400(manager: APIClient, query: str) -> None:
    assert manager.get(f"/api/properties?{query}").status_code == 400


@pytest.mark.parametrize("query", ["as_of=", "version="])
def test_an_empty_time_travel_parameter_is_a_400_not_the_current_state(
    manager: APIClient, query: str
) -> None:
    prop = create(manager)
    assert manager.get(f"/api/properties/{prop['id']}?{query}").status_code == 400


def test_an_undeclared_method_is_a_405_before_its_idempotency_key_is_looked_at(manager: APIClient) -> None:
    first = manager.post("/api/properties", NEW_PROPERTY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    response = manager.put("/api/properties", NEW_PROPERTY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize("username", [[None, None], "a b\tc", "\u00e9\x01" * 100, {"x": 1}])
def test_a_login_with_any_json_username_is_a_4xx(service: Any, username: Any) -> None:
    response = APIClient().post("/api/auth/token", {"username": username, "password": "x"}, format="json")
    assert response.status_code in (400, 401)
