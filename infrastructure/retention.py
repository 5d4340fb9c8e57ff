"""Which stored originals the retention policy allows to remove, read from the events.

An original may go once every image that uses it (identical uploads share one blob) was
processed, or removed, before the cutoff. A pending or failed image keeps its original: a retry
needs it. The answer comes from the event store, the source of truth, not from a read model.

Orphans are blobs that no recorded ``ImageAdded`` refers to: an upload stores its original before
recording the event, and a refused write leaves the blob behind. They go once nobody has stored
them for a grace period, which no upload in flight can outlast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from domain.image import PropertyImage
from infrastructure.images.blob_store import BlobStore

ADDED = get_topic(PropertyImage.ImageAdded)
SETTLED = {get_topic(PropertyImage.ImageProcessed), get_topic(PropertyImage.ImageRemoved)}
IMAGE_TOPICS = [
    ADDED,
    *SETTLED,
    get_topic(PropertyImage.ImageProcessingFailed),
    get_topic(PropertyImage.ImageRetryRequested),
]
BATCH_SIZE = 1000


@dataclass(frozen=True)
class Prunable:
    sha256: str
    bytes: int


def prunable_originals(app: Application[Any], blobs: BlobStore, cutoff: datetime) -> list[Prunable]:
    sha_of: dict[UUID, str] = {}
    settled_at: dict[UUID, datetime | None] = {}
    for event in _image_events(app):
        image_id = event.originator_id
        if type(event).TOPIC == ADDED:
            sha_of[image_id] = event.file.sha256
        settled_at[image_id] = event.timestamp if type(event).TOPIC in SETTLED else None
    keep = {sha_of[i] for i, at in settled_at.items() if at is None or at >= cutoff}
    candidates = sorted(set(sha_of.values()) - keep)
    return [Prunable(sha, blobs.size(sha)) for sha in candidates if blobs.exists(sha)]


def orphaned_blobs(app: Application[Any], blobs: BlobStore, unused_since: datetime) -> list[Prunable]:
    """Blobs no recorded ``ImageAdded`` refers to, last stored before ``unused_since``.

    Candidates are listed before the events are read: a blob stored after the listing is not one,
    and one whose event commits after the reading was stored (touched) too recently to be listed.
    """
    candidates = set(blobs.stored_before(unused_since))
    referenced = {event.file.sha256 for event in _image_events(app, [ADDED])}
    return [Prunable(sha, blobs.size(sha)) for sha in sorted(candidates - referenced) if blobs.exists(sha)]


def _image_events(app: Application[Any], topics: Sequence[str] = IMAGE_TOPICS) -> Iterator[Any]:
    after = 0
    while batch := app.recorder.select_notifications(
        start=after, limit=BATCH_SIZE, topics=list(topics), inclusive_of_start=False
    ):
        for notification in batch:
            yield app.mapper.to_domain_event(notification)
        after = batch[-1].id
