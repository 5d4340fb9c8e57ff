"""The OpenAPI schema as clients generate code from it: every status, header and error it can meet.

:class:`CosmoAutoSchema` adds to each operation what the shared machinery does to every request
(authentication, strict query strings, ``Idempotency-Key`` on writes, ``X-Cosmo-Min-Position`` on
reads, the request id), so a view's ``@extend_schema`` only states what is its own: its body, its
success, and the errors only it can give (:func:`errors`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from api.read_your_writes import POSITION_HEADER
from api.serializers import MAX_POSITION
from api.text_schema import code_pattern, digits_up_to, text_pattern
from domain.image import ImageStatus
from domain.values import PropertyStatus

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="stable, machine-readable, e.g. version_conflict")
    message = serializers.CharField(help_text="for humans and logs")
    # DRF takes declared fields off the class, so this does not shadow ``Serializer.fields``.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        help_text="per input field (nested like the body), the messages; empty when no field is at fault",
    )


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error, whatever its status."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "Invalid input: body, query parameter or header (`fields` says which).",
    401: "No valid access token (`Authorization: Bearer …`).",
    403: "The caller's role may not do this.",
    404: "No such resource, or not one the caller's organisation may see (for a list: no such page).",
    409: "Conflicts with the resource's state (archived, nothing to retry, already erased, a photo the "
    "body names is not one of the property's), or the first request "
    "with this Idempotency-Key has not answered yet (`idempotency_key_in_use`).",
    412: "`If-Match` names a version that is no longer current (`version_conflict`).",
    413: "The request (an upload, or the event it would record) is too large.",
    415: "The body's media type is not accepted, or the upload is not an accepted image.",
    422: "This Idempotency-Key was used for a different request (`idempotency_key_reused`).",
    429: "Too many failed logins; retry after `Retry-After` seconds.",
    503: "The database is unavailable for a moment (`database_unavailable`), or a read model has not "
    "reached `X-Cosmo-Min-Position` yet (`projection_behind`); retry after `Retry-After` seconds "
    "(a write with the same `Idempotency-Key`).",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses an operation gives beyond those every operation of its kind can give."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


def header(
    name: str, description: str, *, required: bool = False, pattern: str | None = None
) -> OpenApiParameter:
    return OpenApiParameter(
        name, str, OpenApiParameter.HEADER, required=required, description=description, pattern=pattern
    )


def response_header(
    name: str, kind: type, description: str, codes: list[int] | bool = True, *, required: bool = False
) -> OpenApiParameter:
    return OpenApiParameter(
        name, kind, OpenApiParameter.HEADER, response=codes, required=required, description=description
    )


VERSION_ETAG = f'^(?:\\*|(?:W/)?"?{digits_up_to(MAX_POSITION)}"?)$'
IF_MATCH = header(
    "If-Match",
    'The version the change was made against, as the ETag shows it (`"3"`); a stale one is refused '
    "(412). Absent or `*`: apply to the current version.",
    pattern=VERSION_ETAG,
)
IF_NONE_MATCH = header(
    "If-None-Match", "The ETag the client holds; 304 without a body if it is still current."
)
IDEMPOTENCY_KEY = header(
    "Idempotency-Key",
    "Any 1 to 255 printable ASCII characters, new for each intended change. Sent again with the "
    "same request, the first response is replayed (`Idempotent-Replayed: true`) and nothing is "
    "recorded twice; with a different request, 422 (`idempotency_key_reused`); while the first is "
    "still running, 409 (`idempotency_key_in_use`); malformed, 400. Kept 24 hours, per user.",
    pattern=r"^[ -~]{1,255}$",
)
SUCCESS = [200, 201, 202, 204]
ETAG = response_header(
    "ETag", str, 'The resource\'s version, e.g. `"3"`; send it back in `If-Match`.', [200, 201, 304]
)
LOCATION = response_header("Location", str, "Where the new resource is read.", [201, 202])
POSITION = response_header(
    POSITION_HEADER,
    int,
    "Global position of the request's last event; absent when nothing was recorded.",
    SUCCESS,
)
REQUEST_ID = response_header(
    "X-Request-ID", str, "The request's correlation id (the client's, if sane), recorded in its events."
)
RETRY_AFTER = response_header("Retry-After", int, "Seconds to wait before retrying.", [429, 503])
REPLAYED = response_header(
    "Idempotent-Replayed",
    str,
    "`true` when this is the stored answer to an earlier request with the same key.",
)

# The media types an upload's file part may declare (the server checks the bytes, not the label).
UPLOAD_ENCODING = {
    "file": {"contentType": "image/jpeg, image/png, image/webp, image/gif, image/heic, image/heif"}
}

TAGS = [
    {"name": "auth", "description": "Access and refresh tokens."},
    {
        "name": "properties",
        "description": "Register, list, read (also as of a version or a time), change, archive.",
    },
    {"name": "images", "description": "Photos: upload, gallery, caption, cover, order, removal, retry."},
    {"name": "history", "description": "A property's events with field-level changes."},
    {"name": "audit", "description": "The global, tamper-evident event stream, for auditors."},
    {"name": "operations", "description": "Health, readiness, read models and the managers' dashboard."},
]


def _tag(path: str) -> str:
    if path.startswith("/api/auth/"):
        return "auth"
    if path.startswith("/api/images") or path.endswith(("/images", "/images/order", "/cover")):
        return "images"
    if path.endswith("/history"):
        return "history"
    if path.startswith("/api/audit/"):
        return "audit"
    if path.startswith("/api/properties"):
        return "properties"
    return "operations"


class TokenScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    """Our token authentication is simplejwt's, with checks of its own: the same bearer scheme."""

    target_class = "api.tokens.TokenAuthentication"


class ScrapeTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """``COSMO_METRICS_TOKEN`` as a bearer token, accepted at /metrics only."""

    target_class = "api.views.metrics.ScrapeToken"
    name = "metricsToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The server's COSMO_METRICS_TOKEN."}


class StrictSerializerExtension(OpenApiSerializerExtension):
    """Bodies parsed by a ``StrictSerializer`` refuse unknown fields: the schema says so."""

    target_class = "api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_basic_serializer(self.target, direction)  # type: ignore[no-untyped-call]
        schema["additionalProperties"] = False
        if "__doc__" not in vars(type(self.target)) or type(self.target).__doc__ is None:
            schema.pop("description", None)  # StrictSerializer's own docstring, not this body's
        return schema


class TextFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    target_class = "api.serializers.TextField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        schema = {"type": "string", "pattern": text_pattern(required=not self.target.allow_blank)}
        if self.target.max_length is not None:
            schema["maxLength"] = self.target.max_length
        return schema


class IsoCodeFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    target_class = "api.serializers.IsoCodeField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": code_pattern(self.target.codes)}


class CosmoAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus what every operation of a kind shares (see the module doc)."""

    def get_tags(self) -> list[str]:
        return [_tag(self.path)]

    def _authenticated(self) -> bool:
        return bool(self.view.get_authenticators()) and not any(
            isinstance(permission, AllowAny) for permission in self.view.get_permissions()
        )

    def get_override_parameters(self) -> list[Any]:
        shared: list[Any] = [REQUEST_ID]
        if self.method in UNSAFE_METHODS and self._authenticated():
            shared += [IDEMPOTENCY_KEY, REPLAYED]
        shared.append(RETRY_AFTER)
        return [*super().get_override_parameters(), *shared]

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        shared = {400, 503}  # any operation may meet a database that is restarting
        if self._authenticated():
            shared |= {401, 403}
        if "{" in self.path:
            shared.add(404)
        if self.method in UNSAFE_METHODS and self._authenticated():
            shared |= {409, 413, 422}
            if self.method != "DELETE" and self.get_request_serializer() is not None:
                shared.add(415)
        for code, response in errors(*sorted(shared)).items():
            responses.setdefault(
                str(code),
                self._get_response_for_code(response, str(code)),  # type: ignore[no-untyped-call]
            )
        return responses


PROPERTY_STATUSES = [status.value for status in PropertyStatus]
IMAGE_STATUSES = [status.value for status in ImageStatus if status is not ImageStatus.REMOVED]

# OpenAPI links: what a client (or a stateful fuzzer) can do next with what an answer returned.
_PROPERTY_ID = {"property_id": "$response.body#/id"}
_IMAGE_ID = {"image_id": "$response.body#/id"}
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("register_property", "201"): {
        "GetProperty": {"operationId": "get_property", "parameters": _PROPERTY_ID},
        "UpdateProperty": {"operationId": "update_property", "parameters": _PROPERTY_ID},
        "ArchiveProperty": {"operationId": "archive_property", "parameters": _PROPERTY_ID},
        "GetPropertyHistory": {"operationId": "get_property_history", "parameters": _PROPERTY_ID},
        "ListPropertyImages": {"operationId": "list_property_images", "parameters": _PROPERTY_ID},
        "UploadImage": {"operationId": "upload_image", "parameters": _PROPERTY_ID},
    },
    ("update_property", "200"): {
        "GetProperty": {"operationId": "get_property", "parameters": _PROPERTY_ID},
        "ArchiveProperty": {"operationId": "archive_property", "parameters": _PROPERTY_ID},
    },
    ("upload_image", "202"): {
        "GetImage": {"operationId": "get_image", "parameters": _IMAGE_ID},
        "ChangeImageCaption": {"operationId": "change_image_caption", "parameters": _IMAGE_ID},
        "RemoveImage": {"operationId": "remove_image", "parameters": _IMAGE_ID},
        "RetryImage": {"operationId": "retry_image", "parameters": _IMAGE_ID},
        "SetCoverImage": {
            "operationId": "set_cover_image",
            "parameters": {"property_id": "$response.body#/property_id"},
            "requestBody": {"image_id": "$response.body#/id"},
        },
    },
}


def finish(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: the tags' descriptions and the links between operations."""
    result["tags"] = TAGS
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for code, response in operation.get("responses", {}).items():
                links = LINKS.get((operation.get("operationId", ""), code))
                if links:
                    response["links"] = links
    return result
