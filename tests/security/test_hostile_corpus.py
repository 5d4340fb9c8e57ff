"""The hostile corpus swept against every endpoint: refused in the JSON error shape, nothing stored.

Every request here is one a client should not send: bodies, files, query values, headers and
paths from ``tests/security/corpus.py``, sent to each endpoint the URL configuration routes (and,
for parameters, each one the OpenAPI schema declares). Each must answer a 4xx with
``{"error": {"code", "message", "fields"}}``, never a 500, and leave the event store's head and
the blob store as they were. Only free text (a search term) may also be answered normally.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.permissions import SAFE_METHODS
from rest_framework.test import APIClient

from tests.api.conftest import NEW_PROPERTY
from tests.fixtures.tiny_png import tiny_png
from tests.security import corpus
from tests.security.endpoints import ACCESS, ENDPOINTS, OWN, PROBES, Access, Endpoint, Probe, World, client_as

SCHEMA: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-untyped-call]


class Sweep:
    """Sends hostile requests as one caller and notes every answer that breaks the contract."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.problems: list[str] = []
        self.clients: dict[str, APIClient] = {}
        self.sent = 0
        self.head = self._head()
        self.files = self._files()

    def send(
        self,
        endpoint: Endpoint,
        label: str,
        *,
        path: str | None = None,
        body: bytes = b"",
        content_type: str = "application/json",
        must_refuse: bool = True,
        role: str | None = None,
        **headers: str,
    ) -> None:
        client = self._client(role or caller(endpoint))
        url = path or reverse(endpoint.name, kwargs=self.world.shared[OWN].kwargs(endpoint.kwargs))
        # A server hands the application header bytes decoded as latin-1 (PEP 3333), whatever they were.
        extra: dict[str, Any] = {name: value.encode().decode("latin-1") for name, value in headers.items()}
        # Bytes as they are on the wire: Django's test client takes them, whatever its stubs say.
        response = client.generic(endpoint.method, url, body, content_type, **extra)  # type: ignore[arg-type]
        self.sent += 1
        content = response.getvalue()
        where = f"{endpoint.method} {url[:80]} [{label}]"
        if response.status_code >= 500 or (must_refuse and response.status_code < 400):
            self.problems.append(f"{where}: {response.status_code} {content[:160]!r}")
        elif response.status_code >= 400 and not _is_json_error(response["Content-Type"], content):
            self.problems.append(f"{where}: {response.status_code} is not a JSON error: {content[:160]!r}")
        if self._head() != self.head or self._files() != self.files:
            self.problems.append(f"{where}: {response.status_code} stored something")
            self.head, self.files = self._head(), self._files()

    def _client(self, role: str) -> APIClient:
        """One client per role: a token per request would cost a database write of its own."""
        if role not in self.clients:
            self.clients[role] = client_as(self.world, role)
            self.clients[role].raise_request_exception = False  # an unhandled error is a client's 500
        return self.clients[role]

    def check(self, at_least: int) -> None:
        assert not self.problems, "\n".join([f"{len(self.problems)} of {self.sent}:", *self.problems])
        assert self.sent >= at_least, f"only {self.sent} requests sent"

    def _head(self) -> int:
        return self.world.service.recorder.max_notification_id() or 0

    @staticmethod
    def _files() -> set[Path]:
        return {file for root in (settings.BLOB_ROOT, settings.MEDIA_ROOT) for file in Path(root).rglob("*")}


def _is_json_error(content_type: str, content: bytes) -> bool:
    if not content_type.startswith("application/json"):
        return False
    error = json.loads(content).get("error")
    return isinstance(error, dict) and set(error) == {"code", "message", "fields"}


def caller(endpoint: Endpoint) -> str:
    """A role the endpoint lets through, so what is refused is the input, not the caller."""
    return {Access.AUDIT_TRAIL: "auditor", Access.ADMIN: "admin"}.get(ACCESS[endpoint.name], "manager")


def operation(endpoint: Endpoint) -> dict[str, Any]:
    return dict(SCHEMA["paths"].get(endpoint.template, {}).get(endpoint.method.lower(), {}))


def body_types(endpoint: Endpoint) -> set[str]:
    return set(operation(endpoint).get("requestBody", {}).get("content", {}))


def parameters(endpoint: Endpoint, where: str) -> list[dict[str, Any]]:
    return [p for p in operation(endpoint).get("parameters", []) if p["in"] == where]


# A fuller PATCH than the matrix needs: every field it takes, so each one gets the corpus.
DOCUMENTS: dict[tuple[str, str], Any] = {
    ("property", "PATCH"): {key: value for key, value in NEW_PROPERTY.items() if key != "kind"},
}


def valid_document(endpoint: Endpoint, world: World) -> Any:
    key = (endpoint.name, endpoint.method)
    return DOCUMENTS.get(key) or PROBES.get(key, Probe()).body(world, world.shared[OWN])


def json_endpoints() -> Iterator[Endpoint]:
    return (endpoint for endpoint in ENDPOINTS if "application/json" in body_types(endpoint))


def test_every_endpoint_with_a_json_body_refuses_hostile_json(world: World) -> None:
    sweep = Sweep(world)
    for endpoint in json_endpoints():
        document = valid_document(endpoint, world)
        if operation(endpoint)["requestBody"].get("required"):  # elsewhere no body is a body of no fields
            sweep.send(endpoint, "no body")
        for label, body in corpus.RAW_JSON_BODIES.items():
            sweep.send(endpoint, label, body=body)
        for label, body in corpus.hostile_documents(document):
            sweep.send(endpoint, label, body=body)
        for content_type in corpus.WRONG_CONTENT_TYPES:
            sweep.send(endpoint, content_type, body=json.dumps(document).encode(), content_type=content_type)
    sweep.check(at_least=900)


def test_the_upload_refuses_hostile_files_and_forms(world: World) -> None:
    sweep = Sweep(world)
    uploads = [endpoint for endpoint in ENDPOINTS if "multipart/form-data" in body_types(endpoint)]
    assert uploads
    encode = APIClient()._encode_data  # type: ignore[attr-defined]
    for endpoint in uploads:
        for label, (name, data, media_type) in corpus.FILES.items():
            body, content_type = encode({"file": _file(name, data, media_type)}, "multipart", None)
            sweep.send(endpoint, label, body=body, content_type=content_type)
        for label, (body, content_type) in _hostile_forms().items():
            sweep.send(endpoint, label, body=body, content_type=content_type)
        for label, body in corpus.RAW_JSON_BODIES.items():
            sweep.send(endpoint, f"JSON {label}", body=body)
    sweep.check(at_least=40)


def _file(name: str, data: bytes, media_type: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=media_type)


def _hostile_forms() -> dict[str, tuple[bytes, str]]:
    png = tiny_png()

    def part(name: str, value: bytes, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        return b"--b\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + value + b"\r\n"

    form = "multipart/form-data; boundary=b"
    photo = part("file", png, "photo.png")
    return {
        "no boundary": (photo + b"--b--\r\n", "multipart/form-data"),
        "empty boundary": (photo + b"--b--\r\n", "multipart/form-data; boundary="),
        "boundary over 70 characters": (photo + b"--b--\r\n", "multipart/form-data; boundary=" + "b" * 200),
        "truncated in the file": (photo[: len(photo) // 2], form),
        "no closing boundary": (photo, form),
        "another boundary": (photo.replace(b"--b", b"--c") + b"--c--\r\n", form),
        "no file part": (part("caption", b"hello") + b"--b--\r\n", form),
        "file as a plain field": (part("file", png) + b"--b--\r\n", form),
        "two files": (photo + photo + b"--b--\r\n", form),
        "caption with bidi": (photo + part("caption", "\u202egnp.exe".encode()) + b"--b--\r\n", form),
        "caption with NUL": (photo + part("caption", b"a\x00b") + b"--b--\r\n", form),
        "caption not UTF-8": (photo + part("caption", b"\xff\xfe") + b"--b--\r\n", form),
        "caption a UTF-8 surrogate": (photo + part("caption", b"\xed\xa0\x80") + b"--b--\r\n", form),
        "caption of 100 000 characters": (photo + part("caption", b"x" * 100_000) + b"--b--\r\n", form),
        "two captions": (photo + part("caption", b"a") + part("caption", b"b") + b"--b--\r\n", form),
        "unknown field": (photo + part("organisation", b"globex") + b"--b--\r\n", form),
        "a valid photo as raw bytes": (png, "image/png"),
        "form-urlencoded": (b"caption=hello", "application/x-www-form-urlencoded"),
    }


def test_every_query_parameter_refuses_values_of_the_wrong_kind(world: World) -> None:
    sweep = Sweep(world)
    for endpoint in ENDPOINTS:
        if endpoint.name in ("schema", "docs", "media"):
            continue  # they take no query of ours: the schema's own ?format= and ?lang= are drf-spectacular's
        base = reverse(endpoint.name, kwargs=world.shared[OWN].kwargs(endpoint.kwargs))
        sweep.send(
            endpoint,
            "unknown parameter",
            path=f"{base}?organisation=globex",
            body=_valid_body(endpoint, world),
        )
        for parameter in parameters(endpoint, "query"):
            name = parameter["name"]
            values, must_refuse = _values_for(parameter)
            for value in values:
                sweep.send(
                    endpoint, f"{name}={value[:30]}", path=f"{base}?{name}={value}", must_refuse=must_refuse
                )
            sweep.send(endpoint, f"{name} twice", path=f"{base}?{name}=1&{name}=2")
    sweep.check(at_least=200)


def _valid_body(endpoint: Endpoint, world: World) -> bytes:
    document = valid_document(endpoint, world) if endpoint.method not in SAFE_METHODS else None
    return b"" if document is None or endpoint.name == "property-images" else json.dumps(document).encode()


def _values_for(parameter: dict[str, Any]) -> tuple[list[str], bool]:
    schema = parameter["schema"]
    if schema.get("type") == "integer":
        return corpus.INTEGERS, True
    if schema.get("format") == "date-time":
        return corpus.DATETIMES, True
    if schema.get("format") == "uuid":
        return corpus.UUIDS, True
    if "enum" in schema or "enum" in schema.get("items", {}):
        return corpus.CHOICES, True
    return corpus.TEXTS, False


def test_hostile_headers_are_refused(world: World) -> None:
    sweep = Sweep(world)
    for endpoint in ENDPOINTS:
        headers = {p["name"] for p in parameters(endpoint, "header")}
        body = _valid_body(endpoint, world)
        if "X-Cosmo-Min-Position" in headers:
            for value in corpus.MIN_POSITIONS:
                sweep.send(endpoint, f"min position {value[:20]!r}", HTTP_X_COSMO_MIN_POSITION=value)
        if "Idempotency-Key" in headers:
            for value in corpus.IDEMPOTENCY_KEYS:
                sweep.send(endpoint, f"key {value[:20]!r}", body=body, HTTP_IDEMPOTENCY_KEY=value)
        if "If-Match" in headers:
            for value in corpus.IF_MATCHES:
                sweep.send(endpoint, f"If-Match {value[:20]!r}", body=body, HTTP_IF_MATCH=value)
        if ACCESS[endpoint.name] is not Access.PUBLIC:
            for value in corpus.AUTHORIZATIONS:
                sweep.send(endpoint, f"{value[:20]!r}", body=body, role="anonymous", HTTP_AUTHORIZATION=value)
        if endpoint.method in SAFE_METHODS and endpoint.name not in ("media", "docs"):
            for value in corpus.REQUEST_IDS:  # replaced by one of ours, never refused
                sweep.send(endpoint, f"request id {value[:20]!r}", must_refuse=False, HTTP_X_REQUEST_ID=value)
    sweep.check(at_least=150)


def test_hostile_paths_are_json_404s(world: World) -> None:
    sweep = Sweep(world)
    for endpoint in ENDPOINTS:
        if endpoint.name == "media":
            for value in corpus.MEDIA_PATHS:
                sweep.send(endpoint, value[:30], path=f"/media/{value}")
            continue
        if not endpoint.kwargs:
            continue
        valid = reverse(endpoint.name, kwargs=world.shared[OWN].kwargs(endpoint.kwargs))
        own_id = world.shared[OWN].kwargs(endpoint.kwargs)[endpoint.kwargs[0]]
        other_case = [own_id.upper()] if own_id.upper() != own_id else []  # a position has no case
        for value in [*corpus.PATH_IDS, *other_case]:
            path = valid.replace(own_id, value)
            sweep.send(endpoint, value[:30], path=path, body=_valid_body(endpoint, world))
    sweep.check(at_least=60)


@pytest.mark.parametrize("name", ["../../../../etc/passwd.png", "..\\..\\boot.ini.png", "/etc/shadow.png"])
def test_a_photo_named_with_a_path_is_kept_as_a_label(world: World, name: str, tmp_path: Path) -> None:
    """A valid photo under a hostile name is accepted, but the name never becomes a path."""
    client = client_as(world, "manager")
    url = reverse("property-images", kwargs={"property_id": world.shared[OWN].property_id})
    response = client.post(url, {"file": _file(name, tiny_png(), "image/png")}, format="multipart")
    assert response.status_code == 202, response.content
    filename = response.json()["filename"]
    assert "/" not in filename, filename
    assert "\\" not in filename, filename
    stored = {file for file in tmp_path.rglob("*") if file.is_file()}
    assert all(file.is_relative_to(tmp_path) for file in stored)
    assert not (tmp_path.parent / "etc").exists()
