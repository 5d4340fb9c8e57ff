"""Role rules at the HTTP edge; the domain enforces the same rules again on every command."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from domain.audit import Role


class ReadOnlyForAuditors(BasePermission):
    message = "auditors may read but not change anything"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        return request.method in SAFE_METHODS or user.role != Role.AUDITOR.value


class ReadsAuditTrail(BasePermission):
    """The stream spans every organisation, so only auditors and admins may read it."""

    message = "only auditors and admins may read the audit trail"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return user is not None and user.is_authenticated and user.role in (Role.AUDITOR, Role.ADMIN)


class IsAdmin(BasePermission):
    message = "only admins may operate the read models"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return user is not None and user.is_authenticated and user.role == Role.ADMIN.value


class ErasesDataSubjects(IsAdmin):
    message = "only admins may erase a data subject"
