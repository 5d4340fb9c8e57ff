"""prune_audit: originals of settled photos go, everything a retry needs stays, events never go."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from pytest_django.fixtures import Settings

from domain.audit import AuditContext, acting_as
from domain.personal_data import ERASED
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure import audit_trail, composition
from infrastructure.audit_trail import chained
from infrastructure.composition import audit_key, blob_store
from infrastructure.idempotency import IdempotencyClaim, StoredResponse
from infrastructure.images.blob_store import LocalBlobStore
from infrastructure.images.cloudinary_blob_store import CloudinaryBlobStore
from infrastructure.persistence import event_store_env
from infrastructure.transcoder import OrjsonTranscoder
from tests.conftest import context_for, quay_street
from tests.fixtures import hard_images as hard
from tests.fixtures.fake_cloudinary import FakeCloudinary
from tests.fixtures.tiny_png import tiny_png
from tests.integration.test_cloudinary_blob_store import age
from tests.integration.test_image_policy import policy, upload
from tests.unit.test_image_blob_store import backdate


@pytest.fixture
def blobs_in(tmp_path: Path, settings: Settings) -> Path:
    settings.BLOB_ROOT = tmp_path / "blobs"
    settings.MEDIA_ROOT = tmp_path / "media"
    composition.reset()
    return tmp_path


def test_prune_removes_originals_of_processed_photos_and_keeps_what_retries_need(
    blobs_in: Path, service: PropertyService, alice: AuditContext, capsys: pytest.CaptureFixture[str]
) -> None:
    app = composition.property_service()
    blobs = blob_store()
    prop = app.register_property(name="Photos", kind=PropertyKind.HOUSE, address=quay_street())
    done = upload(app, blobs, hard.photo("rocket.jpg"), prop)
    policy(app, blobs, composition.image_store()).run_once()
    waiting = upload(app, blobs, hard.photo("coffee.png"), prop)
    shared_with_pending = upload(app, blobs, hard.photo("coffee.png"), prop)
    head = app.recorder.max_notification_id() or 0

    call_command("prune_audit", "--days", "0", "--dry-run")
    dry = capsys.readouterr().out
    done_sha = app.get_image(done).file.sha256
    assert f"would remove {done_sha}" in dry
    assert blobs.exists(done_sha), "a dry run removes nothing"

    call_command("prune_audit", "--days", "0")
    assert not blobs.exists(done_sha)
    assert blobs.exists(app.get_image(waiting).file.sha256), "a pending photo keeps its original"
    assert app.get_image(shared_with_pending).file.sha256 == app.get_image(waiting).file.sha256
    runs: list[Any] = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(head, 10, inclusive_of_start=False)
    ]
    assert [(type(r).__name__, r.dry_run, r.sha256s) for r in runs] == [
        ("OriginalsPruned", False, [done_sha]),
    ], "a dry run records nothing"
    assert audit_trail.verify(app.recorder, audit_key()).ok, "no event was touched"
    assert len(list(app.events.get(done))) == 2, "the photo's own events are all still there"


def test_recent_photos_keep_their_originals(
    blobs_in: Path, service: PropertyService, alice: AuditContext
) -> None:
    app = composition.property_service()
    blobs = blob_store()
    image = upload(app, blobs)
    policy(app, blobs, composition.image_store()).run_once()
    call_command("prune_audit", "--days", "30")
    assert blobs.exists(app.get_image(image).file.sha256)


def test_help_says_events_are_never_touched(service: PropertyService) -> None:
    from api.management.commands.prune_audit import Command

    assert "never deletes or edits an event" in Command.help
    with pytest.raises(CommandError, match="negative"):
        call_command("prune_audit", "--days", "-1")


def test_prune_removes_blobs_no_recorded_photo_refers_to_and_records_them(
    blobs_in: Path, service: PropertyService, alice: AuditContext, capsys: pytest.CaptureFixture[str]
) -> None:
    app = composition.property_service()
    blobs = blob_store()
    assert isinstance(blobs, LocalBlobStore)
    kept = app.get_image(upload(app, blobs, hard.photo("rocket.jpg"))).file.sha256
    refused = blobs.put(hard.photo("coffee.png"))  # stored, then its ImageAdded was refused
    in_flight = blobs.put(tiny_png())  # stored moments ago, its event about to be recorded
    for sha256 in (kept, refused):
        backdate(blobs, sha256)
    head = app.recorder.max_notification_id() or 0

    call_command("prune_audit", "--days", "30", "--dry-run")
    assert f"would remove orphaned blob {refused}" in capsys.readouterr().out
    assert blobs.exists(refused)
    call_command("prune_audit", "--days", "30")

    assert not blobs.exists(refused)
    assert blobs.exists(kept), "a blob an ImageAdded refers to is never an orphan"
    assert blobs.exists(in_flight), "younger than the grace period"
    runs: list[Any] = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(head, 10, inclusive_of_start=False)
    ]
    sweeps = [(r.sha256s, r.bytes_freed) for r in runs if type(r).__name__ == "OrphanedBlobsRemoved"]
    assert sweeps == [([refused], len(hard.photo("coffee.png")))]
    assert audit_trail.verify(app.recorder, audit_key()).ok


def test_prune_deletes_expired_idempotency_keys(blobs_in: Path, service: PropertyService) -> None:
    keys = chained(service.recorder)
    for key, hours_ago in (("expired", 25), ("live", 1)):
        at = time.time() - hours_ago * 3600
        keys.store_idempotent_response(
            IdempotencyClaim("user-1", key, "f", at, 0), StoredResponse(201, {}, b"{}")
        )
    call_command("prune_audit", "--days", "30")
    assert keys.select_idempotency_key("user-1", "expired", 0) is None
    assert keys.select_idempotency_key("user-1", "live", 0) is not None


def test_request_metadata_of_days_past_retention_becomes_unreadable_and_the_run_is_recorded(
    blobs_in: Path, service: PropertyService, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=100)
    env = event_store_env(
        connection.settings_dict, settings.COSMO_AUDIT_KEY, master_key=settings.COSMO_MASTER_KEY
    )
    writer_of_then = PropertyService(env=env)  # the same store, its clock set 100 days back
    assert isinstance(writer_of_then.mapper.transcoder, OrjsonTranscoder)
    assert writer_of_then.mapper.transcoder.cipher is not None
    writer_of_then.mapper.transcoder.cipher.clock = lambda: long_ago
    try:
        with acting_as(context_for("alice")):
            old = writer_of_then.register_property(name="Old", kind=PropertyKind.HOUSE, address=quay_street())
            new = service.register_property(name="New", kind=PropertyKind.HOUSE, address=quay_street())
    finally:
        writer_of_then.close()
    head = service.recorder.max_notification_id() or 0
    day = long_ago.strftime("%Y-%m-%d")

    call_command("prune_audit", "--days", "30", "--metadata-days", "90", "--dry-run")
    assert (
        f"would make client addresses and user agents recorded on {day} unreadable" in capsys.readouterr().out
    )
    assert service.recorder.max_notification_id() == head, "a dry run records nothing"
    assert audit_of(service, old.id).client_ip == "203.0.113.7"

    call_command("prune_audit", "--days", "30", "--metadata-days", "90")
    then, now = audit_of(service, old.id), audit_of(service, new.id)
    assert (then.username, then.client_ip, then.user_agent) == ("alice", ERASED, ERASED)
    assert (now.username, now.client_ip, now.user_agent) == ("alice", "203.0.113.7", "pytest")
    recorded: list[Any] = list(
        map(service.mapper.to_domain_event, service.recorder.select_notifications(head + 1, 10))
    )
    assert [e.periods for e in recorded if type(e).__name__ == "RequestMetadataExpired"] == [[day]]
    assert audit_trail.verify(service.recorder, audit_key()).ok


def audit_of(service: PropertyService, aggregate_id: Any) -> AuditContext:
    [registered] = service.events.get(aggregate_id)
    return registered.audit  # type: ignore[attr-defined, no-any-return]


def test_on_cloudinary_prune_removes_settled_originals_and_orphans_there(
    blobs_in: Path, service: PropertyService, alice: AuditContext, settings: Settings
) -> None:
    with FakeCloudinary() as cloudinary:
        settings.CLOUDINARY_URL = cloudinary.cloudinary_url()
        app = composition.property_service()
        blobs = blob_store()
        assert isinstance(blobs, CloudinaryBlobStore)
        done = app.get_image(upload(app, blobs, hard.photo("rocket.jpg"))).file.sha256
        policy(app, blobs, composition.image_store()).run_once()
        refused = blobs.put(hard.photo("coffee.png"))
        in_flight = blobs.put(tiny_png())
        for sha256 in (done, refused):
            age(cloudinary, sha256, timedelta(hours=2))

        call_command("prune_audit", "--days", "0")

        left = {key.removeprefix("cosmo/originals/") for key in cloudinary.objects if "/originals/" in key}
        assert left == {in_flight}, "the settled original and the orphan went; the upload in flight stayed"
        assert not (blobs_in / "blobs").exists(), "nothing was kept on this host"
