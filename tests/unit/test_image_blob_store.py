"""The content-addressed store of originals: named by SHA-256, idempotent, atomic, no way out of root."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infrastructure.images.blob_store import BlobCorrupted, BlobNotFound, InvalidDigest, LocalBlobStore
from infrastructure.images.files import TEMP_PREFIX
from tests.fixtures import hard_images as hard


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_a_blob_is_stored_under_its_sha256_and_read_back(blobs: LocalBlobStore) -> None:
    data = hard.photo("rocket.jpg")
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert blobs.get(digest) == data
    assert blobs.exists(digest)
    assert blobs.size(digest) == len(data)
    assert (blobs.root / digest[:2] / digest).read_bytes() == data


def test_originals_are_private_to_the_server(blobs: LocalBlobStore) -> None:
    digest = blobs.put(b"GPS lives in here")
    assert stat.S_IMODE((blobs.root / digest[:2] / digest).stat().st_mode) == 0o600


def test_putting_the_same_bytes_twice_stores_them_once(blobs: LocalBlobStore) -> None:
    data = hard.photo("chelsea.png")
    first = blobs.put(data)
    inode = (blobs.root / first[:2] / first).stat().st_ino
    assert blobs.put(data) == first
    assert (blobs.root / first[:2] / first).stat().st_ino == inode  # not rewritten
    assert [p for p in blobs.root.rglob("*") if p.is_file()] == [blobs.root / first[:2] / first]


def test_concurrent_puts_of_the_same_bytes_leave_one_whole_blob(blobs: LocalBlobStore) -> None:
    data = hard.photo("coffee.png")
    digests: list[str] = []
    threads = [threading.Thread(target=lambda: digests.append(blobs.put(data))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(digests)) == 1
    assert blobs.get(digests[0]) == data
    assert leftovers(blobs.root) == []


def test_a_write_that_fails_leaves_neither_a_blob_nor_a_temporary_file(
    blobs: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_failure(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_failure)
    with pytest.raises(OSError, match="Input/output error"):
        blobs.put(b"half a photo")
    monkeypatch.undo()
    assert not blobs.exists(hashlib.sha256(b"half a photo").hexdigest())
    assert leftovers(blobs.root) == []


def test_missing_blobs_are_reported_as_such(blobs: LocalBlobStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not blobs.exists(digest)
    with pytest.raises(BlobNotFound):
        blobs.get(digest)
    with pytest.raises(BlobNotFound):
        blobs.size(digest)


def test_delete_removes_a_blob_and_is_harmless_twice(blobs: LocalBlobStore) -> None:
    digest = blobs.put(b"to be removed")
    assert blobs.delete(digest) is True
    assert not blobs.exists(digest)
    assert blobs.delete(digest) is False


def test_a_blob_changed_on_disk_is_detected_on_read(blobs: LocalBlobStore) -> None:
    digest = blobs.put(b"original bytes")
    (blobs.root / digest[:2] / digest).write_bytes(b"tampered bytes")
    with pytest.raises(BlobCorrupted):
        blobs.get(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 63 + "/",
        "a" * 64 + "\n",
        "g" * 64,
        "../" + "a" * 61,
    ],
)
def test_anything_but_a_hex_sha256_is_refused_before_it_becomes_a_path(
    blobs: LocalBlobStore, digest: str
) -> None:
    for operation in (blobs.get, blobs.exists, blobs.size, blobs.delete):
        with pytest.raises(InvalidDigest):
            operation(digest)
    assert not blobs.root.exists()


def backdate(blobs: LocalBlobStore, sha256: str, hours: float = 2) -> None:
    """As if the blob had last been stored ``hours`` ago."""
    moment = time.time() - hours * 3600
    os.utime(blobs.root / sha256[:2] / sha256, (moment, moment))


def test_an_orphan_stored_again_during_the_sweep_is_kept(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    sha256 = blobs.put(b"same bytes, uploaded again")
    backdate(blobs, sha256)
    swept_since = datetime.now(UTC) - timedelta(hours=1)
    assert list(blobs.stored_before(swept_since)) == [sha256]
    blobs.put(b"same bytes, uploaded again")  # an upload of the same bytes, racing the sweep
    assert not blobs.delete_unless_stored_since(sha256, swept_since)
    assert blobs.get(sha256) == b"same bytes, uploaded again"
    backdate(blobs, sha256)
    assert blobs.delete_unless_stored_since(sha256, swept_since)
    assert not blobs.exists(sha256)
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == []


def test_a_checked_put_stores_the_bytes_once_the_check_passed(blobs: LocalBlobStore) -> None:
    data = hard.photo("rocket.jpg")
    seen_aside: list[Path] = []

    def check() -> str:
        # The bytes are being written aside meanwhile, under no name a reader could ask for.
        deadline = time.monotonic() + 5
        while not (aside := leftovers(blobs.root)) and time.monotonic() < deadline:
            time.sleep(0.001)
        seen_aside.extend(aside)
        assert not blobs.exists(hashlib.sha256(data).hexdigest())
        return "looks like a photo"

    digest, checked = blobs.put_checked(data, check)
    assert (digest, checked) == (hashlib.sha256(data).hexdigest(), "looks like a photo")
    assert seen_aside, "the write overlapped the check"
    assert blobs.get(digest) == data
    assert stat.S_IMODE((blobs.root / digest[:2] / digest).stat().st_mode) == 0o600
    assert leftovers(blobs.root) == []


def test_a_checked_put_whose_check_fails_stores_nothing(blobs: LocalBlobStore) -> None:
    data = hard.photo("coffee.png")

    def refuse() -> None:
        raise ValueError("not a photo after all")

    with pytest.raises(ValueError, match="not a photo"):
        blobs.put_checked(data, refuse)
    assert not blobs.exists(hashlib.sha256(data).hexdigest())
    assert list(blobs.root.rglob("*")) == [], "not even a directory"


def test_a_checked_put_of_stored_bytes_checks_then_only_touches_them(blobs: LocalBlobStore) -> None:
    data = hard.photo("chelsea.png")
    digest = blobs.put(data)
    path = blobs.root / digest[:2] / digest
    os.utime(path, (1_000_000, 1_000_000))
    inode = path.stat().st_ino
    with pytest.raises(ValueError, match="invalid literal"):
        blobs.put_checked(data, lambda: int("not a number"))
    assert path.stat().st_mtime == 1_000_000, "a refused upload does not keep the blob alive"
    assert blobs.put_checked(data, lambda: 42) == (digest, 42)
    assert path.stat().st_ino == inode  # not rewritten
    assert path.stat().st_mtime > 1_000_000
    assert leftovers(blobs.root) == []
