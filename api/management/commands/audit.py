"""``manage.py audit verify|seal|export|bundle|…``: check, sign, export and bundle the event record."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.audit_bundle import BundleRefused, property_bundle, range_bundle
from api.audit_serializers import AuditFilterSerializer
from api.audit_stream import forked_ndjson_chunks
from infrastructure import audit_trail
from infrastructure.audit_chain import InvalidSealText, parse_seal
from infrastructure.checkpoint_publish import PublishFailed, publish
from infrastructure.composition import audit_key, property_service, transparency_log
from infrastructure.signed_note import (
    Checkpoint,
    InvalidNote,
    InvalidSigningKey,
    SigningKey,
    open_note,
    split_notes,
)
from infrastructure.transparency_log import TransparencyLog


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
        verify.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="NOTE_OR_FILE",
            help="a signed checkpoint kept outside the database, or a file of them (repeatable)",
        )
        _add_workers(verify, "check spans of a large log at once")
        checkpoint = actions.add_parser(
            "checkpoint", help="sign the Merkle tree as it is now, keep it and print the signed note"
        )
        checkpoint.add_argument(
            "--publish",
            action="append",
            default=[],
            metavar="FILE_OR_URL",
            help="also append the note to FILE, or POST it to an http(s) URL (repeatable)",
        )
        actions.add_parser("public-key", help="print the checkpoint verifier key (C2SP vkey)")
        rotate = actions.add_parser(
            "rotate-signing-key",
            help="sign a handover checkpoint with the current key and a new one (docs/operations.md)",
        )
        rotate.add_argument(
            "--new-key-file",
            required=True,
            metavar="FILE",
            help="the new Ed25519 private key: PEM (openssl genpkey -algorithm ed25519) or a base64 seed",
        )
        rotate.add_argument(
            "--publish",
            action="append",
            default=[],
            metavar="FILE_OR_URL",
            help="also append the handover to FILE, or POST it to an http(s) URL (repeatable)",
        )
        actions.add_parser("backfill", help="build the Merkle tree for events recorded before it existed")
        actions.add_parser("seal", help="sign the current head; keep the printed line somewhere safe")
        export = actions.add_parser(
            "export", help="write the events to stdout as NDJSON, as GET /api/audit/export does"
        )
        export.add_argument("--since", help="recorded at or after this ISO 8601 time")
        export.add_argument("--until", help="recorded before this ISO 8601 time")
        export.add_argument("--type", help="only events of this type, e.g. PropertyRenamed")
        export.add_argument("--aggregate-id", help="only this aggregate's events")
        export.add_argument("--actor", help="only events recorded by this username")
        _add_workers(export, "present the events of a large log at once")
        bundle = actions.add_parser(
            "bundle",
            help="write events with their proofs for offline verification (tools/cosmo_verify.py)",
        )
        bundle.add_argument("--out", required=True, help="the bundle file to write")
        bundle_of = bundle.add_mutually_exclusive_group(required=True)
        bundle_of.add_argument("--property", type=UUID, help="this property's events and its photos'")
        bundle_of.add_argument("--from", dest="first", type=int, help="the first position (with --to)")
        bundle.add_argument("--to", dest="last", type=int, help="the last position (with --from)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "seal":
            self._seal()
        elif options["action"] == "export":
            self._export(options)
        elif options["action"] == "bundle":
            self._bundle(options)
        elif options["action"] == "checkpoint":
            self._checkpoint(options["publish"])
        elif options["action"] == "rotate-signing-key":
            self._rotate(options["new_key_file"], options["publish"])
        elif options["action"] == "public-key":
            self.stdout.write(self._log().verifier.vkey)
        elif options["action"] == "backfill":
            added = transparency_log().backfill()
            self.stdout.write(
                f"added {added} events to the Merkle tree; it now holds {transparency_log().size()}"
            )
        else:
            self._verify(options["seal"], options["checkpoint"], options["workers"])

    def _export(self, options: dict[str, Any]) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
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
        for chunk in forked_ndjson_chunks(property_service(), query.audit_filter(), options["workers"]):
            self.stdout.write(chunk.decode(), ending="")

    def _bundle(self, options: dict[str, Any]) -> None:
        """Write the bundle file; the checkpoint it proves against is printed to compare and keep.

        The lines go to a file beside it, renamed when complete: a refusal or a full disk halfway
        through a long range leaves no cut bundle behind.
        """
        try:
            if options["property"] is not None:
                if options["last"] is not None:
                    raise BundleRefused("--to goes with --from, not with --property")
                made = property_bundle(property_service(), transparency_log(), options["property"])
            elif options["last"] is None:
                raise BundleRefused("--from needs --to")
            else:
                made = range_bundle(property_service(), transparency_log(), options["first"], options["last"])
        except BundleRefused as refusal:
            raise CommandError(str(refusal)) from None
        target = Path(options["out"])
        partial = target.with_name(f".{target.name}.partial")
        lines = 0
        try:
            with open(partial, "wb") as out:
                for line in made.lines():
                    out.write(line)
                    lines += 1
            partial.replace(target)
        except OSError as error:
            raise CommandError(f"cannot write {options['out']}: {error.strerror}") from None
        except BundleRefused as refusal:
            raise CommandError(str(refusal)) from None
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"wrote {lines - 1} events to {target}, proven against this checkpoint:")
        self.stdout.write(made.checkpoint.text, ending="")
        if made.left_out:
            self.stderr.write(
                f"{made.left_out} later events are not covered by a checkpoint yet and were left out: "
                "run `manage.py audit checkpoint` and bundle again to include them"
            )

    def _seal(self) -> None:
        made = audit_trail.seal(property_service().recorder, audit_key())
        if made is None:
            raise CommandError("nothing to seal: no event has been recorded yet")
        self.stdout.write(made.text())

    def _log(self) -> TransparencyLog:
        log = transparency_log()
        if log.signing_key is None:
            raise CommandError(
                "no audit signing key: set COSMO_AUDIT_SIGNING_KEY or COSMO_AUDIT_SIGNING_KEY_FILE"
                " (`make run` keeps one in var/local.env)"
            )
        return log

    def _checkpoint(self, targets: list[str]) -> None:
        made = self._log().make_checkpoint()
        self.stdout.write(made.text, ending="")
        self._publish(made, targets)

    def _publish(self, made: Checkpoint, targets: list[str]) -> None:
        for target in targets:
            try:
                publish(made, target)
            except PublishFailed as error:
                raise CommandError(str(error)) from None

    def _rotate(self, new_key_file: str, targets: list[str]) -> None:
        """Run with the current key still configured; the new one takes over once the settings
        name it, and the old one's checkpoints stay genuine as a previous verifier key."""
        log = self._log()
        try:
            successor = SigningKey.from_text(log.origin, Path(new_key_file).read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"cannot read {new_key_file}: {error.strerror}") from None
        except InvalidSigningKey as error:
            raise CommandError(f"--new-key-file: {error}") from None
        if successor.verifier in log.previous_keys:
            raise CommandError("the new key signed this log before: make a fresh one")
        try:
            made = log.hand_over(successor)
        except InvalidSigningKey as error:
            raise CommandError(str(error)) from None
        previous = ",".join(key.vkey for key in [log.verifier, *log.previous_keys])
        new_file = Path(new_key_file).resolve()
        self.stdout.write(made.text, ending="")
        self.stdout.write(
            f"\nhanded the log over at tree size {made.size}; now configure the server and the workers with\n"
            f"  COSMO_AUDIT_SIGNING_KEY_FILE={new_file}   (and COSMO_AUDIT_SIGNING_KEY unset)\n"
            f"  COSMO_AUDIT_PREVIOUS_VERIFIER_KEYS={previous}\n"
            "restart them, then run `manage.py audit verify`"
        )
        self._publish(made, targets)  # last: a witness that fails leaves the steps above printed

    def _kept_checkpoints(self, texts: list[str]) -> list[Checkpoint]:
        verifiers = self._log().verifiers
        kept = []
        for text in texts:
            path = Path(text)
            notes = split_notes(path.read_text(encoding="utf-8") if path.is_file() else text)
            for note in notes:
                try:
                    kept.append(open_note(note, verifiers))
                except InvalidNote as error:
                    raise CommandError(f"kept checkpoint refused: {error}") from None
        return kept

    def _verify(self, seal_texts: list[str], checkpoint_texts: list[str], workers: int) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        try:
            external = [parse_seal(text) for text in seal_texts]
        except InvalidSealText as error:
            raise CommandError(str(error)) from None
        kept = self._kept_checkpoints(checkpoint_texts) if checkpoint_texts else []
        result = audit_trail.verify(
            property_service().recorder,
            audit_key(),
            external,
            kept,
            transparency_log().verifiers,
            workers=workers,
        )
        summary = (
            f"checked {result.checked} events and {result.seals_checked} seals; head {result.head_position};"
            f" Merkle tree of {result.tree_size} events, {result.checkpoints_checked} checkpoints checked"
        )
        if result.first_problem is None:
            self.stdout.write(f"OK: {summary}")
            return
        problem = result.first_problem
        raise CommandError(
            f"TAMPERED at position {problem.position} ({problem.kind}): {problem.detail}; {summary}"
        )


def _add_workers(action: CommandParser, what: str) -> None:
    """``--workers`` of the actions that fork (verify, export): by default one per CPU available."""
    action.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        metavar="N",
        help=f"processes that {what} (default: the CPUs available)",
    )
