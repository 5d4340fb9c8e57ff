"""The one exception handler: every error leaves as ``{"error": {code, message, fields}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from domain import errors as domain
from infrastructure.images.blob_store import BlobStoreUnavailable
from infrastructure.images.upload_checks import ImageRejected
from projections.runner import DATABASE_UNAVAILABLE
from projections.selectors import ProjectionBehind

logger = logging.getLogger(__name__)

_DOMAIN_STATUS: list[tuple[type[domain.DomainError], int]] = [
    # Well formed, but not the photos the property has now: a conflict with its state.
    (domain.InvalidImageOrder, status.HTTP_409_CONFLICT),
    (domain.InvalidValue, status.HTTP_400_BAD_REQUEST),
    (domain.PropertyNotFound, status.HTTP_404_NOT_FOUND),
    (domain.ImageNotFound, status.HTTP_404_NOT_FOUND),
    (domain.PropertyArchived, status.HTTP_409_CONFLICT),
    (domain.NothingChanged, status.HTTP_409_CONFLICT),
    (domain.ImageNotFailed, status.HTTP_409_CONFLICT),
    (domain.VersionConflict, status.HTTP_412_PRECONDITION_FAILED),
    (domain.NotPermitted, status.HTTP_403_FORBIDDEN),
    (domain.SubjectAlreadyErased, status.HTTP_409_CONFLICT),
    (domain.EventTooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
]


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, domain.DomainError):
        http_status = domain_status(exc)
        if http_status is None:
            return None
        return Response(
            error_body(exc.code, exc.message, nested_fields(exc.field, exc.message)), status=http_status
        )
    if isinstance(exc, ImageRejected):
        return Response(error_body(exc.code, exc.message, {"file": [exc.message]}), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        # A form whose fields outgrow DATA_UPLOAD_MAX_MEMORY_SIZE, found while parsing it.
        return Response(
            error_body("request_too_large", "the request's form fields are too large"), status=413
        )
    if isinstance(exc, SuspiciousOperation):
        # Too many form fields or files, say: Django would answer 400 (with DEBUG on, in HTML).
        return Response(error_body("bad_request", "the request is malformed"), status=400)
    if isinstance(exc, ProjectionBehind):
        return retry_later("projection_behind", str(exc))
    if isinstance(exc, BlobStoreUnavailable):
        # The remote store for originals (Cloudinary) is down or busy: nothing was recorded.
        logger.warning("blob store unavailable", extra={"error": str(exc)})
        return retry_later("blob_store_unavailable", "the store for photos is unavailable; retry shortly")
    if isinstance(exc, DATABASE_UNAVAILABLE):
        # A restart or a dropped connection: say so at once, so clients retry instead of waiting.
        logger.warning("database unavailable", extra={"error": repr(exc)})
        return retry_later("database_unavailable", "the database is unavailable; retry shortly")
    response = drf_exception_handler(exc, context)
    if response is None:
        # A bug. Answered here rather than re-raised, so that even with DEBUG on the client gets
        # JSON, never Django's debug page (which lists the environment, secrets included).
        logger.error("unhandled error", exc_info=exc, extra={"path": context["request"].path})
        return Response(error_body("server_error", "internal error; it has been logged"), status=500)
    if not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("invalid", _first_message(fields), fields)
    elif isinstance(exc.detail, dict):
        # simplejwt answers with {"detail": ..., "code": ..., "messages": [...]}.
        message = exc.detail.get("detail", exc.default_detail)
        response.data = error_body(str(exc.detail.get("code", exc.default_code)), str(message))
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    return response


def retry_later(code: str, message: str) -> Response:
    unavailable = Response(error_body(code, message), status=status.HTTP_503_SERVICE_UNAVAILABLE)
    unavailable["Retry-After"] = "1"
    return unavailable


def domain_status(exc: domain.DomainError) -> int | None:
    if isinstance(exc, domain.PropertyNotFound | domain.ImageNotFound) and exc.field:
        # The resource in the URL exists; the one a body field names is not (or not among its
        # photos): the request is well formed but conflicts with the current state.
        return status.HTTP_409_CONFLICT
    return next((http_status for error, http_status in _DOMAIN_STATUS if isinstance(exc, error)), None)


def nested_fields(path: str | None, message: str) -> dict[str, Any]:
    """``address.country`` becomes ``{"address": {"country": [message]}}``, as DRF nests them."""
    if not path:
        return {}
    node: Any = [message]
    for key in reversed(path.split(".")):
        node = {key: node}
    return dict(node)


def _first_message(fields: Any) -> str:
    """A one-line summary like ``address.country: not a valid choice`` for humans and logs."""
    path: list[str] = []
    node = fields
    while isinstance(node, (dict, list)) and node:
        if isinstance(node, dict):
            key = next(iter(node))
            if key != "non_field_errors":
                path.append(str(key))
            node = node[key]
        else:
            node = node[0]
    return f"{'.'.join(path)}: {node}" if path else str(node)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's own 400s (an unknown Host header, say), in our shape instead of an HTML page."""
    return JsonResponse(error_body("bad_request", "bad request"), status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "forbidden"), status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"no such endpoint: {request.path}"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    logger.error("unhandled error", extra={"path": request.path})
    return JsonResponse(error_body("server_error", "internal error; it has been logged"), status=500)
