"""The audit-trail (issue 4) and projection-rebuild (issue 5) sections of ``docs/benchmarks.md``.

As in :mod:`tools.bench.report`, every sentence of a reading is built from the rows it talks about
and written only if they were measured, so the text can never contradict its tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from tools.bench import report
from tools.bench.log_scans import BASELINE, EXPORT, REBUILD_ALL, VERIFY
from tools.bench.results import Row, ScanRow

SCAN_COLUMNS = [
    ("what", "---"),
    ("database", "---"),
    ("events", "---:"),
    ("Cosmo", "---:"),
    ("raw read (baseline)", "---:"),
    ("ratio", "---:"),
    ("peak RSS (rise)", "---:"),
    ("note", "---"),
]


def scan_table(rows: Iterable[ScanRow]) -> str:
    lines = [
        "| " + " | ".join(name for name, _ in SCAN_COLUMNS) + " |",
        "|" + "|".join(align for _, align in SCAN_COLUMNS) + "|",
    ]
    for row in rows:
        cells = [
            row.what,
            row.database,
            f"{row.events:,}",
            f"{row.rate:,.0f} events/s ({row.seconds:,.1f} s)",
            f"{row.baseline_rate:,.0f} events/s",
            f"{row.ratio:.2f}",
            f"{row.rss_peak_mib:,.0f} MiB (+{row.growth_mib:,.0f})",
            row.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pick(rows: list[ScanRow], what: str, database: str, events: int) -> ScanRow | None:
    return next((r for r in rows if r.what == what and r.database == database and r.events == events), None)


def _sizes(rows: list[ScanRow]) -> list[int]:
    return sorted({row.events for row in rows})


def _databases(rows: list[ScanRow]) -> list[str]:
    return list(dict.fromkeys(row.database for row in rows))


def _on_each(rows: list[ScanRow], what: str, events: int) -> str:
    found = [r for db in _databases(rows) if (r := _pick(rows, what, db, events))]
    return " and ".join(
        f"{r.rate:,.0f} events/s on {r.database} ({r.ratio:.2f} of the raw read, {r.seconds:,.1f} s)"
        for r in found
    )


def _memory(rows: list[ScanRow], what: str) -> str:
    """How far the peak rose over the process's size at the start, per log size: flat is the same rise."""
    picked = [r for r in rows if r.what == what]
    rises = []
    for size in _sizes(picked):
        at_size = [r for r in picked if r.events == size]
        rise = max(r.growth_mib for r in at_size)
        peak = max(r.rss_peak_mib for r in at_size)
        rises.append(f"{rise:,.0f} MiB at {size:,} events (peak {peak:,.0f} MiB)")
    return "; ".join(rises)


def chain_reading(rows: list[Row]) -> list[str]:
    single = [r for r in rows if r.what.startswith("register_property")]
    multi = [r for r in rows if r.what.startswith("update_property: 3")]
    if not single:
        return []
    ratios = " and ".join(f"{r.ratio:.2f} on {r.database}" for r in single)
    sentence = (
        "Writing through the chained recorders the app uses ran at"
        f" {ratios} of the same service on the library's plain recorder: that is what reading the chain"
        " head, one HMAC and one state decode per event, and inserting the links in the same"
        " transaction cost per save"
    )
    if multi:
        sentence += "; with three events per save the ratio was " + " and ".join(
            f"{r.ratio:.2f} on {r.database}" for r in multi
        )
    return [sentence + "."]


def audit_reading(rows: list[ScanRow]) -> list[str]:
    sentences: list[str] = []
    for size in _sizes(rows):
        if export := _on_each(rows, EXPORT, size):
            sentences.append(
                f"Exporting {size:,} events as NDJSON with `manage.py audit export` ran at {export}:"
                " each event's stored JSON is parsed, presented in the export's shape and encoded"
                " again, where the raw read only fetches the stored rows."
            )
        if verify := _on_each(rows, VERIFY, size):
            sentences.append(
                f"Verifying the whole chain of {size:,} events ran at {verify}; it reads the events and"
                " the links and recomputes one HMAC per event."
            )
    for what, name in ((EXPORT, "the export"), (VERIFY, "verify")):
        if memory := _memory(rows, what):
            sentences.append(f"Resident memory rose during {name} by at most {memory}.")
    return sentences


SLOWER_PER_EVENT = 1.25  # below this, a difference between sizes is within this bench's noise


def _scaling(rows: list[ScanRow]) -> list[str]:
    """Flag a rebuild whose time per event grows with the log: its total time grows faster than it."""
    sizes = _sizes(rows)
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    slower = []
    for database in _databases(rows):
        for what in dict.fromkeys(r.what for r in rows if r.database == database):
            a, b = _pick(rows, what, database, small), _pick(rows, what, database, large)
            if a and b and a.rate / b.rate >= SLOWER_PER_EVENT:
                slower.append(f"{what.split(',')[0]} on {database} {a.rate / b.rate:.1f} times")
    if not slower:
        return [
            f"No rebuild was {SLOWER_PER_EVENT} times slower per event at {large:,} events than at"
            f" {small:,}: rebuild time grows in step with the log."
        ]
    return [
        f"Per event, these were slower at {large:,} events than at {small:,}: {'; '.join(slower)}."
        " There, rebuild time grows faster than the log."
    ]


def rebuild_reading(rows: list[ScanRow]) -> list[str]:
    sentences: list[str] = []
    for size in _sizes(rows):
        single = _on_each(rows, "rebuild `property_list`", size)
        everything = _on_each(rows, REBUILD_ALL, size)
        if single:
            sentences.append(f"Rebuilding `property_list` from a log of {size:,} events ran at {single}.")
        if everything:
            sentences.append(f"Rebuilding every projection in one pass over the log ran at {everything}.")
    sentences += _scaling(rows)
    if memory := _memory(rows, REBUILD_ALL):
        sentences.append(f"Resident memory rose during the one-pass rebuild by at most {memory}.")
    return sentences


def audit_section(chain: list[Row], scans: list[ScanRow], sizes_note: str) -> list[str]:
    parts = ["## Audit trail (issue 4)", ""]
    if chain:
        parts += [
            "Write throughput with the audit chain (the app's `ChainedSQLiteFactory` /"
            " `ChainedPostgresFactory`) against the same `PropertyService` workload on the library's"
            " plain `eventsourcing.sqlite` / `eventsourcing.postgres` with the same transcoder, each on"
            " its own throwaway database, runs interleaved:",
            "",
            report.table(chain),
            "",
        ]
    if scans:
        parts += [
            f"Export and verify over a seeded log ({sizes_note}), each in a Django process of its own"
            " with production settings; rates count the events in the log; the baseline is the same"
            f" process reading the same log raw ({BASELINE}; mean of a read before and after the pass);"
            " peak RSS is that process's high-water mark during the pass, and in brackets how far it"
            " rose over the process's size when the pass began:",
            "",
            scan_table(scans),
            "",
        ]
    reading = chain_reading(chain) + audit_reading(scans)
    if reading:
        parts += [" ".join(reading), ""]
    return parts if len(parts) > 2 else []


def rebuild_section(scans: list[ScanRow], sizes_note: str) -> list[str]:
    if not scans:
        return []
    return [
        "## Projection rebuild (issue 5)",
        "",
        "`projections.runner.rebuild_together(projections, app, fork=True)` (batches of 5000, a shadow"
        " generation each, then the swaps): first each projection alone, then all of them in one pass"
        " over the log, as `projections rebuild --all` does on two CPUs or more (docs/adr/0015, 0024,"
        " 0037): one Django process reads and decodes each batch and a process forked for it applies a"
        f" share, over the same seeded logs ({sizes_note}) after the export and verify above (peak RSS"
        " is the reading process's). Rates count all the"
        " events in the log (a projection applies only its own topics); the baseline is the same"
        f" process reading the whole log raw ({BASELINE}); peak RSS as above, except that a later"
        " rebuild may reuse memory an earlier one freed, so the last row's rise is the one to read:",
        "",
        scan_table(scans),
        "",
        " ".join(rebuild_reading(scans)),
        "",
    ]
