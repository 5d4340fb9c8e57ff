"""JWTs that stop working when they should: rotated, logged out, or issued before a change of the user.

simplejwt signs and expires the tokens and keeps the blacklist (its ``token_blacklist`` app). On top:
every token carries the user's ``token_generation``, which a password, role or organisation change
or a deactivation raises (``api.models.User.save``); the access check and the refresh both refuse
a token whose generation is behind, or whose user is gone or inactive, with one generic 401 that
does not tell a deleted account from one that never existed.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from api.client_ip import client_ip
from api.login_throttle import login_attempt
from api.models import User

GENERATION_CLAIM = "gen"


def invalid_token() -> InvalidToken:
    """The one answer for every token that does not open the API, whatever the reason."""
    return InvalidToken("Token is invalid or expired.")


class _GenerationClaim(Token):
    @classmethod
    def for_user(cls, user: Any) -> Any:
        token = super().for_user(user)
        token[GENERATION_CLAIM] = user.token_generation
        return token


class CosmoRefreshToken(RefreshToken, _GenerationClaim):  # type: ignore[misc]  # simplejwt's own stubs clash
    """A refresh token stamped with the user's token generation (its access tokens copy it).

    The claim comes from a base after simplejwt's blacklist mixin, so the token it records as
    outstanding is the token issued, claim included.
    """


def user_of(token: Token) -> User:
    """The token's user, if it still exists, is active and has not changed since the token was
    issued (a token from before generations counts as generation 0)."""
    try:
        user = User.objects.get(**{api_settings.USER_ID_FIELD: token[api_settings.USER_ID_CLAIM]})
    except (KeyError, ValueError, User.DoesNotExist):
        raise invalid_token() from None
    if not user.is_active or token.get(GENERATION_CLAIM, 0) != user.token_generation:
        raise invalid_token()
    return user


def refresh_token(raw: str) -> CosmoRefreshToken:
    """A signed, unexpired refresh token that is not on the blacklist, of a current user."""
    try:
        token = CosmoRefreshToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise invalid_token() from None
    user_of(token)
    return token


class TokenAuthentication(JWTAuthentication):
    """simplejwt's bearer check, plus the user's token generation, with one generic refusal."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        try:
            return super().get_validated_token(raw_token)
        except InvalidToken:
            raise invalid_token() from None

    # simplejwt annotates the user as a type variable bound to nothing here.
    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        return user_of(validated_token)


class LoginSerializer(TokenObtainPairSerializer):
    """simplejwt's login, as one throttled attempt keyed on the username authentication will read
    (``attrs`` holds it after the field's own cleaning: stripped of surrounding whitespace)."""

    token_class = CosmoRefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        with login_attempt(attrs[self.username_field], client_ip(self.context["request"])):
            return super().validate(attrs)


class RefreshSerializer(TokenRefreshSerializer):
    """A new access token and a new refresh token; the one presented is blacklisted in the same
    step, and only the first of two parallel refreshes with it wins."""

    token_class = CosmoRefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = refresh_token(attrs["refresh"])
        with transaction.atomic():
            # simplejwt returns get_or_create's pair, whatever its annotation says.
            _, first = cast(tuple[BlacklistedToken, bool], refresh.blacklist())
        if not first:
            raise invalid_token()
        access = refresh.access_token
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
        return {"access": str(access), "refresh": str(refresh)}


class LogoutSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Blacklists the refresh token; logging out twice is refused like any spent token."""
        refresh_token(attrs["refresh"]).blacklist()
        return {}


def forget_expired_tokens() -> None:
    """Deletes the records of refresh tokens past their expiry, with their blacklist entries: an
    expired token is refused by its signature's ``exp`` alone (simplejwt's ``flushexpiredtokens``)."""
    OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
