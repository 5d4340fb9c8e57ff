"""``manage.py audit verify|seal|export``: check, sign and export the tamper-evident event record."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.audit_serializers import AuditFilterSerializer
from api.audit_stream import ndjson_chunks
from infrastructure import audit_trail
from infrastructure.audit_chain import InvalidSealText, parse_seal
from infrastructure.composition import audit_key, property_service


class Command(BaseCommand):
    help = "Verify, seal or export the audit chain. Never changes or removes an event."

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
        export = actions.add_parser(
            "export", help="write the events to stdout as NDJSON, as GET /api/audit/export does"
        )
        export.add_argument("--since", help="recorded at or after this ISO 8601 time")
        export.add_argument("--until", help="recorded before this ISO 8601 time")
        export.add_argument("--type", help="only events of this type, e.g. PropertyRenamed")
        export.add_argument("--aggregate-id", help="only this aggregate's events")
        export.add_argument("--actor", help="only events recorded by this username")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "seal":
            self._seal()
        elif options["action"] == "export":
            self._export(options)
        else:
            self._verify(options["seal"])

    def _export(self, options: dict[str, Any]) -> None:
        names = AuditFilterSerializer().fields.keys()
        query = AuditFilterSerializer(
            data={name: options[name] for name in names if options[name] is not None}
        )
        if not query.is_valid():
            problems = [
                f"--{name.replace('_', '-')}: {' '.join(map(str, errors))}"
                for name, errors in query.errors.items()
            ]
            raise CommandError("; ".join(problems))
        for chunk in ndjson_chunks(query.audit_filter()):
            self.stdout.write(chunk.decode(), ending="")

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
