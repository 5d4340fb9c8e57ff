"""The port through which the image policy publishes variants, and the errors it must tell apart.

Adapters classify failures, callers decide what to do: a ``TransientStoreError`` is worth a retry
with backoff (timeouts, connection errors, 5xx, 420/429), a ``PermanentStoreError`` is not (bad
credentials, other 4xx, a bad configuration). Retrying is safe: storing the same image id again
overwrites what an earlier attempt stored, it never adds copies.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from infrastructure.images.variants import Variant


@dataclass(frozen=True, slots=True)
class StoredVariant:
    """Where a variant can be fetched from, and what it is: the facts an ImageProcessed records."""

    url: str
    width: int
    height: int
    format: str
    size_bytes: int


class ImageStoreError(Exception):
    """Base of the store errors; ``status`` is the HTTP status behind it, when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientStoreError(ImageStoreError):
    """The store may well accept the same call later: retry with backoff."""


class PermanentStoreError(ImageStoreError):
    """The same call will fail again until someone changes something: do not retry."""


class ImageStoreMisconfigured(PermanentStoreError):
    """The store's configuration is unusable; raised when the adapter is built."""


class ImageStore(abc.ABC):
    """Publishes the variants of one image under names derived from its id."""

    @abc.abstractmethod
    def store(self, image_id: UUID, variants: Sequence[Variant]) -> list[StoredVariant]:
        """Store every variant, replacing whatever an earlier call stored for ``image_id``."""

    @abc.abstractmethod
    def delete(self, image_id: UUID) -> None:
        """Remove everything stored for ``image_id``; nothing there is not an error."""

    def client_url(self, url: str, expires: int) -> str:
        """A URL :meth:`store` recorded, as a client may fetch it while photos are private, until
        ``expires`` (Unix time) where the store can make URLs expire.

        Stores that cannot restrict delivery give it back unchanged; local-disk URLs are signed
        by the API that serves them (``api/media_urls.py``).
        """
        return url


def is_transient_status(status: int) -> bool:
    """HTTP statuses that say "not now" rather than "never"."""
    return status >= 500 or status in (408, 420, 429)


def error_for_status(status: int, message: str) -> ImageStoreError:
    kind = TransientStoreError if is_transient_status(status) else PermanentStoreError
    return kind(f"{status}: {message}", status=status)
