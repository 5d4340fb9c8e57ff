"""Health, readiness, the OpenAPI schema and Swagger UI, and unknown paths."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY


def test_health_and_ready_need_no_token(service: PropertyService) -> None:
    client = APIClient()
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_openapi_schema_documents_the_property_endpoints(service: PropertyService) -> None:
    response = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/properties", "/api/properties/{property_id}", "/api/auth/token"} <= set(schema["paths"])


def test_swagger_ui_is_served_with_local_assets(service: PropertyService) -> None:
    page = APIClient().get("/api/docs")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    assert b"/static/drf_spectacular_sidecar/" in page.content


@pytest.mark.parametrize("path", ["/nope", "/api/properties/", "/api/properties/not-a-uuid"])
def test_unknown_paths_are_json_404(service: PropertyService, path: str) -> None:
    response = APIClient().get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_host_header_is_a_json_400(service: PropertyService) -> None:
    response = APIClient().get("/health", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_bug_answers_json_even_with_debug_on(
    manager: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django's debug page would list the environment, secrets included."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    settings.DEBUG = True
    monkeypatch.setattr(PropertyService, "register_property", broken)
    response = manager.post("/api/properties", NEW_PROPERTY, format="json")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "server_error"
    assert "a bug" not in response.content.decode()
