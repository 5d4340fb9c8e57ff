"""A big, valid event log in seconds: real stored events, replicated under fresh aggregate ids.

Why: export, verify and rebuild rates only mean something on a log of realistic size and content,
but appending 100k (let alone 1M) events one command at a time would take most of the bench's
budget. So a few dozen property "stories" (register, rename, move, change rent, add photos, have
them processed, set a cover, caption, archive) are run once through ``PropertyService`` on a small
store; their stored events are then copied under new aggregate ids (every id inside a state is
swapped too, so an image still points at its own property) and inserted through the *chained*
recorder's ``insert_events`` in large batches. Every copy therefore gets a real audit-chain link
in the same transaction, exactly as the app writes them: ``verify`` must pass on the result.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking

from domain.audit import acting_as
from domain.image import ImageFile, ImageVariant
from domain.service import PropertyChanges, PropertyService
from domain.values import Address, PropertyKind, Rent
from tools.bench.event_append import CONTEXT, build_service

TEMPLATE_PROPERTIES = 48
INSERT_BATCH = 2000
PROGRESS_SECONDS = 30
ORGANISATIONS = ("acme", "globex", "initech")
CITIES = ("Lisbon", "Porto", "Braga", "Faro", "Coimbra", "Aveiro")
KINDS = (PropertyKind.APARTMENT, PropertyKind.HOUSE, PropertyKind.COMMERCIAL, PropertyKind.APARTMENT)


@dataclass(frozen=True)
class Story:
    """The stored events of one property and its images, in the order they were recorded."""

    events: list[StoredEvent]
    ids: list[uuid.UUID]


def _address(i: int) -> Address:
    return Address(
        street=f"{i} Rua Augusta", city=CITIES[i % len(CITIES)], postal_code="1100-053", country="PT"
    )


def _photo(i: int) -> ImageFile:
    return ImageFile(
        sha256=f"{i:064x}",
        bytes=3_400_000,
        width=3024,
        height=4032,
        format="jpeg",
        filename=f"IMG_{i:04d}.jpg",
    )


def _variants(image_id: uuid.UUID) -> list[ImageVariant]:
    return [
        ImageVariant(w, w * 4 // 3, fmt, w * 90, f"/media/images/{image_id.hex}/{w}.{fmt}")
        for w in (1536, 1024, 480)
        for fmt in ("webp", "jpg")
    ]


def _tell(service: PropertyService, i: int, positions: Iterator[int]) -> None:
    """One property's story; ``i`` picks which of the optional chapters it gets."""
    receipt = service.register_property(
        name=f"Harbour View {i}",
        kind=KINDS[i % len(KINDS)],
        address=_address(i),
        rent=Rent(amount=Decimal(900 + 37 * i), currency="EUR"),
    )
    pid = receipt.id
    service.update_property(pid, PropertyChanges(name=f"Harbour View {i} (renovated)"), None)
    if i % 3 == 0:
        changes = PropertyChanges(
            name=f"Harbour View {i} (new)",
            address=_address(i + 1),
            rent=Rent(amount=Decimal(1000 + 41 * i), currency="EUR"),
        )
        service.update_property(pid, changes, None)
    if i % 2 == 0:
        images = [service.add_image(pid, _photo(i * 10 + k), f"Room {k}").id for k in range(1 + i % 3)]
        for image_id in images:
            tracking = Tracking("bench-template", next(positions))
            service.record_image_processed(image_id, _variants(image_id), 1, tracking)
        if len(images) > 1:  # the first photo becomes the cover by itself
            service.set_cover_image(pid, images[-1])
        service.change_image_caption(images[0], "Living room, sea view")
    if i % 5 == 0:
        service.update_property(
            pid, PropertyChanges(rent=Rent(amount=Decimal(1500 + i), currency="EUR")), None
        )
    if i % 8 == 7:
        service.archive_property(pid, None, "sold")


def _stories(service: PropertyService) -> list[Story]:
    """Group the template's log by property: an image's ``ImageAdded`` names its property."""
    notifications = service.recorder.select_notifications(start=1, limit=1_000_000)
    owner: dict[uuid.UUID, uuid.UUID] = {}
    events: dict[uuid.UUID, list[StoredEvent]] = {}
    ids: dict[uuid.UUID, list[uuid.UUID]] = {}
    for n in notifications:
        originator = n.originator_id if isinstance(n.originator_id, uuid.UUID) else uuid.UUID(n.originator_id)
        if originator not in owner:
            # A property's first event comes before its images', and an image's first event
            # holds its property's id: that tells whose story the image belongs to.
            owner[originator] = next((p for p in events if p.hex.encode() in n.state), originator)
            ids.setdefault(owner[originator], []).append(originator)
        stored = StoredEvent(originator, n.originator_version, n.topic, n.state)
        events.setdefault(owner[originator], []).append(stored)
    return [Story(events[story], ids[story]) for story in events]


def template() -> list[Story]:
    """Run the stories once through the real service on a scratch SQLite store."""
    with tempfile.TemporaryDirectory(prefix="cosmo-bench-template-") as scratch:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(scratch) / "template.sqlite3")}
        service = build_service(database)
        try:
            positions = itertools.count(1)
            for i in range(TEMPLATE_PROPERTIES):
                context = dataclasses.replace(CONTEXT, organisation=ORGANISATIONS[i % len(ORGANISATIONS)])
                with acting_as(context):
                    _tell(service, i, positions)
            return _stories(service)
        finally:
            service.close()


def copies(stories: list[Story], events: int) -> Iterator[StoredEvent]:
    """Exactly ``events`` stored events: the stories over and over, each copy under fresh ids.

    A copy cut short at the end is still a valid history (a prefix of a story).
    """
    made = 0
    for story in itertools.cycle(stories):
        fresh = {old: uuid.uuid4() for old in story.ids}
        swaps = [(old.hex.encode(), new.hex.encode()) for old, new in fresh.items()]
        for event in story.events:
            if made == events:
                return
            state = event.state
            for old, new in swaps:
                state = state.replace(old, new)
            assert isinstance(event.originator_id, uuid.UUID)
            yield StoredEvent(fresh[event.originator_id], event.originator_version, event.topic, state)
            made += 1


def _batches(items: Iterator[StoredEvent], size: int) -> Iterator[list[StoredEvent]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def seed(
    database: dict[str, Any], stories: list[Story], events: int, log: Callable[[str], None], label: str
) -> float:
    """Insert ``events`` copies through the app's chained recorder; return the seconds it took."""
    service = build_service(database)
    started = time.perf_counter()
    try:
        done = 0
        next_report = PROGRESS_SECONDS
        for batch in _batches(copies(stories, events), INSERT_BATCH):
            service.recorder.insert_events(batch)
            done += len(batch)
            if time.perf_counter() - started > next_report and done < events:
                next_report += PROGRESS_SECONDS
                log(f"    seeding {label}: {done:,}/{events:,} events")
    finally:
        service.close()
    return time.perf_counter() - started


def mean_state_bytes(stories: list[Story]) -> int:
    sizes = [len(event.state) for story in stories for event in story.events]
    return round(sum(sizes) / len(sizes))


def topic_mix(stories: list[Story]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for story in stories:
        for event in story.events:
            counts[event.topic] = counts.get(event.topic, 0) + 1
    return counts
