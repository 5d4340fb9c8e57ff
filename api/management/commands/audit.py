"""``manage.py audit verify|seal``: check and sign the tamper-evident chain over all events."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from infrastructure import audit_trail
from infrastructure.audit_chain import InvalidSealText, parse_seal
from infrastructure.composition import audit_key, property_service


class Command(BaseCommand):
    help = "Verify or seal the audit chain. Never changes or removes an event."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        verify = actions.add_parser("verify", help="recompute the chain and report the first mismatch")
        verify.add_argument(
            "--seal",
            action="append",
            default=[],
            metavar="TEXT",
            help="a seal line kept outside the database (repeatable); catches a cut-off tail",
        )
        actions.add_parser("seal", help="sign the current head; keep the printed line somewhere safe")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "seal":
            self._seal()
        else:
            self._verify(options["seal"])

    def _seal(self) -> None:
        made = audit_trail.seal(property_service().recorder, audit_key())
        if made is None:
            raise CommandError("nothing to seal: no event has been recorded yet")
        self.stdout.write(made.text())

    def _verify(self, seal_texts: list[str]) -> None:
        try:
            external = [parse_seal(text) for text in seal_texts]
        except InvalidSealText as error:
            raise CommandError(str(error)) from None
        result = audit_trail.verify(property_service().recorder, audit_key(), external)
        summary = (
            f"checked {result.checked} events and {result.seals_checked} seals; head {result.head_position}"
        )
        if result.first_problem is None:
            self.stdout.write(f"OK: {summary}")
            return
        problem = result.first_problem
        raise CommandError(
            f"TAMPERED at position {problem.position} ({problem.kind}): {problem.detail}; {summary}"
        )
