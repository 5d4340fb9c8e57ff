"""``manage.py erase-subject USERNAME --ground TEXT``: crypto-shred a person's data (docs/adr/0016)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.erasure import SubjectNotFound, erase_subject
from domain.audit import AuditContext, Role
from domain.errors import DomainError


class Command(BaseCommand):
    help = (
        "Erase a data subject: destroy their data key (their name, client addresses and user agents in "
        "every event become unreadable, shown as [erased]), record SubjectErased, deactivate the account "
        "and replace its username. No event is deleted or rewritten: the audit log still verifies."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--ground", required=True, help="why, as recorded in the event (e.g. 'GDPR art. 17 request #123')"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        context = AuditContext(
            "system:erase-subject", "erase-subject", Role.SYSTEM, "system", uuid.uuid4().hex
        )
        try:
            report = erase_subject(options["username"], options["ground"], context)
        except (SubjectNotFound, DomainError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"erased subject {report.subject_id}: {report.keys_destroyed} data key destroyed, "
            f"recorded at position {report.position}"
        )
        if report.unshreddable_events:
            self.stdout.write(
                f"warning: {report.unshreddable_events} events recorded before encryption hold this "
                "person's data in clear and cannot be shredded without breaking the audit log (docs/adr/0016)"
            )
