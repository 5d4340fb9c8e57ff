"""Overwriting what a database file still holds after rows were updated or deleted.

SQLite keeps deleted and overwritten rows in free pages of the file and in its write-ahead log
until they are reused: a destroyed data key or a replaced username would still be there for
anyone reading the file. ``VACUUM`` rewrites the file from its live rows and a TRUNCATE
checkpoint empties the WAL. PostgreSQL's dead rows are not dumped (``pg_dump``) and go at the
next (auto)vacuum; its WAL and base backups are covered in docs/keys-and-backups.md.
"""

from __future__ import annotations

from django.db import connection


def overwrite_freed_pages() -> None:
    """Run outside any transaction, after the rows were destroyed; a no-op on PostgreSQL."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
