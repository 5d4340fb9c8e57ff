"""The OpenAPI schema says what the API does, so clients can be generated from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from domain.service import PropertyService


@pytest.fixture
def schema(service: PropertyService) -> dict[str, Any]:
    response = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return dict(response.json())


def operations(schema: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def parameter_names(operation: dict[str, Any], location: str) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == location}


def test_the_list_is_paginated_with_page_parameters(schema: dict[str, Any]) -> None:
    _, _, listing = operations(schema)["list_properties"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginatedPropertyList"
    }
    assert set(schema["components"]["schemas"]["PaginatedPropertyList"]["properties"]) == {
        "count",
        "next",
        "previous",
        "results",
    }
    assert {"page", "page_size", "search", "city", "status", "kind", "ordering"} <= parameter_names(
        listing, "query"
    )


def test_every_operation_has_a_readable_id_a_tag_a_summary_and_its_own_description(
    schema: dict[str, Any],
) -> None:
    for operation_id, (_, path, operation) in operations(schema).items():
        assert operation_id.replace("_", "").isalpha(), operation_id
        assert operation["tags"] != ["api"], path
        assert operation.get("summary"), operation_id
        assert operation.get("description"), operation_id
        assert "Refuses fields" not in operation["description"]
    assert {tag["name"] for tag in schema["tags"]} == {
        "auth",
        "properties",
        "images",
        "history",
        "audit",
        "operations",
    }


def test_errors_are_documented_with_the_one_error_shape(schema: dict[str, Any]) -> None:
    ops = operations(schema)
    expected = {
        "update_property": {"400", "401", "403", "404", "409", "412", "413", "415", "422"},
        "archive_property": {"400", "401", "403", "404", "409", "412", "422"},
        "upload_image": {"400", "401", "403", "404", "409", "413", "415", "422"},
        "get_property": {"304", "400", "401", "403", "404", "503"},
        "list_properties": {"400", "401", "403", "503"},
        "login": {"400", "401", "429"},
    }
    for operation_id, codes in expected.items():
        responses = ops[operation_id][2]["responses"]
        assert codes <= set(responses), (operation_id, codes - set(responses))
    error = {"$ref": "#/components/schemas/Error"}
    for _, _, operation in ops.values():
        for code, response in operation["responses"].items():
            if code >= "400" and "content" in response:
                assert response["content"]["application/json"]["schema"] == error
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "fields"}


def test_headers_are_documented_where_they_are_honoured_and_sent(schema: dict[str, Any]) -> None:
    ops = operations(schema)
    for operation_id in ("update_property", "archive_property"):
        assert "If-Match" in parameter_names(ops[operation_id][2], "header")
    assert {"If-None-Match", "X-Cosmo-Min-Position"} <= parameter_names(ops["get_property"][2], "header")
    for method, path, operation in ops.values():
        if method in {"POST", "PUT", "PATCH", "DELETE"} and not path.startswith("/api/auth/"):
            assert "Idempotency-Key" in parameter_names(operation, "header"), path
        for response in operation["responses"].values():
            assert "X-Request-ID" in response["headers"]
    created = ops["register_property"][2]["responses"]["201"]["headers"]
    assert {"ETag", "Location", "X-Cosmo-Position", "Idempotent-Replayed"} <= set(created)
    assert "Retry-After" in ops["login"][2]["responses"]["429"]["headers"]
    assert "Retry-After" in ops["get_property"][2]["responses"]["503"]["headers"]


def test_enums_never_offer_an_empty_string(schema: dict[str, Any]) -> None:
    def enums(node: Any) -> list[list[Any]]:
        if isinstance(node, dict):
            return ([node["enum"]] if "enum" in node else []) + [e for v in node.values() for e in enums(v)]
        if isinstance(node, list):
            return [e for v in node for e in enums(v)]
        return []

    found = enums(schema)
    assert found
    assert all("" not in values and None not in values for values in found)


def test_request_bodies_refuse_unknown_fields_and_writes_link_to_what_follows(schema: dict[str, Any]) -> None:
    assert schema["components"]["schemas"]["PropertyCreateRequest"]["additionalProperties"] is False
    links = operations(schema)["register_property"][2]["responses"]["201"]["links"]
    assert links["UpdateProperty"] == {
        "operationId": "update_property",
        "parameters": {"property_id": "$response.body#/id"},
    }
    assert "SetCoverImage" in operations(schema)["upload_image"][2]["responses"]["202"]["links"]


def test_the_schema_generates_without_a_warning(service: PropertyService, tmp_path: Path) -> None:
    """A warning means some view, serializer or authenticator is documented by a guess."""
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))


def test_every_authenticated_operation_names_the_bearer_scheme(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    for _, path, operation in operations(schema).values():
        if "401" in operation["responses"] and not path.startswith(("/api/auth/", "/health", "/ready")):
            # /metrics also takes the scraper's own token.
            scrape: list[dict[str, list[str]]] = [{"metricsToken": []}] if path == "/metrics" else []
            assert operation["security"] == [*scrape, {"jwtAuth": []}], path
