"""Retention runs: derived data removed under the retention policy, recorded like any change.

Only derived data is ever removed (the originals of photos whose variants exist); events never
are. Recording each run keeps the audit trail complete about what left the system and why.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import event

from domain.audited import AuditedAggregate


class RetentionRun(AuditedAggregate):
    TOPIC = "cosmo.retention"

    class Event(AuditedAggregate.Event):
        TOPIC = "cosmo.retention.event"

    class Created(Event, AuditedAggregate.Created):
        TOPIC = "cosmo.retention.created"

    @event("OriginalsPruned", topic="cosmo.retention.originals_pruned")
    def __init__(
        self, days: int, cutoff: datetime, dry_run: bool, sha256s: list[str], bytes_freed: int
    ) -> None:
        self.days = days
        self.cutoff = cutoff
        self.dry_run = dry_run
        self.sha256s = list(sha256s)
        self.bytes_freed = bytes_freed
