"""``manage.py prune_audit --days N [--dry-run]``: apply the retention policy to derived data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from domain.audit import AuditContext, Role, acting_as
from infrastructure.composition import blob_store, property_service
from infrastructure.retention import prunable_originals


class Command(BaseCommand):
    help = (
        "Remove derived data older than N days: the stored originals of photos processed (or removed) "
        "more than N days ago. It never deletes or edits an event; each run, dry or not, is itself "
        "recorded as an OriginalsPruned event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, required=True, help="keep originals of the last N days")
        parser.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["days"]
        if days < 0:
            raise CommandError("--days must not be negative")
        cutoff = datetime.now(UTC) - timedelta(days=days)
        blobs = blob_store()
        app = property_service()
        doomed = prunable_originals(app, blobs, cutoff)
        for item in doomed:
            self.stdout.write(
                f"{'would remove' if options['dry_run'] else 'removing'} {item.sha256} ({item.bytes} bytes)"
            )
            if not options["dry_run"]:
                blobs.delete(item.sha256)
        freed = sum(item.bytes for item in doomed)
        context = AuditContext("system:prune_audit", "prune_audit", Role.SYSTEM, "system", uuid.uuid4().hex)
        with acting_as(context):
            receipt = app.record_originals_pruned(
                days, cutoff, options["dry_run"], [item.sha256 for item in doomed], freed
            )
        verb = "would free" if options["dry_run"] else "freed"
        self.stdout.write(
            f"{len(doomed)} originals, {verb} {freed} bytes; recorded at position {receipt.position}"
        )
