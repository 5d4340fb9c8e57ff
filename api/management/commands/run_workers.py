"""``manage.py run_workers``: the background workers of a production deployment."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from infrastructure.composition import worker
from infrastructure.image_policy import Partition
from infrastructure.workers import build_when_reachable
from projections.runner import DEFAULT_BATCH_SIZE

# Its lines are log lines (JSON, like every other line of a deployment), not command output.
logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run the image policy and keep every projection caught up until stopped (SIGTERM or Ctrl-C). "
        "Start N of them with --partition 0/N … N-1/N to share the images with no overlap."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partition", default="0/1", help="K/N: handle slot K of N of the images")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls (default 1)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            partition = Partition.parse(options["partition"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        running = build_when_reachable(
            lambda: worker(partition, options["poll"], options["batch_size"], stop), stop
        )
        if running is None:
            logger.info("workers stopped before they could start")
            return
        logger.info(
            "workers running",
            extra={
                "image_policy": partition.tracking_name,
                "projections": [p.name for p in running.projections],
            },
        )
        running.run()
        logger.info("workers stopped")
