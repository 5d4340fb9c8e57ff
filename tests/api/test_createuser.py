"""Accounts are made from the CLI; no account or password ships."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from api.models import User
from domain.service import PropertyService


def createuser(monkeypatch: pytest.MonkeyPatch, *args: str, password: str = "a-long-password-1") -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    call_command("createuser", *args, "--password-stdin", stdout=out)
    return out.getvalue()


def test_createuser_makes_a_user_in_an_organisation_with_a_role(
    service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "created auditor 'ann'" in createuser(
        monkeypatch, "ann", "--org", "audit-firm", "--role", "auditor"
    )
    user = User.objects.get(username="ann")
    assert (user.organisation, user.role) == ("audit-firm", "auditor")
    assert user.check_password("a-long-password-1")


def test_createuser_refuses_duplicates_and_bad_roles(
    service: PropertyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    createuser(monkeypatch, "ann", "--org", "acme", "--role", "manager")
    with pytest.raises(CommandError, match="already exists"):
        createuser(monkeypatch, "ann", "--org", "acme", "--role", "manager")
    with pytest.raises(CommandError):
        createuser(monkeypatch, "bob", "--org", "acme", "--role", "owner")
    with pytest.raises(CommandError, match="--org"):
        createuser(monkeypatch, "carl", "--org", " ", "--role", "manager")


@pytest.mark.parametrize("username", ["ann ", " ann", "ANN", "Ann", "\uff41nn", "a nn", "ann\n"])
def test_createuser_refuses_names_that_log_in_as_another_or_hold_whitespace(
    service: PropertyService, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    createuser(monkeypatch, "ann", "--org", "acme", "--role", "manager")
    with pytest.raises(CommandError):
        createuser(monkeypatch, username, "--org", "acme", "--role", "manager")
    assert list(User.objects.values_list("username", flat=True)) == ["ann"]


def test_no_user_exists_until_one_is_created(service: PropertyService) -> None:
    assert User.objects.count() == 0
