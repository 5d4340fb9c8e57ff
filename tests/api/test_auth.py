"""Logging in with JWT, refreshing, and the throttle on failed logins."""

from __future__ import annotations

from typing import Any

from django.test import override_settings
from rest_framework.test import APIClient

from domain.service import PropertyService
from tests.api.conftest import PASSWORD, make_user


def login(client: APIClient, username: str, password: str) -> tuple[int, Any, Any]:
    response = client.post("/api/auth/token", {"username": username, "password": password}, format="json")
    return response.status_code, response.json(), response


def test_token_pair_opens_the_api_and_refresh_gives_a_new_access_token(service: PropertyService) -> None:
    make_user("alice")
    client = APIClient()
    status, tokens, _ = login(client, "alice", PASSWORD)
    assert status == 200
    assert set(tokens) == {"access", "refresh"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/api/properties").status_code == 200

    refreshed = client.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert client.get("/api/properties").status_code == 200


def test_every_endpoint_but_login_needs_a_token(service: PropertyService) -> None:
    client = APIClient()
    for response in (
        client.get("/api/properties"),
        client.post("/api/properties", {}, format="json"),
        client.get("/api/properties/6f1c3f7e-3f7a-4b8e-9d55-2b1f0a0c0c0c"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert client.get("/api/properties").status_code == 401


def test_wrong_password_is_401_in_the_error_shape(service: PropertyService) -> None:
    make_user("alice")
    status, body, _ = login(APIClient(), "alice", "wrong")
    assert status == 401
    assert set(body["error"]) == {"code", "message", "fields"}


@override_settings(COSMO_LOGIN_FAILURES_ALLOWED=3)
def test_repeated_failed_logins_are_throttled_with_retry_after(service: PropertyService) -> None:
    make_user("alice")
    client = APIClient()
    for _ in range(3):
        assert login(client, "alice", "wrong")[0] == 401
    status, body, response = login(client, "alice", PASSWORD)
    assert status == 429, "even the right password waits once the limit is reached"
    assert body["error"]["code"] == "too_many_failed_logins"
    assert 0 < int(response["Retry-After"]) <= 300


@override_settings(COSMO_LOGIN_FAILURES_ALLOWED=3)
def test_a_successful_login_clears_earlier_failures(service: PropertyService) -> None:
    make_user("alice")
    client = APIClient()
    for _ in range(2):
        login(client, "alice", "wrong")
    assert login(client, "alice", PASSWORD)[0] == 200
    for _ in range(2):
        assert login(client, "alice", "wrong")[0] == 401
    assert login(client, "alice", PASSWORD)[0] == 200


def test_a_bad_token_gets_a_readable_message(service: PropertyService) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    error = client.get("/api/properties").json()["error"]
    assert error["code"] == "token_not_valid"
    assert "ErrorDetail" not in error["message"]
    refresh = client.post("/api/auth/token/refresh", {"refresh": "nope"}, format="json").json()["error"]
    assert refresh["code"] == "token_not_valid"
    assert "ErrorDetail" not in refresh["message"]
