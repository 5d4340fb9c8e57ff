"""``manage.py data_keys rotate``: re-wrap every data key under the current master key.

Rotation, step by step (docs/keys-and-backups.md): set the new key as ``COSMO_MASTER_KEY`` and
list the old one in ``COSMO_PREVIOUS_MASTER_KEYS``; run this; then drop the old one. Only the
data keys are re-encrypted: no event is touched, so the audit log is unaffected.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from infrastructure.composition import data_keys


class Command(BaseCommand):
    help = "Operate the data keys of personal fields: rotate re-wraps them under COSMO_MASTER_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("rotate", help="re-wrap every live data key under the current master key")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = data_keys()
        rewrapped = keys.rotate()
        self.stdout.write(f"re-wrapped {rewrapped} data keys under master key {keys.masters.current.id}")
