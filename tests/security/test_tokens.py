"""Token attacks: reusing a spent refresh token, racing it, logging out, and tokens that outlive
a change of their user (password, role, organisation, deactivation, deletion)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from api.models import User
from api.tokens import CosmoRefreshToken
from domain.service import PropertyService
from tests.api.conftest import PASSWORD, make_user
from tests.api.test_http_server import call, gunicorn

GENERIC_401 = {"error": {"code": "token_not_valid", "message": "Token is invalid or expired.", "fields": {}}}


def tokens(username: str = "alice") -> dict[str, str]:
    response = APIClient().post(
        "/api/auth/token", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def refresh(token: str) -> tuple[int, Any]:
    response = APIClient().post("/api/auth/token/refresh", {"refresh": token}, format="json")
    return response.status_code, response.json()


def logout(token: str) -> tuple[int, bytes]:
    response = APIClient().post("/api/auth/logout", {"refresh": token}, format="json")
    return response.status_code, response.content


def read_with(access: str) -> tuple[int, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = client.get("/api/properties")
    return response.status_code, response.json()


def test_a_refresh_gives_a_new_pair_and_spends_the_old_refresh_token(service: PropertyService) -> None:
    make_user("alice")
    first = tokens()
    status, second = refresh(first["refresh"])
    assert status == 200
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"]
    assert read_with(second["access"])[0] == 200
    assert refresh(first["refresh"]) == (401, GENERIC_401), "a spent refresh token cannot be reused"
    status, third = refresh(second["refresh"])
    assert status == 200
    assert read_with(third["access"])[0] == 200


@pytest.mark.http_server
def test_of_parallel_refreshes_with_one_token_only_the_first_wins(service: PropertyService) -> None:
    make_user("alice")
    spent = tokens()["refresh"]
    with gunicorn(2, "--workers", "2", "--threads", "8") as bases, ThreadPoolExecutor(16) as pool:
        statuses = Counter(
            pool.map(
                lambda n: call(bases[n % 2], "POST", "/api/auth/token/refresh", {"refresh": spent})[0],
                range(16),
            )
        )
    assert statuses == {200: 1, 401: 15}


def test_logout_spends_the_refresh_token(service: PropertyService) -> None:
    make_user("alice")
    pair = tokens()
    assert logout(pair["refresh"]) == (204, b"")
    assert refresh(pair["refresh"]) == (401, GENERIC_401)
    assert logout(pair["refresh"])[0] == 401, "a spent token cannot be spent again"
    assert read_with(pair["access"])[0] == 200, "its access token lives out its 15 minutes"
    assert logout("not-a-token")[0] == 401
    assert logout(tokens()["access"])[0] == 401, "an access token is not a refresh token"


def change_password(user: User) -> None:
    user.set_password("another-horse-battery")
    user.save()


def change_role(user: User) -> None:
    user.role = User.RoleChoice.AUDITOR
    user.save(update_fields=["role"])


def change_organisation(user: User) -> None:
    user.organisation = "globex"
    user.save()


def deactivate(user: User) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def deactivate_and_reactivate(user: User) -> None:
    deactivate(user)
    user.is_active = True
    user.save()


@pytest.mark.parametrize(
    "change", [change_password, change_role, change_organisation, deactivate, deactivate_and_reactivate]
)
def test_a_change_of_the_user_invalidates_every_token_issued_before(
    service: PropertyService, change: Callable[[User], None]
) -> None:
    user = make_user("alice")
    before = [tokens(), tokens()]
    change(User.objects.get(pk=user.pk))
    for pair in before:
        assert read_with(pair["access"]) == (401, GENERIC_401)
        assert refresh(pair["refresh"]) == (401, GENERIC_401)


def test_tokens_issued_after_a_change_work(service: PropertyService) -> None:
    user = make_user("alice")
    change_role(user)
    pair = tokens()
    assert read_with(pair["access"])[0] == 200
    assert refresh(pair["refresh"])[0] == 200


def test_saving_a_user_without_a_change_keeps_the_tokens(service: PropertyService) -> None:
    user = make_user("alice")
    pair = tokens()
    user = User.objects.get(pk=user.pk)
    user.first_name = "Alice"
    user.save()
    assert read_with(pair["access"])[0] == 200
    assert refresh(pair["refresh"])[0] == 200


def test_a_rehash_of_the_password_at_login_keeps_the_tokens(service: PropertyService) -> None:
    """The tests prefer MD5: a PBKDF2 hash is rewritten on the next login, the password unchanged."""
    user = make_user("alice", hasher="pbkdf2_sha256")
    pair = tokens()
    assert User.objects.get(pk=user.pk).password.startswith("md5$"), "the login rehashed the password"
    assert read_with(pair["access"])[0] == 200
    assert refresh(pair["refresh"])[0] == 200


def test_a_deleted_user_and_one_that_never_existed_get_the_same_generic_401(
    service: PropertyService,
) -> None:
    make_user("alice")
    deleted = tokens()
    User.objects.filter(username="alice").delete()
    unknown = CosmoRefreshToken()
    unknown["user_id"] = "987654321"
    for pair in (deleted, {"access": str(unknown.access_token), "refresh": str(unknown)}):
        assert read_with(pair["access"]) == (401, GENERIC_401)
        assert refresh(pair["refresh"]) == (401, GENERIC_401)
        assert logout(pair["refresh"])[0] == 401


def test_a_forged_or_garbled_token_gets_the_same_generic_401(service: PropertyService) -> None:
    make_user("alice")
    access = tokens()["access"]
    header, payload, signature = access.split(".")
    for forged in (f"{header}.{payload}.{signature[::-1]}", "not-a-token", f"{header}.{payload}."):
        assert read_with(forged) == (401, GENERIC_401)
        assert refresh(forged) == (401, GENERIC_401)


def test_the_schema_documents_logout_with_the_auth_operations(service: PropertyService) -> None:
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    logout_operation = schema["paths"]["/api/auth/logout"]["post"]
    assert logout_operation["tags"] == ["auth"]
    assert {"204", "400", "401"} <= set(logout_operation["responses"])
    refreshed = schema["paths"]["/api/auth/token/refresh"]["post"]["responses"]["200"]
    assert refreshed["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Tokens"}


def test_prune_audit_forgets_expired_refresh_tokens_and_keeps_live_ones(service: PropertyService) -> None:
    make_user("alice")
    live, expired = tokens(), tokens()
    assert logout(expired["refresh"])[0] == 204
    OutstandingToken.objects.filter(token=expired["refresh"]).update(expires_at=timezone.now())
    call_command("prune_audit", "--days", "30", stdout=io.StringIO())
    assert list(OutstandingToken.objects.values_list("token", flat=True)) == [live["refresh"]]
    assert not BlacklistedToken.objects.exists()
    assert refresh(live["refresh"])[0] == 200
