"""The API's endpoints as routed, who may call each, and a valid request for each write.

Built from ``api.urls``, so the security suite covers an endpoint as soon as it is routed; the
authorization matrix fails for an endpoint nobody classified here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from django.urls import URLPattern, URLResolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from api import urls
from api.errors import not_found
from api.models import User
from domain.service import PropertyService
from tests.api.conftest import NEW_PROPERTY, PASSWORD, create, make_user
from tests.fixtures.image_outcomes import record_failed
from tests.fixtures.tiny_png import png_upload


class Access(enum.Enum):
    PUBLIC = "anyone, without a token"
    ORGANISATION = "every role reads; managers and admins write; managers only their organisation's"
    AUDIT_TRAIL = "auditors and admins"
    ADMIN = "admins"


ACCESS: dict[str, Access] = {
    "health": Access.PUBLIC,
    "ready": Access.PUBLIC,
    "token": Access.PUBLIC,
    "token-refresh": Access.PUBLIC,
    "logout": Access.PUBLIC,
    "schema": Access.PUBLIC,
    "docs": Access.PUBLIC,
    "media": Access.PUBLIC,
    "properties": Access.ORGANISATION,
    "property": Access.ORGANISATION,
    "property-archive": Access.ORGANISATION,
    "property-history": Access.ORGANISATION,
    "property-images": Access.ORGANISATION,
    "image-order": Access.ORGANISATION,
    "property-cover": Access.ORGANISATION,
    "image": Access.ORGANISATION,
    "image-retry": Access.ORGANISATION,
    "dashboard": Access.ORGANISATION,
    "audit-events": Access.AUDIT_TRAIL,
    "audit-export": Access.AUDIT_TRAIL,
    "audit-verify": Access.AUDIT_TRAIL,
    "audit-public-key": Access.AUDIT_TRAIL,
    "audit-checkpoint": Access.AUDIT_TRAIL,
    "audit-proof": Access.AUDIT_TRAIL,
    "audit-consistency": Access.AUDIT_TRAIL,
    "projections": Access.ADMIN,
    "subject-erasure": Access.ADMIN,
    "metrics": Access.ADMIN,
}
# Function views have no class to ask for their methods.
FUNCTION_VIEW_METHODS = {"media": ["GET"]}
ROLES = ["anonymous", "manager", "auditor", "admin"]
OWN, OTHER = "acme", "globex"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    kwargs: tuple[str, ...]
    template: str  # as the OpenAPI schema writes the path: /api/images/{image_id}

    @property
    def scoped(self) -> bool:
        """Names a resource that belongs to an organisation."""
        return bool(self.kwargs)


def routed(patterns: list[Any] = urls.urlpatterns, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in patterns:
        if str(entry.pattern).startswith("admin"):
            continue  # HTML pages for admins behind their own login form: tests/api/test_admin.py
        if isinstance(entry, URLResolver):
            found += routed(entry.url_patterns, prefix + (entry.namespace + ":" if entry.namespace else ""))
        elif entry.callback is not not_found:  # the JSON 404 for everything else
            found.append((prefix + (entry.name or repr(entry.pattern)), entry))
    return found


def methods_of(name: str, pattern: URLPattern) -> list[str]:
    view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
    if view_class is None:
        return FUNCTION_VIEW_METHODS.get(name, ["?"])
    declared = [
        m for m in view_class.http_method_names if m not in ("head", "options") and hasattr(view_class, m)
    ]
    return [m.upper() for m in declared]


ENDPOINTS = [
    Endpoint(
        name,
        method,
        tuple(pattern.pattern.converters),
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern)),
    )
    for name, pattern in routed()
    for method in methods_of(name, pattern)
]


@dataclass
class Resources:
    """One organisation's property and photo, as a caller would name them in a path."""

    property_id: str
    image_id: str
    media_path: str
    subject: str  # a person of the organisation, to erase

    def kwargs(self, names: tuple[str, ...]) -> dict[str, str]:
        values = {
            "property_id": self.property_id,
            "image_id": self.image_id,
            "path": self.media_path,
            "position": "1",  # an inclusion proof: every world has recorded an event by then
            "username": self.subject,
        }
        return {name: values[name] for name in names}


@dataclass
class World:
    service: PropertyService
    users: dict[str, User]
    creators: dict[str, APIClient]
    settings: Any
    shared: dict[str, Resources] = field(default_factory=dict)

    def resources(self, organisation: str, failed_photo: bool = False) -> Resources:
        client = self.creators[organisation]
        property_id = create(client, name=f"{organisation} flats")["id"]
        response = client.post(
            f"/api/properties/{property_id}/images", {"file": png_upload()}, format="multipart"
        )
        assert response.status_code == 202, response.content
        image_id = response.json()["id"]
        if failed_photo:
            record_failed(self.service, UUID(image_id))
        media = self.settings.MEDIA_ROOT / "images" / image_id / "480.webp"
        media.parent.mkdir(parents=True)
        media.write_bytes(b"RIFF\0\0\0\0WEBP")
        subject = make_user(f"{organisation}-subject-{uuid4().hex[:8]}", organisation).username
        return Resources(property_id, image_id, f"images/{image_id}/480.webp", subject)


@dataclass(frozen=True)
class Probe:
    """A request valid in every respect but the caller's right to make it."""

    body: Callable[[World, Resources], Any] = lambda world, target: None
    format: str = "json"
    fresh: bool = False  # it changes the resource for good (archive, delete): use new ones
    failed_photo: bool = False
    succeeds_with: int | None = None  # a status other than 2xx that still means "allowed"


def refresh_token(world: World, target: Resources) -> dict[str, str]:
    return {"refresh": str(RefreshToken.for_user(world.users["manager"]))}


PROBES: dict[tuple[str, str], Probe] = {
    ("token", "POST"): Probe(lambda world, target: {"username": "matrix-manager", "password": PASSWORD}),
    ("token-refresh", "POST"): Probe(refresh_token),
    ("logout", "POST"): Probe(refresh_token),
    ("properties", "POST"): Probe(lambda world, target: NEW_PROPERTY),
    ("property", "PATCH"): Probe(lambda world, target: {"name": "Renamed by the matrix"}),
    ("property-archive", "POST"): Probe(lambda world, target: {"reason": "sold"}, fresh=True),
    ("property-images", "POST"): Probe(lambda world, target: {"file": png_upload()}, format="multipart"),
    ("image-order", "PUT"): Probe(lambda world, target: {"image_ids": [target.image_id]}),
    ("property-cover", "PUT"): Probe(lambda world, target: {"image_id": target.image_id}),
    ("image", "PATCH"): Probe(lambda world, target: {"caption": "seen from the quay"}),
    ("image", "DELETE"): Probe(fresh=True),
    ("image-retry", "POST"): Probe(fresh=True, failed_photo=True),
    ("subject-erasure", "POST"): Probe(lambda world, target: {"ground": "the matrix"}, fresh=True),
    # Readiness is about the workers, not the caller: 503 while they have not reported yet.
    ("ready", "GET"): Probe(succeeds_with=503),
    # No checkpoint is made in the matrix's world: 404 no_checkpoint is the allowed answer.
    ("audit-checkpoint", "GET"): Probe(succeeds_with=404),
}


def client_as(world: World, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        access = RefreshToken.for_user(world.users[role]).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client
