"""Content-addressed storage for uploaded originals: the SHA-256 of the bytes is their name.

Events record the digest, never the bytes, so the event store stays small and the original can be
read back (and checked) whenever variants must be made again. The same bytes uploaded twice are
stored once: delete a blob only when no image refers to it any more.

A blob is stored before the event that refers to it is recorded; if that write is refused, the
blob is left without an event. Each ``put`` marks the blob as stored now, so a sweep can remove
blobs that no event refers to and that nobody stored for a while (see ``delete_unless_stored_since``).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from infrastructure.images.files import TEMP_PREFIX, fsync_directory, synced_temporary, write_atomically

_DIGEST = re.compile(r"[0-9a-f]{64}")
_STAGING_THREADS = 4  # uploads a server process writes aside at once; more wait their turn

T = TypeVar("T")


class BlobStoreError(Exception):
    """Base of the blob store's own errors."""


class InvalidDigest(BlobStoreError, ValueError):
    """Not a lower-case hex SHA-256: refused before it can become a path (``../``, ``/etc``)."""


class BlobNotFound(BlobStoreError):
    pass


class BlobCorrupted(BlobStoreError):
    """The stored bytes no longer hash to their name: disk damage or tampering."""


class BlobStoreUnavailable(BlobStoreError):
    """A remote store did not answer, or answered "not now" (5xx, 429): the same call may work later."""


class BlobStoreRefused(BlobStoreError):
    """A remote store refused the call (credentials, configuration): it will fail again until fixed."""


def digest_of(data: bytes) -> str:
    """The name of ``data`` in every blob store."""
    return hashlib.sha256(data).hexdigest()


def is_digest(text: object) -> bool:
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def valid_digest(digest: str) -> str:
    """``digest`` if it is a lower-case hex SHA-256, before it becomes a path or an object name."""
    if not is_digest(digest):
        raise InvalidDigest(f"not a SHA-256 hex digest: {digest!r}")
    return digest


class BlobStore(abc.ABC):
    """Where originals live: the local disk (``LocalBlobStore``) or Cloudinary
    (``cloudinary_blob_store``), so that any host's worker can read them."""

    @abc.abstractmethod
    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotently) and return its SHA-256 hex digest."""

    def put_checked(self, data: bytes, check: Callable[[], T]) -> tuple[str, T]:
        """``put(data)`` only if ``check()`` returns; its digest and what ``check`` returned.

        A store may write the bytes aside while the check runs (``LocalBlobStore`` does), but they
        get their name, and so exist for every other caller, only once it passed: a refused
        upload never becomes a blob. ``check``'s exception propagates.
        """
        checked = check()
        return self.put(data), checked

    @abc.abstractmethod
    def get(self, digest: str) -> bytes:
        """The bytes named ``digest``, verified; ``BlobNotFound`` if there are none."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abc.abstractmethod
    def size(self, digest: str) -> int: ...

    @abc.abstractmethod
    def delete(self, digest: str) -> bool:
        """Remove the blob; False if it was not there (deleting twice is not an error)."""

    @abc.abstractmethod
    def stored_before(self, moment: datetime) -> Iterator[str]:
        """The digests of blobs last stored (``put``) before ``moment``."""

    @abc.abstractmethod
    def delete_unless_stored_since(self, digest: str, moment: datetime) -> bool:
        """Remove the blob unless a ``put`` stored it at or after ``moment``, even one racing this
        call; True if it was removed."""


class LocalBlobStore(BlobStore):
    """Blobs as files ``root/ab/abcdef…``: 256 fan-out directories keep each one small."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == len(data):
                # Same name, same size: the same bytes are already there. Marked as stored now; if
                # a sweep took the file meanwhile, utime fails and the bytes are written again.
                os.utime(path)
                return digest
        write_atomically(path, data)
        return digest

    def put_checked(self, data: bytes, check: Callable[[], T]) -> tuple[str, T]:
        """The bytes are written and fsynced beside their name on another thread while ``check()``
        runs on this one, then renamed into place once it passed (or removed if it raised).

        Why: the upload view's check decodes the whole photo (~35 ms for a 12 MP JPEG) and writing
        and fsyncing its 4 MB takes ~15 ms; one after the other, both delayed ``ImageAdded`` and so
        the worker. Bytes stored already are only touched, after the check, as ``put`` does.
        """
        digest = digest_of(data)
        path = self._path(digest)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == len(data):
                return super().put_checked(data, check)
        # Written aside in the root, not beside its name: a refused upload leaves nothing behind,
        # not even a new fan-out directory. The rename into place stays on one file system.
        self.root.mkdir(parents=True, exist_ok=True)
        staged = _stager().submit(synced_temporary, self.root / digest, data)
        try:
            checked = check()
        except BaseException:
            _discard(staged)
            raise
        path.parent.mkdir(exist_ok=True)
        os.replace(staged.result(), path)
        fsync_directory(path.parent)
        return digest, checked

    def get(self, digest: str) -> bytes:
        try:
            data = self._path(digest).read_bytes()
        except FileNotFoundError as e:
            raise BlobNotFound(f"no blob {digest}") from e
        if digest_of(data) != digest:
            raise BlobCorrupted(f"blob {digest} does not match its digest")
        return data

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError as e:
            raise BlobNotFound(f"no blob {digest}") from e

    def delete(self, digest: str) -> bool:
        path = self._path(digest)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        fsync_directory(path.parent)
        return True

    def stored_before(self, moment: datetime) -> Iterator[str]:
        limit = moment.timestamp()
        for path in self.root.glob("??/*"):
            if is_digest(path.name) and path.stat().st_mtime < limit:
                yield path.name

    def delete_unless_stored_since(self, digest: str, moment: datetime) -> bool:
        """The blob is first moved aside, so a racing ``put`` either touched it before the move
        (and it is put back) or finds it gone and writes it again."""
        path = self._path(digest)
        aside = path.with_name(f"{TEMP_PREFIX}sweep-{digest}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if datetime.fromtimestamp(aside.stat().st_mtime, UTC) >= moment:
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)  # unless a put has written it again already
            os.unlink(aside)
            return False
        os.unlink(aside)
        fsync_directory(path.parent)
        return True

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / valid_digest(digest)


@functools.cache
def _stager() -> ThreadPoolExecutor:
    """The threads that write uploads aside; made on first use, so never in a process that forks later."""
    return ThreadPoolExecutor(_STAGING_THREADS, thread_name_prefix="blob-stage")


def _discard(staged: Future[str]) -> None:
    """Remove a temporary file once written; one that failed to be written removed itself."""
    with contextlib.suppress(Exception):
        os.unlink(staged.result())
