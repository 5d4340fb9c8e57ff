"""``manage.py prune_audit --days N [--metadata-days M] [--dry-run] [--orphan-grace-hours H]``.

The retention policy. Three rules, one recorded run: originals of photos settled before the
cutoff; blobs that no recorded photo refers to (left by uploads whose event was refused) and
nobody stored for H hours; and the request metadata (client addresses, user agents) of events
recorded more than M days ago (``COSMO_REQUEST_METADATA_DAYS``, 90 by default), made unreadable
by destroying the keys of their recording days (docs/adr/0016). Expired Idempotency-Key rows
(no longer honoured anyway) are deleted too, and so are failed-login counters whose window is
over and the records of expired refresh tokens. A dry run says what would go, and changes and
records nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.login_throttle import forget_expired_failures
from api.tokens import forget_expired_tokens
from domain.audit import AuditContext, Role, acting_as
from domain.retention import MetadataExpiry, Removal
from infrastructure.audit_trail import chained
from infrastructure.composition import blob_store, data_keys, property_service
from infrastructure.data_keys import period_ref
from infrastructure.freed_pages import overwrite_freed_pages
from infrastructure.retention import Prunable, orphaned_blobs, prunable_originals

DEFAULT_ORPHAN_GRACE_HOURS = 1.0


class Command(BaseCommand):
    help = (
        "Remove derived data older than N days: the stored originals of photos processed (or removed) "
        "more than N days ago, and blobs no recorded photo refers to; and make the client addresses and "
        "user agents of events older than M days unreadable (their days' keys are destroyed). It never "
        "deletes or edits an event; each run is itself recorded (OriginalsPruned; OrphanedBlobsRemoved "
        "and RequestMetadataExpired if any). A dry run lists what would go and records nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, required=True, help="keep originals of the last N days")
        parser.add_argument(
            "--metadata-days",
            type=int,
            help="make client addresses and user agents of events older than M days unreadable "
            "(default: the COSMO_REQUEST_METADATA_DAYS setting, 90 unless set)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would go; remove and record nothing"
        )
        parser.add_argument(
            "--orphan-grace-hours",
            type=float,
            default=DEFAULT_ORPHAN_GRACE_HOURS,
            help="remove a blob no photo refers to once nobody stored it for this long (an upload in "
            f"flight stores its blob moments before its event; default {DEFAULT_ORPHAN_GRACE_HOURS:g})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"]
        grace: float = options["orphan_grace_hours"]
        chosen = options["metadata_days"]
        metadata_days: int = settings.COSMO_REQUEST_METADATA_DAYS if chosen is None else chosen
        if days < 0 or grace < 0 or metadata_days < 0:
            raise CommandError("--days, --metadata-days and --orphan-grace-hours must not be negative")
        dry_run: bool = options["dry_run"]
        now = datetime.now(UTC)
        blobs = blob_store()
        app = property_service()
        cutoff = now - timedelta(days=days)
        originals = self._apply(prunable_originals(app, blobs, cutoff), cutoff, blobs.delete, "", dry_run)
        unused_since = now - timedelta(hours=grace)
        orphans = self._apply(
            orphaned_blobs(app, blobs, unused_since),
            unused_since,
            lambda sha256: blobs.delete_unless_stored_since(sha256, unused_since),
            "orphaned blob ",
            dry_run,
        )
        keys = data_keys()
        metadata_cutoff = now - timedelta(days=metadata_days)
        metadata = MetadataExpiry(metadata_cutoff, keys.periods_ended_by(metadata_cutoff))
        for period in metadata.periods:
            verb = "would make" if dry_run else "making"
            self.stdout.write(f"{verb} client addresses and user agents recorded on {period} unreadable")
        verb = "would free" if dry_run else "freed"
        summary = (
            f"{len(originals.sha256s)} originals, {len(orphans.sha256s)} orphaned blobs, {verb} "
            f"{originals.bytes_freed + orphans.bytes_freed} bytes; request metadata of "
            f"{len(metadata.periods)} days {'would become' if dry_run else 'made'} unreadable"
        )
        if dry_run:
            self.stdout.write(f"{summary}; nothing recorded (dry run)")
            return
        context = AuditContext("system:prune_audit", "prune_audit", Role.SYSTEM, "system", uuid.uuid4().hex)
        with acting_as(context):
            receipt = app.record_retention_run(days, dry_run, originals, orphans, metadata)
        # After the record: a run that fails between the two leaves the keys for the next run.
        if metadata.periods:
            keys.destroy([period_ref(period) for period in metadata.periods])
            overwrite_freed_pages()
        keys_expired_at = now - timedelta(hours=settings.COSMO_IDEMPOTENCY_KEY_HOURS)
        chained(app.recorder).delete_expired_idempotency_keys(keys_expired_at.timestamp())
        forget_expired_failures()
        forget_expired_tokens()
        self.stdout.write(f"{summary}; recorded at position {receipt.position}")

    def _apply(
        self,
        doomed: list[Prunable],
        before: datetime,
        remove: Callable[[str], bool],
        label: str,
        dry_run: bool,
    ) -> Removal:
        """Remove (or list) ``doomed``; what ``remove`` kept (an orphan stored again) goes unreported."""
        removed = []
        for item in doomed:
            if not dry_run and not remove(item.sha256):
                continue
            verb = "would remove" if dry_run else "removed"
            self.stdout.write(f"{verb} {label}{item.sha256} ({item.bytes} bytes)")
            removed.append(item)
        return Removal(before, [item.sha256 for item in removed], sum(item.bytes for item in removed))
