"""CORS for browser clients: off unless origins are configured, then exactly for those origins."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.api.conftest import create
from tests.conftest import ROOT, process_env

APP = "https://app.example.com"


def preflight(path: str) -> Any:
    """What a browser asks before a conditional, idempotent PATCH: no token yet."""
    return APIClient().options(
        path,
        HTTP_ORIGIN=APP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, if-match, idempotency-key",
    )


def header_list(response: Any, name: str) -> set[str]:
    return {part.strip().lower() for part in response.get(name, "").split(",") if part.strip()}


@pytest.fixture
def cors_for_app(settings: Settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = [APP]


def test_cors_is_off_by_default(manager: APIClient, settings: Settings) -> None:
    assert settings.CORS_ALLOWED_ORIGINS == []
    assert settings.CORS_ALLOWED_ORIGIN_REGEXES == []
    response = manager.get("/api/properties", HTTP_ORIGIN=APP)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    asked = preflight(f"/api/properties/{create(manager)['id']}")
    assert "Access-Control-Allow-Origin" not in asked


@pytest.mark.usefixtures("cors_for_app")
def test_a_listed_origin_may_read_and_sees_the_headers_clients_need(manager: APIClient) -> None:
    prop = create(manager)
    response = manager.get(f"/api/properties/{prop['id']}", HTTP_ORIGIN=APP)
    assert response["Access-Control-Allow-Origin"] == APP
    assert "Access-Control-Allow-Credentials" not in response, "tokens travel in headers, not cookies"
    assert header_list(response, "Access-Control-Expose-Headers") >= {
        "etag",
        "location",
        "x-cosmo-position",
        "x-request-id",
        "retry-after",
        "idempotent-replayed",
    }


@pytest.mark.usefixtures("cors_for_app")
def test_an_unlisted_origin_gets_no_cors_headers(manager: APIClient) -> None:
    response = manager.get("/api/properties", HTTP_ORIGIN="https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.usefixtures("cors_for_app")
def test_a_preflight_for_a_conditional_patch_is_allowed_without_a_token(manager: APIClient) -> None:
    prop = create(manager)
    response = preflight(f"/api/properties/{prop['id']}")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "PATCH" in response["Access-Control-Allow-Methods"]
    assert header_list(response, "Access-Control-Allow-Headers") >= {
        "authorization",
        "content-type",
        "if-match",
        "if-none-match",
        "idempotency-key",
        "x-cosmo-min-position",
        "x-request-id",
    }


def test_origins_may_be_given_as_regexes(manager: APIClient, settings: Settings) -> None:
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://[a-z0-9-]+\.preview\.example\.com$"]
    preview = "https://pr-42.preview.example.com"
    assert manager.get("/api/properties", HTTP_ORIGIN=preview)["Access-Control-Allow-Origin"] == preview
    assert "Access-Control-Allow-Origin" not in manager.get("/api/properties", HTTP_ORIGIN=APP)


@pytest.mark.usefixtures("cors_for_app")
def test_errors_carry_cors_headers_so_the_browser_lets_the_client_read_them(manager: APIClient) -> None:
    response = APIClient().get("/api/properties", HTTP_ORIGIN=APP)
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == APP


def test_origins_come_from_the_environment(service: object) -> None:
    env = {
        **process_env(),
        "CORS_ALLOWED_ORIGINS": "https://app.example.com, http://localhost:5173",
        "CORS_ALLOWED_ORIGIN_REGEXES": r"^https://[a-z]{1,9}\.example\.org$ ^http://127\.0\.0\.1:\d+$",
    }
    shown = subprocess.run(
        [sys.executable, "-c", PRINT_CORS_SETTINGS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout) == [
        ["https://app.example.com", "http://localhost:5173"],
        [r"^https://[a-z]{1,9}\.example\.org$", r"^http://127\.0\.0\.1:\d+$"],
    ]


PRINT_CORS_SETTINGS = """
import json
from django.conf import settings
print(json.dumps([settings.CORS_ALLOWED_ORIGINS, settings.CORS_ALLOWED_ORIGIN_REGEXES]))
"""
