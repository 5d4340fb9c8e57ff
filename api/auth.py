"""Logging in: JWT pairs from simplejwt, with failed attempts throttled per username and IP."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from api.query import StrictQueryView
from api.schema import RETRY_AFTER, errors

TOKENS = inline_serializer("Tokens", {"refresh": serializers.CharField(), "access": serializers.CharField()})


class TooManyFailedLogins(exceptions.Throttled):
    default_detail = "Too many failed logins."
    default_code = "too_many_failed_logins"


def _failure_key(request: Request) -> str:
    """Hashed: a username may hold spaces or control characters, which cache keys must not."""
    username = str(request.data.get("username", "")).lower()[:150] if hasattr(request.data, "get") else ""
    caller = f"{request.META.get('REMOTE_ADDR', '')}\0{username}".encode("utf-8", "surrogateescape")
    return f"cosmo:login-failures:{hashlib.sha256(caller).hexdigest()}"


class LoginView(StrictQueryView, TokenObtainPairView):
    """Only failures count towards the limit, so a user who logs in often is never locked out."""

    @extend_schema(
        operation_id="login",
        summary="Log in",
        description="A refresh token (a day) and an access token (15 minutes) for a username and "
        "password. After 5 failures for a username from one address within 5 minutes: 429.",
        parameters=[RETRY_AFTER],
        responses={200: TOKENS, **errors(401, 429)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _failure_key(request)
        window = settings.COSMO_LOGIN_FAILURE_WINDOW_SECONDS
        failures: list[float] = [t for t in cache.get(key, []) if t > time.time() - window]
        if len(failures) >= settings.COSMO_LOGIN_FAILURES_ALLOWED:
            raise TooManyFailedLogins(wait=math.ceil(failures[0] + window - time.time()))
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.AuthenticationFailed:
            cache.set(key, [*failures, time.time()], timeout=window)
            raise
        cache.delete(key)
        return response


@extend_schema_view(
    post=extend_schema(
        operation_id="refresh_token",
        summary="Refresh the access token",
        description="A new access token for a refresh token that has not expired.",
        responses={200: inline_serializer("AccessToken", {"access": serializers.CharField()}), **errors(401)},
    )
)
class RefreshView(StrictQueryView, TokenRefreshView):
    """A new access token for a refresh token (simplejwt's view, with our query-string rules)."""
