"""``manage.py run_workers``: the background workers of a production deployment."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from infrastructure.composition import property_service
from infrastructure.workers import ProjectionWorker
from projections.registry import all_projections
from projections.runner import DEFAULT_BATCH_SIZE


class Command(BaseCommand):
    help = "Keep every projection caught up with the events until stopped (SIGTERM or Ctrl-C)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls (default 1)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker = ProjectionWorker(
            property_service(), all_projections(), options["poll"], stop, batch_size=options["batch_size"]
        )
        self.stdout.write(f"workers running: {', '.join(p.name for p in worker.projections)}")
        worker.run()
        self.stdout.write("workers stopped")
