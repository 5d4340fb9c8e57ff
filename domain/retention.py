"""Retention runs: derived data removed under the retention policy, recorded like any change.

Only derived data is ever removed (the originals of photos whose variants exist, and blobs no
event refers to); events never are. Recording each run keeps the audit trail complete about what
left the system and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from eventsourcing.domain import event

from domain.audited import AuditedAggregate


@dataclass(frozen=True)
class Removal:
    """What a rule removes (or, in a dry run, would): the blobs, their size, and the rule's cutoff."""

    before: datetime
    sha256s: list[str]
    bytes_freed: int


@dataclass(frozen=True)
class MetadataExpiry:
    """Recording periods whose request metadata became unreadable, and the rule's cutoff."""

    before: datetime
    periods: list[str]


class RetentionRun(AuditedAggregate):
    TOPIC = "cosmo.retention"

    class Event(AuditedAggregate.Event):
        TOPIC = "cosmo.retention.event"

    class Created(Event, AuditedAggregate.Created):
        TOPIC = "cosmo.retention.created"

    if TYPE_CHECKING:  # made by the @event decorators below; declared for the code that names them
        OriginalsPruned: ClassVar[type[Event]]
        OrphanedBlobsRemoved: ClassVar[type[Event]]
        RequestMetadataExpired: ClassVar[type[Event]]

    @event("OriginalsPruned", topic="cosmo.retention.originals_pruned")
    def __init__(
        self, days: int, cutoff: datetime, dry_run: bool, sha256s: list[str], bytes_freed: int
    ) -> None:
        self.days = days
        self.cutoff = cutoff
        self.dry_run = dry_run
        self.sha256s = list(sha256s)
        self.bytes_freed = bytes_freed

    @event("OrphanedBlobsRemoved", topic="cosmo.retention.orphaned_blobs_removed")
    def remove_orphaned_blobs(self, unused_since: datetime, sha256s: list[str], bytes_freed: int) -> None:
        """Blobs that no recorded photo refers to (their upload's event was refused), unused
        since ``unused_since``; a dry run lists them and removes nothing."""
        self.orphans = list(sha256s)
        self.orphans_unused_since = unused_since
        self.orphan_bytes_freed = bytes_freed

    @event("RequestMetadataExpired", topic="cosmo.retention.request_metadata_expired")
    def expire_request_metadata(self, expired_before: datetime, periods: list[str]) -> None:
        """The keys of these recording periods (UTC days) were destroyed: the client addresses and
        user agents of every event recorded in them are unreadable from now on."""
        self.expired_before = expired_before
        self.periods = list(periods)
