"""``manage.py serve``: the development server with the workers running in the same process.

What ``make run`` uses, so a single command gives a complete Cosmo; production runs gunicorn
and ``run_workers`` as separate processes instead.
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from infrastructure import metrics
from infrastructure.composition import worker
from infrastructure.workers import start_in_thread


class Command(BaseCommand):
    help = "Run the development server and the background workers in one process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        metrics.forget_dead_processes()
        start_in_thread(worker(poll_interval=0.5))
        call_command("runserver", options["addrport"], use_reloader=False)
