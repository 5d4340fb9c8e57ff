"""Middleware: a correlation id, a log line and a metric for every request, and requests refused
from their headers alone."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse

from api.errors import error_body
from infrastructure.log_context import serving
from infrastructure.metrics import HTTP_REQUEST_SECONDS

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Label values stay few: any other method is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
UNMATCHED_ROUTE = "unmatched"
access_log = logging.getLogger("cosmo.access")


class RequestIdMiddleware:
    """Keeps a client's ``X-Request-ID`` when it is sane, otherwise makes one; every line logged
    while the request is served names it, and its answer is one ``cosmo.access`` line and one
    observation of the latency histogram."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        with serving(request):
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            seconds = time.perf_counter() - started
            method = request.method if request.method in _METHODS else "other"
            route = route_of(request)
            HTTP_REQUEST_SECONDS.labels(route, method, str(response.status_code)).observe(seconds)
            access_log.info(
                "%s %s %s",
                method,
                request.path,
                response.status_code,
                extra={
                    "method": method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
        return response


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (``api/properties/<uuid:property_id>``), never the raw path:
    a label value per property would grow without bound. The catch-all 404 has no name."""
    match = request.resolver_match
    return match.route if match is not None and match.url_name else UNMATCHED_ROUTE


class RefuseUnservableRequestsMiddleware:
    """Answers a bad ``Host`` (400) and a body over the limit (413) in our JSON error shape.

    Django raises ``DisallowedHost`` and ``RequestDataTooBig`` wherever the host or the body is
    first read, and turns them into a 400 (HTML, with DEBUG on its debug page listing settings).
    Checked here, before anything else looks at the request, every serving mode answers alike.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            return refusal(400, "bad_request", "this server does not answer for that Host")
        limit = int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if request.content_type != "multipart/form-data" and content_length(request) > limit:
            # Photos come as forms, up to COSMO_MAX_UPLOAD_BYTES: the upload view refuses those.
            return refusal(
                413, "request_too_large", f"the request body is larger than the limit of {limit} bytes"
            )
        return self.get_response(request)


def refusal(status: int, code: str, message: str) -> JsonResponse:
    """An error answered ahead of CommonMiddleware, so with the Content-Length it would add: a client
    that sent only the headers of its oversized body knows where the answer ends."""
    response = JsonResponse(error_body(code, message), status=status)
    response["Content-Length"] = str(len(response.content))
    return response


def content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
