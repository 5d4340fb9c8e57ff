"""The results table (printed, and written to ``docs/benchmarks.md``) and a reading of it.

The reading is built from the measured figures so the document never contradicts its own table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tools.bench.results import Row

# Facts behind the set-up, checked by hand when the bench was written (commit e627bb7); update
# them here if the code they describe changes.
NOTES = [
    "The HTTP server runs sync workers, the recommended setup on SQLite (one writer at a time)."
    " A threaded server works too: the read-model catch-up reads the event store before it opens"
    " its write transaction (tests/api/test_http_server.py covers concurrent POSTs on threads).",
    "SQLite durability differs by connection: the event store (and the raw baseline) commits"
    " with SQLite's default `synchronous=FULL`, an fsync per commit; Django's connections (read"
    " models, users, the plain HTTP baseline) use `synchronous=NORMAL` from the settings.",
    "The three-event `update_property` row is set against the one-row-per-commit ceiling, so it"
    " can exceed 1: it shows what batching buys.",
]

HEADER = ["what", "database", "Cosmo", "baseline", "baseline rate", "ratio", "note"]


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def table(rows: Iterable[Row]) -> str:
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---", "---:", "---", "---:", "---:", "---"]) + "|",
    ]
    for row in rows:
        cells = [
            row.what,
            row.database,
            _rate(row.rate, row.unit),
            row.baseline,
            _rate(row.baseline_rate, row.baseline_unit or row.unit),
            f"{row.ratio:.2f}",
            row.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _find(rows: list[Row], what: str, database: str) -> Row | None:
    return next((r for r in rows if r.what.startswith(what) and r.database == database), None)


def reading(rows: list[Row]) -> list[str]:
    """At most four sentences, each written only if the rows it talks about were measured."""
    sentences: list[str] = []
    sqlite = _find(rows, "register_property", "SQLite")
    pg = _find(rows, "register_property", "PostgreSQL")
    locked = _find(rows, "raw psycopg SET", "PostgreSQL")
    if sqlite and pg:
        sentences.append(
            f"Appending one event per save through `PropertyService` ran at {sqlite.ratio:.2f} of a"
            f" bare one-row-per-commit insert of the same size on SQLite ({sqlite.rate:,.0f} events/s)"
            f" and at {pg.ratio:.2f} on PostgreSQL ({pg.rate:,.0f} events/s); on top of the aggregate,"
            " the transcoder and the recorder that both pay, every PostgreSQL save takes"
            " `LOCK TABLE … IN EXCLUSIVE MODE` and sends a `NOTIFY`; the lock, held until the commit"
            " to keep notification ids in commit order, serialises all writers, so extra workers"
            " queue on it rather than add write throughput."
        )
    if pg and locked and locked.rate > pg.rate:
        sentences.append(
            f"Those statements alone, by hand, ran at {locked.ratio:.2f} of the plain insert"
            f" ({locked.rate:,.0f} rows/s), so the rest of the way down to {pg.rate:,.0f} events/s is"
            " spent in Python (aggregate, transcoding, the library's recorder, Cosmo's own recorder"
            " code) and in the extra round trips it makes."
        )
    multi = _find(rows, "update_property: 3", "PostgreSQL") or _find(rows, "update_property: 3", "SQLite")
    if multi:
        sentences.append(
            f"Saving three events at once reached {multi.rate:,.0f} events/s on {multi.database}"
            f" ({multi.ratio:.2f} times the one-row ceiling): the cost is per transaction, so"
            " batching events per command is the lever, not more writers."
        )

    def ratios(start: str) -> str:
        chosen = [r for r in rows if r.what.startswith(start) and r.rate]
        return ", ".join(f"{r.ratio:.2f} on {r.database}" for r in chosen)

    posts, patches, gets, lists = (
        ratios(start) for start in ("POST", "PATCH", "GET /api/properties/{id}", "GET /api/properties (")
    )
    if posts and gets:
        sentences.append(
            f"Over HTTP, `POST /api/properties` ran at {posts} of the plain-model insert"
            + (f" and `PATCH` at {patches} of a plain read and update" if patches else "")
            + ": each write appends its events, then applies them to the read models before it"
            " answers; `GET /api/properties/{id}` reads one read-model row much as the plain view"
            f" reads its own, and ran at {gets} of it" + (f", the list at {lists}." if lists else ".")
        )
    return sentences[:4]


def document(
    rows: list[Row],
    machine: dict[str, str],
    parameters: dict[str, str],
    sections: list[list[str]] | None = None,
    previous: str = "",
) -> str:
    """The whole file; ``sections`` (lines each, headed ``## …``) go between the reading and the
    notes. A section of ``previous`` that this run did not make (another bench command's, such as
    ``tools.bench.merkle_log`` or ``tools.bench.request_profile``) is kept where it was."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    made = {section[0]: section for section in sections or []}
    kept = [
        made.pop(heading, section)
        for heading, section in _sections(previous).items()
        if heading not in _OWN_HEADINGS
    ]
    parts = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m tools.bench`), which rewrites its own sections of this file"
        f" and keeps the others; last run {today}. Speed is judged by the **ratio** to a baseline"
        " measured in the same run on the same machine, never by absolute thresholds. Rates are"
        " medians from one machine where the load generator shares the CPUs with the server and the database:"
        " compare ratios between runs and read absolute rates as orders of magnitude.",
        "",
        "## Machine",
        "",
        *[f"- {key}: {value}" for key, value in machine.items()],
        "",
        "## How",
        "",
        *[f"- {key}: {value}" for key, value in parameters.items()],
        "",
        "## Results",
        "",
        table(rows),
        "",
        "## Reading",
        "",
        " ".join(reading(rows)),
        "",
        *[line for section in [*kept, *made.values()] for line in section],
        "## Notes",
        "",
        *[f"- {note}" for note in NOTES],
        "",
    ]
    return "\n".join(parts)


_OWN_HEADINGS = {"## Machine", "## How", "## Results", "## Reading", "## Notes"}


def _sections(text: str) -> dict[str, list[str]]:
    """The ``## `` sections of a document, each its lines from the heading to the next one."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line, [])
        if current is not None:
            current.append(line)
    return found
