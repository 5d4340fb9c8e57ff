"""``manage.py projections status|rebuild``: operate the read models."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from infrastructure.composition import property_service
from projections.registry import PROJECTIONS, all_projections
from projections.runner import (
    REBUILD_BATCH_SIZE,
    ProjectionStalled,
    RebuildReport,
    forks_by_default,
    rebuild_together,
    status,
)


class Command(BaseCommand):
    help = "Show projection status, or rebuild projections from the events (zero downtime)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        show = actions.add_parser("status", help="position, head, lag and errors of every projection")
        show.add_argument("--json", action="store_true", help="one JSON object per projection")
        again = actions.add_parser(
            "rebuild", help="replay all events into a new generation, then swap it in atomically"
        )
        again.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(PROJECTIONS)}")
        again.add_argument("--all", action="store_true", help="every projection")
        again.add_argument("--check", action="store_true", help="compare with the live model; never swap")
        again.add_argument("--batch-size", type=int, default=REBUILD_BATCH_SIZE)
        again.add_argument(
            "--one-process",
            action="store_true",
            help="apply every batch here, never in a forked process (the default on one CPU)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self._status(options["json"])
        else:
            self._rebuild(options)

    def _status(self, as_json: bool) -> None:
        app = property_service()
        rows = [status(projection, app) for projection in all_projections()]
        if as_json:
            for row in rows:
                self.stdout.write(json.dumps(asdict(row)))
            return
        header = f"{'projection':<24}{'version':>8}{'position':>10}{'head':>10}{'lag':>8}{'lag s':>9}  state"
        self.stdout.write(header)
        for row in rows:
            version = f"{row.live_version}" + ("" if row.live_version == row.version else f"->{row.version}")
            self.stdout.write(
                f"{row.name:<24}{version:>8}{row.position:>10}{row.head:>10}{row.lag_events:>8}"
                f"{row.lag_seconds:>9.1f}  {row.state}{'  ' + row.last_error if row.last_error else ''}"
            )

    def _rebuild(self, options: dict[str, Any]) -> None:
        names = list(PROJECTIONS) if options["all"] else list(dict.fromkeys(options["names"]))
        if not names:
            raise CommandError("name a projection or give --all")
        unknown = sorted(set(names) - set(PROJECTIONS))
        if unknown:
            raise CommandError(f"no projection named {', '.join(unknown)}; known: {', '.join(PROJECTIONS)}")
        fork = not options["one_process"] and forks_by_default()
        app = property_service()
        reports = self._rebuild_together(names, app, options["check"], options["batch_size"], fork)
        for report in reports:
            self._report(report, options["check"])
        if any(report.drift for report in reports):
            raise CommandError("drift found: the live read model differs from a rebuild")

    def _rebuild_together(
        self, names: list[str], app: Any, check: bool, batch_size: int, fork: bool
    ) -> list[RebuildReport]:
        """One pass over the log for all the named projections, behind one progress bar."""
        head = app.recorder.max_notification_id() or 0
        desc = names[0] if len(names) == 1 else f"{len(names)} projections"
        with tqdm(total=head, desc=desc, unit="ev", file=self.stderr, dynamic_ncols=True) as bar:
            reached = 0

            def progress(count: int, position: int) -> None:
                nonlocal reached
                bar.update(max(0, min(position, head) - reached))
                reached = min(position, head)

            try:
                reports = rebuild_together(
                    [PROJECTIONS[name]() for name in names],
                    app,
                    check=check,
                    batch_size=batch_size,
                    progress=progress,
                    fork=fork,
                )
            except ProjectionStalled as stalled:
                raise CommandError(f"{stalled}; the live model is untouched") from None
            bar.update(max(0, head - reached))
        return reports

    def _report(self, report: RebuildReport, check: bool) -> None:
        name = report.name
        if check:
            verdict = "no drift" if not report.drift else f"DRIFT in {len(report.drift)} table(s)"
            self.stdout.write(
                f"{name}: checked {report.events} events at position {report.position}: {verdict}"
            )
            for drift in report.drift:
                self.stdout.write(
                    f"  {drift.table}: {drift.only_live} rows only in the live model, "
                    f"{drift.only_rebuilt} only in the rebuild"
                )
                for side, row in drift.examples:
                    self.stdout.write(f"    {side}: {row}")
        else:
            self.stdout.write(
                f"{name}: rebuilt {report.events} events into generation {report.generation}, "
                f"now live at position {report.position}"
            )
