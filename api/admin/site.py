"""The admin site: who may log in (admins only, their failed logins throttled like the API's), and
the caller bound as the actor of every command an admin page runs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework.exceptions import AuthenticationFailed

from api.client_ip import client_ip
from api.context import audit_context_of
from api.login_throttle import TooManyFailedLogins, login_attempt
from api.models import User
from domain.audit import AuditContext, Role, acting_as


def is_admin(user: Any) -> bool:
    """Staff are the accounts with the ``admin`` role: ``is_staff`` plays no part."""
    return isinstance(user, User) and user.is_active and user.role == Role.ADMIN.value


def admin_context(request: HttpRequest) -> AuditContext:
    """The logged-in admin as the actor of what a page does, as an API request would record them."""
    user = request.user
    assert isinstance(user, User), "admin views run only for logged-in admins"
    return audit_context_of(user, request)


class AdminLoginForm(AdminAuthenticationForm):
    """Django's admin login, counted by the API's login throttle and open to the admin role only."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        assert self.request is not None, "the admin's login view hands the form its request"
        try:
            with login_attempt(username, client_ip(self.request)):
                try:
                    return super().clean()
                except forms.ValidationError as refused:
                    raise AuthenticationFailed() from refused
        except AuthenticationFailed as failed:
            raise failed.__cause__ or forms.ValidationError("login refused") from None
        except TooManyFailedLogins as throttled:
            raise forms.ValidationError(str(throttled.detail), code="too_many_failed_logins") from None

    def confirm_login_allowed(self, user: Any) -> None:
        if not is_admin(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class CosmoAdminSite(admin.AdminSite):
    site_header = "Cosmo operations"
    site_title = "Cosmo admin"
    index_title = "Read models"
    login_form = AdminLoginForm
    site_url = None  # the site is an API: there is no page to go back to

    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """No form writes a table here, the accounts' included: passwords change as the README's
        accounts do (``User.set_password``, which also ends the account's tokens)."""
        raise Http404("passwords are not changed in the admin")

    def has_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def admin_view(self, view: Any, cacheable: bool = False) -> Any:
        """Every page runs on behalf of the logged-in admin, so a command it sends is theirs."""

        def as_the_admin(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Django's wrapper below has checked has_permission (or sent the caller to log in).
            with acting_as(admin_context(request)):
                response: HttpResponse = view(request, *args, **kwargs)
            return response

        return super().admin_view(as_the_admin, cacheable)


site = CosmoAdminSite(name="admin")
