"""Crypto-shredding a data subject (docs/adr/0016): their name, address and user agent leave every
file and every answer, while every event stays and the audit log still verifies.

A real history: the person logs in (a failed attempt first), writes through the API with an
Idempotency-Key, and records one event of every type through the service; then
``erase-subject`` runs and the database files (SQLite file and WAL, or a ``pg_dump``), the NDJSON
export, a property's history, the read models and an offline-verified bundle are searched.
"""

from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from api.models import User
from domain.audit import AuditContext, Role, acting_as
from domain.personal_data import ERASED
from domain.service import PropertyChanges, PropertyService
from domain.values import PropertyKind
from infrastructure.composition import data_keys
from infrastructure.data_keys import MissingDataKey, subject_ref
from projections.models import AuditTimelineEntry
from projections.registry import all_projections
from projections.runner import catch_up
from tests.api.conftest import NEW_PROPERTY, PASSWORD, make_user
from tests.conftest import quay_street
from tests.integration.test_audit_bundle import auditor_path, bundle, checkpoint, offline  # noqa: F401
from tests.unit.test_audit_stamp import every_kind_of_aggregate

USERNAME = "zelda-unmistakable-7"
ADDRESS = "198.18.77.66"
AGENT = "ZeldaBrowser/9.9 (erasure-test)"
SECRETS = (USERNAME.encode(), ADDRESS.encode(), AGENT.encode())


def subject_context(user: User) -> AuditContext:
    return AuditContext(str(user.pk), USERNAME, Role.MANAGER, "acme", "req-zelda", "", ADDRESS, AGENT)


def auditor() -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("ann-auditor", "audit-firm", "auditor"))
    return client


def catch_up_all(service: PropertyService) -> None:
    for projection in all_projections():
        catch_up(projection, service)


def live_history(service: PropertyService) -> tuple[User, str]:
    user = make_user(USERNAME)
    client = APIClient(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=AGENT)
    refused = client.post("/api/auth/token", {"username": USERNAME, "password": "wrong"}, format="json")
    assert refused.status_code == 401
    tokens = client.post("/api/auth/token", {"username": USERNAME, "password": PASSWORD}, format="json")
    assert tokens.status_code == 200, tokens.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    created = client.post("/api/properties", NEW_PROPERTY, format="json", HTTP_IDEMPOTENCY_KEY="zelda-1")
    assert created.status_code == 201, created.content
    property_id = created.json()["id"]
    assert (
        client.patch(f"/api/properties/{property_id}", {"name": "Zelda's"}, format="json").status_code == 200
    )
    with acting_as(subject_context(user)):
        service.save(*every_kind_of_aggregate())
        service.update_property(UUID(property_id), PropertyChanges(name="Zelda's, renamed"), None)
    catch_up_all(service)
    return user, property_id


def database_bytes() -> bytes:
    if connection.vendor == "sqlite":
        name = Path(connection.settings_dict["NAME"])
        wal = name.with_name(name.name + "-wal")
        return name.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    settings = connection.settings_dict
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            settings["HOST"] or "127.0.0.1",
            "-p",
            str(settings["PORT"] or 5432),
            "-U",
            settings["USER"] or "postgres",
            settings["NAME"],
        ],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def found(blob: bytes) -> list[bytes]:
    return [secret for secret in SECRETS if secret in blob]


def test_after_erasure_no_byte_of_the_person_is_left_and_the_log_still_verifies(
    service: PropertyService,
    tmp_path: Path,
    auditor_path: Path,  # noqa: F811
) -> None:
    user, property_id = live_history(service)
    ann = auditor()
    export_before = ann.get("/api/audit/export").getvalue()
    assert found(export_before) == list(SECRETS), "the history must hold the person's data before"
    events_before = export_before.count(b"\n")

    out = StringIO()
    call_command("erase-subject", USERNAME, "--ground", "GDPR art. 17, request #77", stdout=out)
    assert f"erased subject {user.pk}: 1 data key destroyed" in out.getvalue()
    catch_up_all(service)

    export = ann.get("/api/audit/export").getvalue()
    assert found(export) == []
    assert export.count(b"\n") == events_before + 1, "every event is still there, plus SubjectErased"
    assert ERASED.encode() in export
    history = ann.get(f"/api/properties/{property_id}/history").content
    assert found(history) == []
    assert ERASED.encode() in history
    assert not AuditTimelineEntry.objects.filter(actor_username=USERNAME).exists()
    assert AuditTimelineEntry.objects.filter(actor_id=str(user.pk), actor_username=ERASED).exists()

    verified = StringIO()
    call_command("audit", "verify", stdout=verified)
    assert verified.getvalue().startswith("OK"), verified.getvalue()
    checkpoint()
    bundled = bundle(tmp_path, "--property", property_id)
    assert found(bundled.read_bytes()) == []
    status, output = offline(auditor_path, bundled)
    assert status == 0, output
    call_command("projections", "rebuild", "--all", "--check", stdout=StringIO())

    user.refresh_from_db()
    assert (user.username, user.is_active, user.has_usable_password()) == (f"erased-{user.pk}", False, False)
    assert found(database_bytes()) == []


def test_a_second_erasure_and_an_unknown_name_are_refused(service: PropertyService) -> None:
    user = make_user(USERNAME)
    call_command("erase-subject", USERNAME, "--ground", "request #1", stdout=StringIO())
    with pytest.raises(CommandError, match="no account"):
        call_command("erase-subject", USERNAME, "--ground", "request #1", stdout=StringIO())
    with pytest.raises(CommandError, match="already erased"):
        call_command("erase-subject", f"erased-{user.pk}", "--ground", "request #1", stdout=StringIO())


def test_a_data_key_missing_from_its_table_is_named(service: PropertyService) -> None:
    with acting_as(AuditContext("subject-9", "someone", Role.MANAGER, "acme", "r", "", ADDRESS, AGENT)):
        receipt = service.register_property(name="N", kind=PropertyKind.HOUSE, address=quay_street())
    with connection.cursor() as cursor:  # a key table restored from a backup older than the key
        cursor.execute(f"DELETE FROM {data_keys().table.table} WHERE ref = %s", [subject_ref("subject-9")])  # noqa: S608
    data_keys().forget_all()
    with (
        pytest.raises(Exception, match="subject:subject-9") as raised,
        acting_as(AuditContext("x", "x", Role.ADMIN, "acme", "r")),
    ):
        service.get_property(receipt.id)
    assert isinstance(raised.value.__cause__, MissingDataKey)
