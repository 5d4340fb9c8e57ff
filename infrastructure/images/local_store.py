"""Variants on local disk, for development and single-host deployments (``var/media``)."""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from uuid import UUID

from infrastructure.images.files import write_all_atomically
from infrastructure.images.image_store import (
    ImageStore,
    PermanentStoreError,
    StoredVariant,
    TransientStoreError,
)
from infrastructure.images.variants import Variant

_VARIANT_FILE = re.compile(r"\d+\.(webp|avif|jpg)")
# Failures a retry cannot fix: the directory is wrong or not ours to write.
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR})


class LocalImageStore(ImageStore):
    """Writes ``root/<image_id>/<width>.<ext>``, served as ``<base_url>/<image_id>/<width>.<ext>``.

    Each file is replaced atomically, so a reader never gets half a variant, and files an earlier
    attempt left that this one did not write are removed, so the directory holds exactly one set.
    """

    def __init__(self, root: Path, base_url: str = "/media/images") -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def store(self, image_id: UUID, variants: Sequence[Variant]) -> list[StoredVariant]:
        directory = self._directory(image_id)
        names = [f"{variant.width}.{variant.extension}" for variant in variants]
        if len(set(names)) != len(names):
            raise PermanentStoreError(f"two variants of {image_id} would share a file name: {names}")
        with _classified(image_id):
            write_all_atomically(
                {directory / name: variant.data for name, variant in zip(names, variants, strict=True)},
                mode=0o644,
            )
            for stale in directory.iterdir():
                if stale.name not in names and _VARIANT_FILE.fullmatch(stale.name):
                    stale.unlink(missing_ok=True)
        return [
            StoredVariant(
                url=f"{self.base_url}/{image_id}/{name}",
                width=variant.width,
                height=variant.height,
                format=variant.format,
                size_bytes=variant.size_bytes,
            )
            for name, variant in zip(names, variants, strict=True)
        ]

    def delete(self, image_id: UUID) -> None:
        with _classified(image_id), contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self._directory(image_id))

    def _directory(self, image_id: UUID) -> Path:
        # str(UUID(...)) is hex and dashes only: no way out of root.
        return self.root / str(UUID(str(image_id)))


@contextlib.contextmanager
def _classified(image_id: UUID) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        kind = PermanentStoreError if e.errno in _PERMANENT_ERRNOS else TransientStoreError
        raise kind(f"cannot write the variants of {image_id}: {e}") from e
