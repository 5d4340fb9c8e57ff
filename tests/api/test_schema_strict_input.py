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
