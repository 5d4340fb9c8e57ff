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
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from infrastructure.images.files import TEMP_PREFIX, fsync_directory, write_atomically

_DIGEST = re.compile(r"[0-9a-f]{64}")


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
