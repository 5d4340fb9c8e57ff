"""Throwaway PostgreSQL databases, so the bench never touches a database anyone else uses.

The server comes from ``BENCH_POSTGRES_URL`` (default: the ``test`` database that ``make test``
uses); the bench creates its own database on that server and drops it afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import psycopg
from psycopg import sql

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Helpers sharing one server name their own: a run drops and recreates this database.
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "cosmo_bench")


def server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)


def url_for(url: str, database: str) -> str:
    """``url`` with its database name replaced."""
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def django_database(url: str) -> dict[str, Any]:
    """A Django ``DATABASES`` entry, the shape ``event_store_env`` takes."""
    return dict(dj_database_url.parse(url))


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    database = django_database(url)
    return psycopg.connect(
        host=database.get("HOST") or "127.0.0.1",
        port=int(database.get("PORT") or 5432),
        user=database.get("USER") or "postgres",
        password=database.get("PASSWORD") or None,
        dbname=database["NAME"],
        autocommit=autocommit,
    )


def server_version(url: str) -> str:
    with connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def _drop(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def throwaway_database(url: str, suffix: str = "") -> Iterator[str]:
    """Create ``BENCH_DATABASE`` (``_suffix`` appended) afresh on ``url``'s server, yield its URL,
    drop it on the way out. Every name starts with ``BENCH_DATABASE``, so two benches run at once
    with different values never drop each other's databases."""
    name = f"{BENCH_DATABASE}_{suffix}" if suffix else BENCH_DATABASE
    with connect(url) as admin:
        _drop(admin, name)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_for(url, name)
    finally:
        with connect(url) as admin:
            _drop(admin, name)
