"""Logging in, refreshing and logging out: JWT pairs from simplejwt (rules in ``api.tokens``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenViewBase

from api.query import StrictQueryView
from api.schema import RETRY_AFTER, errors
from api.tokens import LoginSerializer, LogoutSerializer, RefreshSerializer

TOKENS = inline_serializer("Tokens", {"refresh": serializers.CharField(), "access": serializers.CharField()})


class LoginView(StrictQueryView, TokenObtainPairView):
    """Only failures count towards the limits, so a user who logs in often is never locked out."""

    serializer_class = LoginSerializer

    @extend_schema(
        operation_id="login",
        summary="Log in",
        description="A refresh token (a day) and an access token (15 minutes) for a username and "
        "password. The username is read as authentication reads it (surrounding whitespace "
        "stripped), and failures count against it whatever its spelling. After 5 failures for a "
        "username, or 20 from one client address, within 5 minutes: 429 until the window ends, "
        "even with the right password.",
        parameters=[RETRY_AFTER],
        responses={200: TOKENS, **errors(401, 429)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class RefreshView(StrictQueryView, TokenRefreshView):
    """Rotation: each refresh token is good for one refresh, so a stolen one is spent or noticed."""

    serializer_class = RefreshSerializer

    @extend_schema(
        operation_id="refresh_token",
        summary="Refresh the tokens",
        description="A new access token and a new refresh token for a refresh token that has not "
        "expired, been used or been logged out. The one sent is spent: sent again, 401. Any token "
        "issued before the user's password, role or organisation changed or the account was "
        "deactivated is refused (401).",
        responses={200: TOKENS, **errors(401)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutView(StrictQueryView, TokenViewBase):
    """The refresh token is the credential: whoever holds it may spend it (no access token needed)."""

    serializer_class = LogoutSerializer

    @extend_schema(
        operation_id="logout",
        summary="Log out",
        description="Spends the refresh token so it can no longer be refreshed (401 if it was spent "
        "already). Access tokens issued from it work until they expire (15 minutes at most).",
        request=LogoutSerializer,
        responses={204: None, **errors(401)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)
