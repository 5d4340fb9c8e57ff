"""The base of every admin page: views only, over the live generation, at addresses that last.

A read-model row's primary key changes with each rebuild (a new generation is written beside the
old one), so pages are addressed by the row's own key (``key_field``: a property's id, an event's
position), which a rebuild keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse

from api.admin.site import is_admin
from api.read_your_writes import project_write
from domain.errors import DomainError
from domain.service import Receipt


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    key_field: ClassVar[str]
    list_per_page = 50

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_admin(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows: QuerySet[Any] = self.model.live()
        return rows.order_by(*self.get_ordering(request))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        try:
            return self.get_queryset(request).get(**{self.key_field: object_id})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        key_field = self.key_field

        class KeyedChangeList(ChangeList):
            def url_for_result(self, result: Model) -> str:
                return reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=(quote(getattr(result, key_field)),),
                    current_app=self.model_admin.admin_site.name,
                )

        return KeyedChangeList

    def run_commands(
        self, request: HttpRequest, done: str, commands: list[tuple[str, Callable[[], Receipt]]]
    ) -> None:
        """Runs each command (named for the messages) as the logged-in admin, brings the read models
        up to its events, and tells what was done and what the domain refused, one by one."""
        succeeded = 0
        for name, command in commands:
            try:
                receipt = command()
            except DomainError as refused:
                self.message_user(request, f"{name}: {refused}", messages.ERROR)
                continue
            project_write(receipt)
            succeeded += 1
        if succeeded:
            self.message_user(request, f"{done}: {succeeded}", messages.SUCCESS)
