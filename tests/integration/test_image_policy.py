"""The image policy on a real database, real Pillow, the real Cloudinary SDK against a fake server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from domain.audit import AuditContext
from domain.image import ImageFile, ImageStatus
from domain.service import PropertyService
from domain.values import PropertyKind
from infrastructure.composition import wake_image_workers
from infrastructure.image_policy import ALL_IMAGES, TRIGGERS, ImagePolicy, Partition, VariantSpec
from infrastructure.images.blob_store import BlobStore, LocalBlobStore
from infrastructure.images.cloudinary_blob_store import CloudinaryBlobStore
from infrastructure.images.cloudinary_store import CloudinaryImageStore
from infrastructure.images.image_store import ImageStore
from infrastructure.images.local_store import LocalImageStore
from infrastructure.images.upload_checks import inspect_upload
from infrastructure.workers import Worker
from projections.models import WorkerHeartbeat
from projections.registry import inline_projections
from projections.runner import catch_up
from projections.selectors import get_image, live_position
from tests.conftest import ROOT, process_env, quay_street
from tests.fixtures import hard_images as hard
from tests.fixtures.fake_cloudinary import FakeCloudinary

SPEC = VariantSpec(widths=(480, 240), formats=("webp",), max_pixels=50_000_000)


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def disk(tmp_path: Path) -> LocalImageStore:
    return LocalImageStore(tmp_path / "media" / "images")


def policy(
    service: PropertyService, blobs: BlobStore, store: ImageStore, partition: Partition = ALL_IMAGES
) -> ImagePolicy:
    return ImagePolicy(service, blobs, store, SPEC, attempts=3, retry_seconds=0, partition=partition)


def upload(service: PropertyService, blobs: BlobStore, data: bytes | None = None, prop: Any = None) -> UUID:
    """What the API does for an upload: inspect, keep the original, record ImageAdded."""
    data = data or hard.photo("rocket.jpg")
    inspected = inspect_upload(data)
    if prop is None:
        prop = service.register_property(name="With photos", kind=PropertyKind.HOUSE, address=quay_street())
    sha = blobs.put(data)
    file = ImageFile(
        sha, inspected.size_bytes, inspected.width, inspected.height, inspected.format, "IMG.jpg"
    )
    return service.add_image(prop.id, file, "front").id


def last_trigger(service: PropertyService) -> int:
    return service.recorder.select_notifications(start=0, limit=1000, topics=TRIGGERS)[-1].id


def outcomes(service: PropertyService, image_id: UUID) -> list[str]:
    return [type(e).__name__ for e in service.events.get(image_id)][1:]


def test_an_added_image_is_compressed_stored_and_recorded_once(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    image_id = upload(service, blobs)
    assert policy(service, blobs, disk).run_once() == 1
    image = service.get_image(image_id)
    assert image.status is ImageStatus.READY
    assert [(v.width, v.format) for v in image.variants] == [(480, "webp"), (240, "webp")]
    assert all(
        (disk.root / str(image_id) / f"{v.width}.webp").stat().st_size == v.bytes for v in image.variants
    )
    assert image.stored_bytes < image.file.bytes
    assert policy(service, blobs, disk).run_once() == 0, "a second worker finds nothing left to do"
    assert outcomes(service, image_id) == ["ImageProcessed"]
    processed: Any = list(service.events.get(image_id))[-1]
    assert (processed.audit.username, processed.audit.causation_id) == ("image-policy", "position:2")
    assert processed.audit.request_id == "req-alice", "correlated with the upload's request"


def test_the_outcome_is_in_the_read_models_when_the_policy_is_done_without_a_catch_up(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    """A client polling ``GET /api/images/{id}`` sees ``ready`` once the outcome is recorded."""
    image_id = upload(service, blobs)
    for projection in inline_projections():
        catch_up(projection, service)  # where the upload's own answer left them
    assert get_image(alice, image_id).status == "pending"
    assert policy(service, blobs, disk).run_once() == 1
    row = get_image(alice, image_id)
    assert row.status == "ready"
    assert live_position("property_detail") == service.recorder.max_notification_id()


def test_its_position_is_recorded_with_the_outcome(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    upload(service, blobs)
    worker = policy(service, blobs, disk)
    assert worker.position == 0
    worker.run_once()
    assert worker.position == 2, "the ImageAdded at position 2 is done"


def test_an_image_removed_before_processing_is_skipped(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    image_id = upload(service, blobs)
    service.remove_image(image_id)
    worker = policy(service, blobs, disk)
    assert worker.run_once() == 0
    assert worker.position == last_trigger(service), "both triggers (added, removed) are behind it"
    assert outcomes(service, image_id) == ["ImageRemoved"]


def test_partitions_share_the_images_without_overlap(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    images = [upload(service, blobs) for _ in range(6)]
    while {Partition(0, 2).owns(i) for i in images} != {True, False}:  # ids are random: 1 in 32
        images.append(upload(service, blobs))
    first, second = (policy(service, blobs, disk, Partition(k, 2)) for k in range(2))
    handled = first.run_once(batch_size=len(images)) + second.run_once(batch_size=len(images))
    assert handled == len(images)
    assert first.run_once() + second.run_once() == 0
    assert all(outcomes(service, image_id) == ["ImageProcessed"] for image_id in images)


@pytest.fixture
def cloudinary() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as server:
        yield server


def test_cloudinary_gets_signed_uploads_named_by_image_id(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, cloudinary: FakeCloudinary
) -> None:
    image_id = upload(service, blobs)
    policy(service, blobs, CloudinaryImageStore(cloudinary.cloudinary_url(), timeout=2)).run_once()
    image = service.get_image(image_id)
    assert image.status is ImageStatus.READY
    assert sorted(cloudinary.objects) == [f"cosmo/{image_id}/240-webp", f"cosmo/{image_id}/480-webp"]
    assert all(v.url.startswith("https://") for v in image.variants)


@pytest.mark.parametrize("status", [500, 429])
def test_transient_errors_are_retried_then_recorded_as_a_failure(
    service: PropertyService,
    alice: AuditContext,
    blobs: LocalBlobStore,
    cloudinary: FakeCloudinary,
    status: int,
) -> None:
    image_id = upload(service, blobs)
    cloudinary.fail_next(times=3, status=status)
    policy(service, blobs, CloudinaryImageStore(cloudinary.cloudinary_url(), timeout=2)).run_once()
    image = service.get_image(image_id)
    assert (image.status, image.attempts) == (ImageStatus.FAILED, 3)
    assert "after 3 attempts" in image.failure
    assert cloudinary.upload_count == 3
    assert blobs.exists(image.file.sha256), "the original is kept for a retry"


def test_a_hanging_server_is_a_timeout_and_a_retry_succeeds_later(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, cloudinary: FakeCloudinary
) -> None:
    image_id = upload(service, blobs)
    store = CloudinaryImageStore(cloudinary.cloudinary_url(), timeout=0.3)
    cloudinary.hang_next(times=3, seconds=2)
    worker = policy(service, blobs, store)
    worker.run_once()
    assert service.get_image(image_id).status is ImageStatus.FAILED
    service.retry_image(image_id)
    assert worker.run_once() == 1
    assert service.get_image(image_id).status is ImageStatus.READY
    assert outcomes(service, image_id) == ["ImageProcessingFailed", "ImageRetryRequested", "ImageProcessed"]


def test_a_wrong_secret_fails_at_once_without_retrying(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, cloudinary: FakeCloudinary
) -> None:
    image_id = upload(service, blobs)
    store = CloudinaryImageStore(cloudinary.cloudinary_url(api_secret="not-the-secret"), timeout=2)
    policy(service, blobs, store).run_once()
    image = service.get_image(image_id)
    assert (image.status, image.attempts) == (ImageStatus.FAILED, 1)
    assert "refused" in image.failure


def test_an_original_gone_from_the_blob_store_is_a_permanent_failure(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    image_id = upload(service, blobs)
    blobs.delete(service.get_image(image_id).file.sha256)
    policy(service, blobs, disk).run_once()
    image = service.get_image(image_id)
    assert image.status is ImageStatus.FAILED
    assert "cannot make variants" in image.failure


def test_a_worker_on_another_host_makes_the_variants_of_an_original_kept_on_cloudinary(
    service: PropertyService, alice: AuditContext, tmp_path: Path, cloudinary: FakeCloudinary
) -> None:
    """The API host keeps the original on Cloudinary; a worker with a var dir of its own (another
    host: nothing of the upload on its disk) fetches it from there and records the outcome."""
    image_id = upload(service, CloudinaryBlobStore(cloudinary.cloudinary_url(), timeout=2))
    worker_var = tmp_path / "worker-host"
    env = {
        **process_env(),
        "COSMO_VAR_DIR": str(worker_var),
        "CLOUDINARY_URL": cloudinary.cloudinary_url(),
        "COSMO_IMAGE_WIDTHS": "480,240",
    }
    command = [sys.executable, "manage.py", "run_workers", "--poll", "0.05"]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while outcomes(service, image_id) == []:
            assert time.monotonic() < deadline, "the worker did not process the image"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    image = service.get_image(image_id)
    assert image.status is ImageStatus.READY, image.failure
    downloads = [r for r in cloudinary.requests if r.path.endswith("/raw/download")]
    assert [d.params["public_id"] for d in downloads] == [f"cosmo/originals/{image.file.sha256}"]
    assert sorted(cloudinary.objects) == sorted(
        [f"cosmo/originals/{image.file.sha256}", f"cosmo/{image_id}/480-webp", f"cosmo/{image_id}/240-webp"]
    )
    assert not (worker_var / "blobs").exists(), "the worker kept no copy of the original"


def test_a_busy_blob_store_is_asked_again_before_the_image_fails(
    service: PropertyService, alice: AuditContext, disk: LocalImageStore, cloudinary: FakeCloudinary
) -> None:
    blobs = CloudinaryBlobStore(cloudinary.cloudinary_url(), timeout=2)
    image_id = upload(service, blobs)
    cloudinary.fail_next(times=2, status=503)
    policy(service, blobs, disk).run_once()
    assert service.get_image(image_id).status is ImageStatus.READY
    other = upload(service, blobs, hard.photo("coffee.png"))
    cloudinary.fail_next(times=3, status=503)
    policy(service, blobs, disk).run_once()
    image = service.get_image(other)
    assert image.status is ImageStatus.FAILED
    assert "503" in image.failure


def test_a_worker_killed_mid_work_processes_every_image_exactly_once_after_restart(
    service: PropertyService, alice: AuditContext, tmp_path: Path
) -> None:
    env = {
        **process_env(),
        "COSMO_VAR_DIR": str(tmp_path),
        "COSMO_IMAGE_WIDTHS": "640,320",
        "COSMO_IMAGE_FORMATS": "webp,jpeg",
    }
    blobs = LocalBlobStore(tmp_path / "blobs")
    prop = service.register_property(name="Many photos", kind=PropertyKind.HOUSE, address=quay_street())
    images = [
        upload(service, blobs, hard.photo(name), prop)
        for name in ["rocket.jpg", "coffee.png", "chelsea.png"] * 4
    ]

    def processed() -> int:
        return sum(outcomes(service, image_id) == ["ImageProcessed"] for image_id in images)

    command = [sys.executable, "manage.py", "run_workers", "--poll", "0.05"]
    victim = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while processed() == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert processed() < len(images), "killed while work remained"
    survivor = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while processed() < len(images):
            assert time.monotonic() < deadline, "not every image got processed"
            time.sleep(0.05)
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=30) == 0
    for image_id in images:
        assert outcomes(service, image_id) == ["ImageProcessed"], "exactly one outcome per image"
    tracking = Tracking("image_policy", service.recorder.max_notification_id() or 0)
    assert service.recorder.max_tracking_id(tracking.application_name) is not None  # type: ignore[attr-defined]


def test_removing_a_processed_photo_deletes_its_variants(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    image_id = upload(service, blobs)
    worker = policy(service, blobs, disk)
    worker.run_once()
    assert (disk.root / str(image_id)).exists()
    service.remove_image(image_id)
    worker.run_once()
    assert not (disk.root / str(image_id)).exists()
    assert worker.position == last_trigger(service)


def test_a_worker_with_a_long_poll_processes_an_upload_as_soon_as_it_is_recorded(
    service: PropertyService, alice: AuditContext, blobs: LocalBlobStore, disk: LocalImageStore
) -> None:
    """SQLite: the API's wake-up datagram; PostgreSQL: NOTIFY. Never the 60-second poll."""
    worker = Worker(service, [], policy(service, blobs, disk), poll_interval=60)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not WorkerHeartbeat.objects.filter(name=worker.name).exists():  # its first round is over
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.02)
        image_id = upload(service, blobs)
        wake_image_workers()  # what the upload view does after recording ImageAdded
        while service.get_image(image_id).status is not ImageStatus.READY:
            assert time.monotonic() < deadline, "the worker was not woken"
            time.sleep(0.02)
    finally:
        worker.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcomes(service, image_id) == ["ImageProcessed"]
