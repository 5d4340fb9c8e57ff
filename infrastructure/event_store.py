"""The library's SQLite and PostgreSQL process recorders, extended with the audit chain.

Process recorders are application recorders that can also record a consumer's position
(``Tracking``) in the same transaction as the events it produced: the image policy relies on it.

Chain links are written by the same transaction that inserts the events, so an event can never
exist without its link (or the other way round), and positions follow commit order with no gaps:
the library already serialises inserts (SQLite's single writer; PostgreSQL's table lock). The
notification id is that same gap-free position on both databases (see ``_reset_sequence``), and the
row of a request's ``Idempotency-Key`` is inserted by the same transaction as its events.
The same transaction appends the events' Merkle leaves and the subtree nodes they complete
(``infrastructure/merkle.py``, docs/adr/0013), reading only the tree's frontier.
Selected with ``PERSISTENCE_MODULE=infrastructure.event_store:ChainedSQLiteFactory`` (or
``ChainedPostgresFactory``); the key comes from the ``AUDIT_CHAIN_KEY`` setting of the application,
and the mapper refuses events larger than ``MAX_EVENT_BYTES``.
"""

from __future__ import annotations

import copy
import json
import socket
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent, Tracking, Transcoder
from eventsourcing.postgres import PostgresFactory, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteFactory, SQLiteProcessRecorder
from psycopg import Cursor
from psycopg.errors import DivisionByZero, UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import ConnectionPool

from infrastructure.audit_chain import ChainKey, ChainLink, ChainLinker, Seal
from infrastructure.data_keys import DataKeys, KeyTable, MasterKeys
from infrastructure.idempotency import (
    IdempotencyClaim,
    IdempotencyKeyTaken,
    KeyRecord,
    StoredResponse,
    pending_claim,
)
from infrastructure.log_leaf import event_leaf
from infrastructure.mapper import MAX_EVENT_BYTES, SizeLimitedMapper
from infrastructure.merkle import TreeBuilder, frontier_seqs, nodes_for_size, size_from_node_count
from infrastructure.metrics import EVENTS_APPENDED
from infrastructure.personal_data_cipher import PersonalDataCipher
from infrastructure.retry_budget import RetriesWithinBudget, retried_within_budget
from infrastructure.transcoder import OrjsonTranscoder

DEFAULT_MAX_EVENT_BYTES = 64 * 1024
# A pooled connection idle longer than this is pinged before use (``PingWhenIdle``).
PING_AFTER_IDLE_SECONDS = 1.0
SCHEMA_LOCK_ID = 0x636F736D6F  # "cosmo": any fixed number shared by every Cosmo process

AUDIT_CHAIN_KEY = "AUDIT_CHAIN_KEY"
# Not "MASTER_KEY": the library reads "COSMO_" + key from the process environment first, and
# COSMO_MASTER_KEY there would win over the key the composition root passes.
MASTER_KEY = "SEALING_MASTER_KEY"
PREVIOUS_MASTER_KEYS = "SEALING_PREVIOUS_MASTER_KEYS"

_LINK_COLUMNS = (
    "position, notification_id, originator_id, originator_version, topic, recorded_at, actor, digest"
)
_LINK_NAMES = tuple(_LINK_COLUMNS.split(", "))


def chain_table(events_table: str) -> str:
    return f"{events_table}_chain"


def seals_table(events_table: str) -> str:
    return f"{events_table}_seals"


def idempotency_table(events_table: str) -> str:
    return f"{events_table}_idempotency"


def merkle_table(events_table: str) -> str:
    return f"{events_table}_merkle"


def checkpoints_table(events_table: str) -> str:
    return f"{events_table}_checkpoints"


def data_keys_table(events_table: str) -> str:
    return f"{events_table}_data_keys"


@dataclass(frozen=True)
class StoredCheckpoint:
    """A row of the checkpoints table: the signed note and what it says, as recorded."""

    size: int
    made_at: str
    root: bytes
    note: str


@dataclass(frozen=True)
class AuditFilter:
    """Which entries of the global stream an auditor asked for; empty fields match everything."""

    originator_id: UUID | None = None
    topics: Sequence[str] = field(default_factory=tuple)
    # What chain links copy of the actor: the actor id (links made before erasure existed: the username).
    actors: Sequence[str] = field(default_factory=tuple)
    since: datetime | None = None
    until: datetime | None = None


# A stored event as the export reads it: (position, aggregate id as dashed text, version, topic, state).
EntryRow = tuple[int, str, int, str, bytes]


@dataclass(frozen=True)
class AuditEntry:
    link: ChainLink
    event: StoredEvent


@dataclass(frozen=True)
class _Tail:
    """The end of the log as this process last appended it: the last link and the tree's frontier.

    While no other writer has appended since, the next save needs no read to link and hash its
    events; every use checks, under the insert lock, that it is still the end (``_EXPECT_END`` on
    PostgreSQL, the head read by ``_append_links`` on SQLite).
    """

    position: int
    digest: str
    notification_id: int
    frontier: tuple[bytes, ...]

    @property
    def last_link(self) -> tuple[int, str, int]:
        """(position, digest, notification id) of the last link."""
        return self.position, self.digest, self.notification_id

    @property
    def top_seq(self) -> int:
        """The number of the tree's last node once this tail's leaves are in."""
        return nodes_for_size(self.position) - 1


@dataclass(frozen=True)
class _Append:
    """What one save appends after the events: chain links, tree nodes (seq, hash), the new end."""

    links: list[ChainLink]
    nodes: list[tuple[int, bytes]]
    tail: _Tail | None


T = TypeVar("T")

FORMATTED_STATEMENTS_KEPT = 256

NO_BOUND = 2**62
"""An upper bound past any id, position or node number: a range read to the end of the log."""


class ChainedRecorder(ApplicationRecorder):
    """Audit-chain reads and writes shared by both databases; subclasses run the SQL."""

    linker: ChainLinker
    originator_hex: str
    """SQL of an aggregate id ``{column}`` as 32 hex digits, and as dashed text (``str(UUID)``)."""
    originator_text: str
    events_table_name: str
    notification_id_column: str
    duplicate_key_errors: tuple[type[Exception], ...]
    placeholder = "%s"
    # Written after each save (SQLite: inside its transaction, PostgreSQL: once it is durable);
    # a stale value costs a read or a retry, never a wrong link: every use checks it first.
    _tail: _Tail | None = None

    def _run(self, sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list[Any]:
        raise NotImplementedError

    def _db_id(self, originator_id: UUID | str) -> Any:
        return originator_id

    def _db_time(self, moment: datetime) -> Any:
        return moment

    def _link(self, row: Any) -> ChainLink:
        originator_id = row[2] if isinstance(row[2], UUID) else UUID(row[2])
        recorded_at = row[5] if isinstance(row[5], datetime) else datetime.fromisoformat(row[5])
        return ChainLink(
            position=row[0],
            notification_id=row[1],
            originator_id=originator_id,
            originator_version=row[3],
            topic=row[4],
            recorded_at=recorded_at.replace(tzinfo=UTC) if recorded_at.tzinfo is None else recorded_at,
            actor=row[6],
            digest=row[7],
        )

    def _sql(self, sql: str) -> str:
        """Name this recorder's tables and use the driver's placeholder.

        Each statement is formatted once: a save runs three on SQLite, and formatting one cost about
        5 µs, measured with cProfile. The texts are a fixed set (values go as parameters); the bound
        only guards against a caller that builds them.
        """
        formatted = self._formatted.get(sql)
        if formatted is None:
            formatted = sql.format(
                chain=chain_table(self.events_table_name),
                seals=seals_table(self.events_table_name),
                keys=idempotency_table(self.events_table_name),
                merkle=merkle_table(self.events_table_name),
                checkpoints=checkpoints_table(self.events_table_name),
                data_keys=data_keys_table(self.events_table_name),
                events=self.events_table_name,
                id=self.notification_id_column,
            ).replace("%s", self.placeholder)
            if len(self._formatted) < FORMATTED_STATEMENTS_KEPT:
                self._formatted[sql] = formatted
        return formatted

    @cached_property
    def _formatted(self) -> dict[str, str]:
        """``_sql``'s statements as formatted for this recorder (its table names never change)."""
        return {}

    def _append_links(
        self, cursor: Any, notification_ids: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> None:
        """Called inside the insert transaction, after the events got their notification ids.

        Both reads (the chain head, the tree's frontier) come before any insert. The frontier is
        read only when the head is not the one this process appended last (``_tail``).
        """
        cursor.execute(self._sql(_HEAD_AND_TREE_TOP))
        head = cursor.fetchone()
        previous = (head[0], head[1]) if head is not None else None
        size = previous[0] if previous is not None else 0
        tail = self._tail
        if tail is not None and head is not None and (head[:3], head[3]) == (tail.last_link, tail.top_seq):
            frontier_hashes: list[bytes] | None = list(tail.frontier)
        else:
            frontier_hashes = self._frontier_hashes(cursor, size)
        appended = self._appended(previous, frontier_hashes, notification_ids, stored_events)
        self._insert_appended(cursor, appended)
        self._tail = appended.tail

    def _appended(
        self,
        previous: tuple[int, str] | None,
        frontier_hashes: list[bytes] | None,
        notification_ids: Sequence[int],
        stored_events: Sequence[StoredEvent],
    ) -> _Append:
        """The links after the chain head ``previous``, and their tree nodes when the tree is current.

        Computation only, no database: the PostgreSQL fast path runs it before taking the lock.
        """
        size = previous[0] if previous is not None else 0
        links = self.linker.links(previous, notification_ids, stored_events)
        if not links or frontier_hashes is None:
            return _Append(links, [], None)
        nodes, frontier = self._grown_tree(size, frontier_hashes, zip(links, stored_events, strict=True))
        last = links[-1]
        tail = None if frontier is None else _Tail(last.position, last.digest, last.notification_id, frontier)
        return _Append(links, nodes, tail)

    def _insert_appended(self, cursor: Any, appended: _Append) -> None:
        insert = f"INSERT INTO {{chain}} ({_LINK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        cursor.executemany(self._sql(insert), self._link_rows(appended.links))
        if appended.nodes:
            cursor.executemany(self._sql("INSERT INTO {merkle} (seq, hash) VALUES (%s, %s)"), appended.nodes)

    def _frontier_hashes(self, cursor: Any, size: int) -> list[bytes] | None:
        """The hashes of the subtrees tiling a tree of ``size`` leaves (at most one per level)."""
        return self._frontier_among(size, self._nodes_in(cursor, frontier_seqs(size)))

    def _frontier_among(self, size: int, found: dict[int, bytes]) -> list[bytes] | None:
        """The frontier of a tree of ``size`` leaves out of the nodes ``found``.

        None when the tree is behind the chain (a log recorded before the Merkle tree existed):
        its events are left for ``backfill_tree``, which catches the tree up.
        """
        wanted = frontier_seqs(size)
        return [found[seq] for seq in wanted] if all(seq in found for seq in wanted) else None

    def _grown_tree(
        self, size: int, frontier_hashes: list[bytes], events: Any
    ) -> tuple[list[tuple[int, bytes]], tuple[bytes, ...] | None]:
        """The leaves of ``(link, stored event)`` pairs and the subtrees they complete, as (seq, hash),
        and the frontier of the grown tree (None: the caller keeps no tail).

        The frontier is the builder's own stack once the leaves are in: working it out again from
        the node numbers cost a one-event save 6.5 of the 27 µs its links and nodes took (process
        time, docs/adr/0043).
        """
        builder = TreeBuilder(size, frontier_hashes)
        leaves = [event_leaf(link.position, stored) for link, stored in events]
        return [node for leaf in leaves for node in builder.append(leaf)], builder.frontier_hashes()

    def _insert_leaves(self, cursor: Any, size: int, frontier_hashes: list[bytes], events: Any) -> None:
        """Append the leaves of ``(link, stored event)`` pairs and the subtrees they complete."""
        created, _ = self._grown_tree(size, frontier_hashes, events)
        cursor.executemany(self._sql("INSERT INTO {merkle} (seq, hash) VALUES (%s, %s)"), created)

    def _nodes_in(self, cursor: Any, seqs: Sequence[int]) -> dict[int, bytes]:
        if not seqs:
            return {}
        marks = ", ".join(["%s"] * len(seqs))
        cursor.execute(self._sql(f"SELECT seq, hash FROM {{merkle}} WHERE seq IN ({marks})"), tuple(seqs))
        return {row[0]: bytes(row[1]) for row in cursor.fetchall()}

    def _locked_write(self, work: Any) -> Any:
        """Run ``work(cursor)`` in a write transaction that excludes event inserts."""
        raise NotImplementedError

    def select_tree_size(self) -> int:
        rows = self._run("SELECT MAX(seq) FROM {merkle}")
        top = rows[0][0] if rows else None
        return 0 if top is None else size_from_node_count(top + 1)

    def select_nodes(self, seqs: Sequence[int]) -> dict[int, bytes]:
        if not seqs:
            return {}
        marks = ", ".join(["%s"] * len(seqs))
        rows = self._run(f"SELECT seq, hash FROM {{merkle}} WHERE seq IN ({marks})", tuple(seqs))
        return {row[0]: bytes(row[1]) for row in rows}

    def select_event_rows(
        self, after: int, limit: int, upto: int = NO_BOUND
    ) -> list[tuple[int, str, int, str, bytes]]:
        """``audit verify``'s input, as stored: (notification id, aggregate id as 32 hex digits,
        version, topic, state), in id order, with no transcoding on the way. The dashed text the
        leaf holds is cut from the hex digits in Python (``log_leaf.dashed``): SQLite's five
        ``substr`` and eight concatenations cost a row 0.95 µs, the slicing 0.25 (docs/adr/0043)."""
        return self._run(
            f"SELECT {{id}}, {self.originator_hex.format(column='originator_id')}, "
            "originator_version, topic, state FROM {events} "
            "WHERE {id} > %s AND {id} <= %s ORDER BY {id} LIMIT %s",
            (after, upto, limit),
        )

    def select_link_rows(self, after: int, limit: int, upto: int = NO_BOUND) -> list[tuple[int, int, str]]:
        """(position, notification id, digest) of the links in (after, upto]: the chain walk's input."""
        return self._run(
            "SELECT position, notification_id, digest FROM {chain} "
            "WHERE position > %s AND position <= %s ORDER BY position LIMIT %s",
            (after, upto, limit),
        )

    def select_node_page(self, after_seq: int, limit: int, upto: int = NO_BOUND) -> list[tuple[int, bytes]]:
        rows = self._run(
            "SELECT seq, hash FROM {merkle} WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
            (after_seq, upto, limit),
        )
        return [(row[0], bytes(row[1])) for row in rows]

    @contextmanager
    def scanning(self, own_connection: bool = False) -> Iterator[ChainedRecorder]:
        """This store reading over one connection held for a whole scan of the log (``audit
        verify``): on PostgreSQL a pool checkout (and its ping) per batch cost more than the batch.

        ``own_connection`` opens a connection of its own, as a forked process must: the pool it
        inherited is the parent's, whose connections the parent goes on using. What is yielded is a
        copy of this recorder for reads; the recorder itself, shared by a server's threads, is untouched.
        """
        with self._scan_runner(own_connection) as run:
            scan = copy.copy(self)
            scan._run = run  # type: ignore[method-assign]
            yield scan

    def _scan_runner(self, own_connection: bool) -> AbstractContextManager[Callable[..., list[Any]]]:
        raise NotImplementedError

    def _own_connection(self) -> Any:
        raise NotImplementedError

    @property
    def readable_elsewhere(self) -> bool:
        """Whether another process can open this store (not so for an in-memory SQLite database)."""
        return True

    def backfill_tree(self, limit: int) -> int:
        """Append up to ``limit`` leaves of events recorded before their tree; how many were added.

        Runs under the insert lock, so no insert can slip in between reading the tree's size and
        writing the nodes; once caught up, inserts append their own leaves again.
        """

        def work(cursor: Any) -> int:
            cursor.execute(self._sql("SELECT MAX(seq) FROM {merkle}"))
            top = cursor.fetchone()
            size = 0 if top is None or top[0] is None else size_from_node_count(top[0] + 1)
            columns = ", ".join(f"c.{name.strip()}" for name in _LINK_COLUMNS.split(","))
            cursor.execute(
                self._sql(
                    f"SELECT {columns}, e.state FROM {{chain}} c "
                    "JOIN {events} e ON e.{id} = c.notification_id "
                    "WHERE c.position > %s ORDER BY c.position LIMIT %s"
                ),
                (size, limit),
            )
            rows = cursor.fetchall()
            pairs = []
            for row in rows:
                link = self._link(row)
                pairs.append(
                    (
                        link,
                        StoredEvent(link.originator_id, link.originator_version, link.topic, bytes(row[8])),
                    )
                )
            frontier_hashes = self._frontier_hashes(cursor, size)
            if not pairs or frontier_hashes is None:
                return 0
            self._insert_leaves(cursor, size, frontier_hashes, pairs)
            return len(pairs)

        added: int = self._locked_write(work)
        return added

    def insert_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Keep the checkpoint; False when one of the same size and second was kept already."""
        inserted = self._run(
            "INSERT INTO {checkpoints} (size, made_at, root, note) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (size, made_at) DO NOTHING RETURNING size",
            (checkpoint.size, checkpoint.made_at, checkpoint.root, checkpoint.note),
            write=True,
        )
        return bool(inserted)

    def select_checkpoints(self, latest_only: bool = False) -> list[StoredCheckpoint]:
        order = "made_at DESC, size DESC LIMIT 1" if latest_only else "made_at, size"
        rows = self._run(f"SELECT size, made_at, root, note FROM {{checkpoints}} ORDER BY {order}")
        return [StoredCheckpoint(row[0], row[1], bytes(row[2]), row[3]) for row in rows]

    def _link_rows(self, links: Sequence[ChainLink]) -> list[tuple[Any, ...]]:
        return [
            (
                link.position,
                link.notification_id,
                self._db_id(link.originator_id),
                link.originator_version,
                link.topic,
                self._db_time(link.recorded_at),
                link.actor,
                link.digest,
            )
            for link in links
        ]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        notification_ids = self._record(stored_events, **kwargs)
        for stored_event in stored_events:
            EVENTS_APPENDED.labels(stored_event.topic).inc()
        claim = pending_claim()
        if claim is not None and stored_events:
            claim.recorded = True
        return notification_ids

    def _record(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, which calls back into ``_append_links`` inside its transaction."""
        return super().insert_events(stored_events, **kwargs)  # type: ignore[safe-super]

    def _claim_idempotency_key(self, cursor: Any) -> None:
        """Called inside the insert transaction: the pending key row goes in with the events.

        An expired row of the same key is replaced; a live one means a duplicate request got there
        first. Its unique violation aborts the transaction in the database itself, and this
        request's events are rolled back with it.
        """
        claim = pending_claim()
        if claim is None or claim.recorded:
            return
        try:
            self._queue_idempotency_claim(cursor, claim)
        except self.duplicate_key_errors as duplicate:
            raise _key_taken(claim) from duplicate

    def _queue_idempotency_claim(self, cursor: Any, claim: IdempotencyClaim) -> None:
        where = "scope = %s AND idempotency_key = %s"
        cursor.execute(
            self._sql(f"DELETE FROM {{keys}} WHERE {where} AND created_at < %s"),
            (claim.scope, claim.key, claim.expires_before),
        )
        cursor.execute(
            self._sql(
                "INSERT INTO {keys} (scope, idempotency_key, fingerprint, created_at) VALUES (%s, %s, %s, %s)"
            ),
            (claim.scope, claim.key, claim.fingerprint, claim.created_at),
        )

    def select_idempotency_key(self, scope: str, key: str, not_before: float) -> KeyRecord | None:
        rows = self._run(
            "SELECT fingerprint, created_at, status, headers, body FROM {keys} "
            "WHERE scope = %s AND idempotency_key = %s AND created_at >= %s",
            (scope, key, not_before),
        )
        if not rows:
            return None
        fingerprint, created_at, status, headers, body = rows[0]
        response = None if status is None else StoredResponse(status, json.loads(headers), bytes(body))
        return KeyRecord(fingerprint, created_at, response)

    def store_idempotent_response(self, claim: IdempotencyClaim, response: StoredResponse) -> bool:
        """The answer to replay: fills the row the events' transaction inserted, or inserts one
        for a request that recorded nothing (a refusal, a no-op). A live row of another request
        (a concurrent duplicate's) is left alone, and the answer is False."""
        stored = self._run(
            "INSERT INTO {keys} (scope, idempotency_key, fingerprint, created_at, status, headers, body) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (scope, idempotency_key) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "created_at = excluded.created_at, status = excluded.status, headers = excluded.headers, "
            "body = excluded.body "
            "WHERE ({keys}.status IS NULL AND {keys}.fingerprint = excluded.fingerprint "
            "AND {keys}.created_at = excluded.created_at) OR {keys}.created_at < %s RETURNING scope",
            (
                claim.scope,
                claim.key,
                claim.fingerprint,
                claim.created_at,
                response.status,
                response.headers_json(),
                response.body,
                claim.expires_before,
            ),
            write=True,
        )
        return bool(stored)

    def count_links_of_actor(self, actor: str) -> int:
        """Links whose copied actor is ``actor``: for a username, the events recorded before
        personal fields were encrypted (their payload holds it in clear)."""
        rows = self._run("SELECT COUNT(*) FROM {chain} WHERE actor = %s", (actor,))
        return int(rows[0][0])

    def relabel_actor(self, old: str, new: str) -> None:
        """Replace a copied username by the actor id; link digests never covered this column."""
        self._run("UPDATE {chain} SET actor = %s WHERE actor = %s", (new, old), write=True)

    def delete_expired_idempotency_keys(self, before: float) -> None:
        self._run("DELETE FROM {keys} WHERE created_at < %s", (before,), write=True)

    def select_head(self) -> ChainLink | None:
        rows = self._run(f"SELECT {_LINK_COLUMNS} FROM {{chain}} ORDER BY position DESC LIMIT 1")
        return self._link(rows[0]) if rows else None

    def select_links(self, after: int, limit: int) -> list[ChainLink]:
        sql = f"SELECT {_LINK_COLUMNS} FROM {{chain}} WHERE position > %s ORDER BY position LIMIT %s"
        return [self._link(row) for row in self._run(sql, (after, limit))]

    def select_entries(self, after: int, limit: int, where: AuditFilter) -> list[AuditEntry]:
        """A page of the global stream, in chain order, with each event as stored."""
        columns = ", ".join(f"c.{name.strip()}" for name in _LINK_COLUMNS.split(","))
        entries = []
        for row in self._run(*self._entries_query(columns, after, limit, where)):
            link = self._link(row)
            stored = StoredEvent(link.originator_id, link.originator_version, link.topic, bytes(row[8]))
            entries.append(AuditEntry(link, stored))
        return entries

    def select_entry_rows(
        self, after: int, limit: int, where: AuditFilter, upto: int = NO_BOUND
    ) -> list[EntryRow]:
        """The same page as ``select_entries`` (positions up to ``upto``), as bare ``(position,
        aggregate id, version, topic, state)`` rows: the export needs no more, and parsing each chain
        link cost it a third of its time. The id comes as the text the export shows: parsing it into
        a UUID cost another tenth."""
        aggregate_id = self.originator_text.format(column="c.originator_id")
        columns = f"c.position, {aggregate_id}, c.originator_version, c.topic"
        return [
            (row[0], row[1], row[2], row[3], row[4])
            for row in self._run(*self._entries_query(columns, after, limit, where, upto))
        ]

    def _entries_query(
        self, columns: str, after: int, limit: int, where: AuditFilter, upto: int = NO_BOUND
    ) -> tuple[str, list[Any]]:
        """The chain joined with the events (``columns`` and then the state), filtered, in chain order.

        One aggregate's entries are found by the events table's own key (aggregate id, version),
        then their links by notification id: the chain keeps no index of aggregate ids, which cost
        every save a random B-tree leaf in the WAL (docs/adr/0043). SQLite never reorders a CROSS
        JOIN, so the aggregate's few events drive the join, not a walk of the whole chain in
        position order; PostgreSQL's planner picks that order from its statistics.
        """
        if where.originator_id is None:
            sql = f"SELECT {columns}, e.state FROM {{chain}} c JOIN {{events}} e"
            sql += " ON e.{id} = c.notification_id WHERE c.position > %s"
            params: list[Any] = [after]
        else:
            sql = f"SELECT {columns}, e.state FROM {{events}} e CROSS JOIN {{chain}} c"
            sql += " WHERE e.originator_id = %s AND c.notification_id = e.{id} AND c.position > %s"
            params = [self._db_id(where.originator_id), after]
        if upto != NO_BOUND:
            sql += " AND c.position <= %s"
            params.append(upto)
        if where.topics:
            sql += f" AND c.topic IN ({', '.join(['%s'] * len(where.topics))})"
            params.extend(where.topics)
        if where.actors:
            sql += f" AND c.actor IN ({', '.join(['%s'] * len(where.actors))})"
            params.extend(where.actors)
        if where.since is not None:
            sql += " AND c.recorded_at >= %s"
            params.append(self._db_time(where.since))
        if where.until is not None:
            sql += " AND c.recorded_at < %s"
            params.append(self._db_time(where.until))
        sql += " ORDER BY c.position LIMIT %s"
        params.append(limit)
        return sql, params

    def insert_seal(self, seal: Seal) -> None:
        sql = "INSERT INTO {seals} (position, digest, sealed_at, signature) VALUES (%s, %s, %s, %s)"
        self._run(sql, (seal.position, seal.digest, seal.sealed_at.isoformat(), seal.signature), write=True)

    def select_seals(self) -> list[Seal]:
        rows = self._run("SELECT position, digest, sealed_at, signature FROM {seals} ORDER BY position")
        return [Seal(row[0], row[1], datetime.fromisoformat(row[2]), row[3]) for row in rows]


class _StaleTail(Exception):
    """Another writer appended after this process's ``_Tail``: the save wrote nothing, read the end."""


def _key_taken(claim: IdempotencyClaim) -> IdempotencyKeyTaken:
    return IdempotencyKeyTaken(f"idempotency key {claim.key!r} was used by a concurrent request")


SAVES_ALONE_BEFORE_GUESSING = 3
"""Saves in a row that found the log where this process left it before it appends without reading."""

# The chain head and the number of the tree's last node: enough to tell whether ``_Tail`` is the end.
_HEAD_AND_TREE_TOP = (
    "SELECT position, digest, notification_id, (SELECT MAX(seq) FROM {merkle}) "
    "FROM {chain} ORDER BY position DESC LIMIT 1"
)

# The chain head and the stored subtrees tiling a tree of as many leaves as the head's position (the
# tree is never ahead of the chain): ``merkle.frontier_seqs`` in SQL, so one round trip reads both.
# The last leaf of the tile at each set bit ``level`` of n is ((n >> level) << level) - 1.
_HEAD_AND_FRONTIER = (
    "WITH head AS (SELECT position, digest, notification_id FROM {chain} ORDER BY position DESC LIMIT 1), "
    "tiles AS (SELECT level, ((head.position >> level) << level) - 1 AS last "
    "FROM head, generate_series(0, 62) AS level WHERE (head.position >> level) & 1 = 1) "
    "SELECT head.position, head.digest, head.notification_id, node.seq, node.hash "
    "FROM head LEFT JOIN {merkle} node "
    "ON node.seq IN (SELECT 2 * last - bit_count(last::bit(64)) + level FROM tiles)"
)

# A save's events, then its chain links and tree nodes, each as one JSON parameter (bytea values as
# "\\x" and hex, bytea's own text form): psycopg dumps the library's array of composite values, or one
# array per column, at 150-160 µs a save, a JSON text at 5-10 (``_insert_event_rows``, ``_insert_appended``).
# The rows are inserted in the order of the JSON array, as the library's ``unnest`` inserts them.
_INSERT_EVENTS = (
    "INSERT INTO {events} (originator_id, originator_version, topic, state) "
    "SELECT * FROM json_to_recordset(%s::json) "
    "AS event(originator_id {originator_id_type}, originator_version bigint, topic text, state bytea) "
    "RETURNING notification_id"
)
_INSERT_LINKS_AND_NODES = (
    f"WITH links AS (INSERT INTO {{chain}} ({_LINK_COLUMNS}) SELECT * FROM json_to_recordset(%s::json) "
    "AS link(position bigint, notification_id bigint, originator_id uuid, originator_version bigint, "
    "topic text, recorded_at timestamptz, actor text, digest text)) "
    "INSERT INTO {merkle} (seq, hash) "
    "SELECT * FROM json_to_recordset(%s::json) AS node(seq bigint, hash bytea)"
)

# Fails the transaction (division by zero, the one error a plain SELECT can be made to raise) unless
# the log still ends where the caller last appended: that last link, that highest event id (a log
# with events older than the chain has ids past its positions) and that last tree node. Run under
# the insert lock, before anything is written; the caller turns the error into ``_StaleTail``.
_EXPECT_END = (
    "SELECT 1 / COUNT(*)::int FROM "
    "(SELECT position, digest, notification_id FROM {chain} ORDER BY position DESC LIMIT 1) AS head "
    "WHERE (head.position, head.digest, head.notification_id) = (%s, %s, %s) "
    "AND (SELECT MAX({id}) FROM {events}) = %s AND (SELECT MAX(seq) FROM {merkle}) = %s"
)

# Waits, in a transaction of its own committed synchronously, until the WAL is flushed past a
# record written after the caller's own commit: the only way to wait for a flush from SQL (a
# transaction that writes no WAL commits without waiting). Any user may call it, at any wal_level.
WAIT_UNTIL_DURABLE = "SELECT pg_logical_emit_message(true, 'cosmo-durable', '')"


def _chain_tables_sql(originator_id_type: str, time_type: str, integer: str, binary: str) -> list[str]:
    """Unformatted: each recorder fills in its own table names (see ``ChainedRecorder._sql``)."""
    return [
        "CREATE TABLE IF NOT EXISTS {keys} ("
        "scope TEXT NOT NULL, idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, "
        f"created_at DOUBLE PRECISION NOT NULL, status {integer}, headers TEXT, body {binary}, "
        "PRIMARY KEY (scope, idempotency_key))",
        "CREATE INDEX IF NOT EXISTS {keys}_created_at ON {keys} (created_at)",
        "CREATE TABLE IF NOT EXISTS {chain} ("
        f"position {integer} PRIMARY KEY, notification_id {integer} NOT NULL UNIQUE, "
        f"originator_id {originator_id_type} NOT NULL, originator_version {integer} NOT NULL, "
        f"topic TEXT NOT NULL, recorded_at {time_type} NOT NULL, actor TEXT NOT NULL, digest TEXT NOT NULL)",
        # One aggregate's links are found through the events table's key (``_entries_query``); an
        # index of the chain's own cost each save a random leaf (docs/adr/0043). Stores made before drop it.
        "DROP INDEX IF EXISTS {chain}_aggregate",
        "CREATE INDEX IF NOT EXISTS {chain}_actor ON {chain} (actor, position)",
        "CREATE INDEX IF NOT EXISTS {chain}_recorded_at ON {chain} (recorded_at)",
        "CREATE TABLE IF NOT EXISTS {seals} ("
        f"position {integer} NOT NULL, digest TEXT NOT NULL, "
        "sealed_at TEXT NOT NULL, signature TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {{merkle}} (seq {integer} PRIMARY KEY, hash {binary} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {checkpoints} ("
        f"size {integer} NOT NULL, made_at TEXT NOT NULL, root {binary} NOT NULL, note TEXT NOT NULL, "
        "PRIMARY KEY (size, made_at))",
        "CREATE INDEX IF NOT EXISTS {checkpoints}_made_at ON {checkpoints} (made_at, size)",
        # Envelope-encrypted data keys (infrastructure/data_keys.py): NULL wrapped = destroyed.
        "CREATE TABLE IF NOT EXISTS {data_keys} ("
        f"ref TEXT PRIMARY KEY, wrapped {binary}, master TEXT NOT NULL, created_at TEXT NOT NULL, "
        "destroyed_at TEXT)",
    ]


class ChainedSQLiteRecorder(ChainedRecorder, SQLiteProcessRecorder):
    placeholder = "?"
    duplicate_key_errors = (sqlite3.IntegrityError,)
    notification_id_column = "rowid"
    originator_hex = "{column}"  # stored as ``UUID.hex``
    originator_text = (
        "substr({column}, 1, 8) || '-' || substr({column}, 9, 4) || '-' || "
        "substr({column}, 13, 4) || '-' || substr({column}, 17, 4) || '-' || substr({column}, 21)"
    )

    def __init__(self, datastore: Any, linker: ChainLinker) -> None:
        self.linker = linker
        super().__init__(datastore)

    def construct_create_table_statements(self) -> list[str]:
        chain_sql = [self._sql(s) for s in _chain_tables_sql("TEXT", "TEXT", "INTEGER", "BLOB")]
        return [*super().construct_create_table_statements(), *chain_sql]

    def _db_id(self, originator_id: UUID | str) -> Any:
        return originator_id.hex if isinstance(originator_id, UUID) else originator_id

    def _db_time(self, moment: datetime) -> Any:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        assert notification_ids is not None
        if stored_events:
            # Only a save with events has links to append or a key to claim. An empty or tracking-
            # only save must not read here: its deferred transaction would then read before it
            # writes, and SQLite fails such a write at once ("database is locked") when another
            # connection committed meanwhile, instead of waiting for the lock.
            self._append_links(c, notification_ids, stored_events)
            self._claim_idempotency_key(c)
        return notification_ids

    def _run(self, sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list[Any]:
        with self.datastore.transaction(commit=write) as c:
            c.execute(self._sql(sql), tuple(params))
            return list(c.fetchall())

    @contextmanager
    def _scan_runner(self, own_connection: bool) -> Iterator[Callable[..., list[Any]]]:
        """A connection of its own whenever the file can be opened again: cheap to open, and its
        rows come as plain tuples, without the library's transaction around each query."""
        if not (own_connection or self.readable_elsewhere):
            yield self._run
            return
        connection = self._own_connection()
        try:

            def run(sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list[Any]:
                rows: list[Any] = connection.execute(self._sql(sql), tuple(params)).fetchall()
                return rows

            yield run
        finally:
            connection.close()

    def _own_connection(self) -> Any:
        return sqlite3.connect(self.datastore.pool.db_name, uri=True, isolation_level=None)

    @property
    def readable_elsewhere(self) -> bool:
        return not self.datastore.pool.is_sqlite_memory_mode

    def _locked_write(self, work: Any) -> Any:
        with self.datastore.transaction(commit=True) as c:
            # Take the write lock before ``work`` reads, as PostgreSQL's table lock does: a deferred
            # transaction that reads first fails at once when another connection commits meanwhile.
            c.execute(self._sql("DELETE FROM {merkle} WHERE 0"))
            return work(c)


class ChainedPostgresRecorder(ChainedRecorder, RetriesWithinBudget, PostgresProcessRecorder):
    duplicate_key_errors = (UniqueViolation,)
    notification_id_column = "notification_id"
    originator_hex = "replace({column}::text, '-', '')"
    originator_text = "{column}::text"

    def __init__(
        self, datastore: Any, *, events_table_name: str, tracking_table_name: str, linker: ChainLinker
    ) -> None:
        self.linker = linker
        super().__init__(
            datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name
        )
        chain_sql = _chain_tables_sql("uuid", "timestamptz", "bigint", "bytea")
        self.sql_create_statements.extend(SQL(self._sql(s)).format() for s in chain_sql)
        table = SQL("{0}.{1}").format(Identifier(datastore.schema), Identifier(events_table_name))
        # Composed once into text: psycopg rebuilds a composed statement's bytes on every execute.
        self._sql_reset_sequence = (
            SQL(
                "SELECT setval(pg_get_serial_sequence({name}, 'notification_id'), "
                "COALESCE(MAX(notification_id), 0) + 1, false) FROM {table}"
            )
            .format(name=Literal(table.as_string(None)), table=table)
            .as_string(None)
        )
        self._sql_head_and_frontier = self._sql(_HEAD_AND_FRONTIER)
        self._sql_expect_end = self._sql(_EXPECT_END)
        # The library's lock timeout for an insert transaction, and with group commit (docs/adr/0023)
        # a commit that does not wait for the flush, in one statement.
        lock_timeout = Literal(f"{datastore.lock_timeout}s")
        self._sql_lock_timeout = (
            SQL("SELECT set_config('lock_timeout', {0}, true)").format(lock_timeout).as_string(None)
        )
        self._sql_group_commit_settings = (
            SQL("SELECT set_config('lock_timeout', {0}, true), set_config('synchronous_commit', 'off', true)")
            .format(lock_timeout)
            .as_string(None)
        )
        self._sql_lock = SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(table).as_string(None)
        self._sql_notify = SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_string(None)
        self._sql_insert_appended = self._sql(_INSERT_LINKS_AND_NODES)
        self._sql_insert_events = self._sql(
            _INSERT_EVENTS.replace("{originator_id_type}", datastore.originator_id_type)
        )
        # How many saves in a row found no other writer's events after this process's own. A stale
        # guess costs a second wait for the lock and psycopg's whole statement cache (its rollback
        # deallocates every prepared statement), so the tail is trusted only after a few.
        self._saves_alone = 0

    def create_table(self) -> None:
        """Serialised across processes: concurrent DDL on the same catalog rows fails in PostgreSQL
        ("tuple concurrently updated"), e.g. when several workers start at once."""
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK_ID])
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK_ID])

    @retried_within_budget
    def _record(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert under the table lock; ``insert_events`` returns only once the save is durable.

        While this process is the only one appending, it links after the end it wrote last, in one
        round trip, and commits as the library does (``_append_after``, docs/adr/0026). Otherwise,
        or when that end turns out to be stale, it reads the end under the lock and commits with
        group commit (``_append_after_reading``, docs/adr/0023): the lock is held from ``LOCK
        TABLE`` to the commit record, not through the disk flush, so the next writer's transaction
        runs while this one's flush is under way, and one flush makes several writers' commits
        durable. Either way commit order is position order (the lock is released after the commit
        is visible), and the WAL is written in that order, so a crash can only lose a suffix of the
        log: never a gap, never an acknowledged event.
        """
        tracking: Tracking | None = kwargs.get("tracking")
        if not stored_events:
            with self.datastore.transaction(commit=True) as curs:
                if tracking is not None:
                    self._insert_tracking(curs, tracking=tracking)
            return []
        tail = self._tail
        if tail is not None and self._saves_alone >= SAVES_ALONE_BEFORE_GUESSING:
            try:
                ids = self._append_after(tail, stored_events, tracking)
            except _StaleTail:
                self._saves_alone = 0
            else:
                self._saves_alone += 1
                return ids
        return self._append_after_reading(stored_events, tracking)

    def _append_after(
        self, tail: _Tail, stored_events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> list[int]:
        """One round trip, with the links and tree nodes computed before it, after ``tail``.

        The pipeline takes the lock, checks that ``tail`` is still the end of the log (the last
        link, the highest event id, the last tree node: three index probes; ``_EXPECT_END`` fails
        the transaction otherwise), inserts the events (which get the ids after the tail's), their
        links and nodes, and commits, the COMMIT waiting for the flush: with no other writer
        expected, group commit would only add a transaction. Raises ``_StaleTail`` when another
        writer got there first: nothing was written, and the caller appends the reading way.
        """
        first = tail.notification_id + 1
        notification_ids = list(range(first, first + len(stored_events)))
        appended = self._appended(tail.last_link[:2], list(tail.frontier), notification_ids, stored_events)

        def write(curs: Cursor[DictRow], sync: Callable[[], None], claim: IdempotencyClaim | None) -> None:
            self._begin_insert(curs, tracking, claim)
            expected_end = (*tail.last_link, tail.notification_id, tail.top_seq)
            curs.execute(self._sql_expect_end, expected_end, prepare=True)
            self._reset_sequence(curs)  # to the id after the tail's, as the check just proved
            self._insert_event_rows(curs, stored_events)
            self._insert_appended(curs, appended)

        self._in_one_transaction(write, group_commit=False, corked=tracking is None)
        self._tail = appended.tail
        return notification_ids

    def _append_after_reading(
        self, stored_events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> list[int]:
        """Two round trips, the lock held from the first: the inserts and the read of the end, then
        the links and tree nodes computed from it, the commit and the wait for the flush."""
        tail = self._tail

        def write(
            curs: Cursor[DictRow], sync: Callable[[], None], claim: IdempotencyClaim | None
        ) -> tuple[list[int], tuple[int, str, int] | None, _Append]:
            self._begin_insert(curs, tracking, claim)
            self._reset_sequence(curs)
            with (
                curs.connection.cursor() as inserted,
                curs.connection.cursor(row_factory=tuple_row) as reads,
            ):
                self._insert_event_rows(inserted, stored_events)
                reads.execute(self._sql_head_and_frontier, prepare=True)
                sync()
                notification_ids = [row["notification_id"] for row in inserted.fetchall()]
                rows = reads.fetchall()
            head = (rows[0][0], rows[0][1], rows[0][2]) if rows else None
            size = head[0] if head is not None else 0
            frontier_hashes = self._frontier_among(
                size, {row[3]: bytes(row[4]) for row in rows if row[3] is not None}
            )
            appended = self._appended(
                head[:2] if head is not None else None, frontier_hashes, notification_ids, stored_events
            )
            self._insert_appended(curs, appended)
            return notification_ids, head, appended

        notification_ids, head, appended = self._in_one_transaction(
            write, group_commit=True, corked=tracking is None
        )
        self._tail = appended.tail
        # Saves in a row that found no other writer's events after this process's last one.
        self._saves_alone = self._saves_alone + 1 if tail is not None and head == tail.last_link else 0
        return notification_ids

    def _in_one_transaction(
        self,
        write: Callable[[Cursor[DictRow], Callable[[], None], IdempotencyClaim | None], T],
        *,
        group_commit: bool,
        corked: bool,
    ) -> T:
        """``write`` between a BEGIN and a COMMIT, all pipelined.

        With ``group_commit`` (docs/adr/0023) the COMMIT does not wait for the WAL flush and the
        wait follows it, once the lock is released; without it the COMMIT itself waits, holding the
        lock through the flush, as the library's recorder does: one transaction, not two, for a
        save that expects no other writer to be waiting.

        Plain statements rather than psycopg's transaction block, which in a pipeline waits for the
        server after BEGIN and again after COMMIT: here nothing waits but what ``write`` syncs, and
        the pipeline's end (``write`` calls the ``sync`` it is given). The statements go out
        corked (``_corked``): one packet per round trip, not one per statement; not with a
        tracking position, whose insert the library fetches at once (a fetch while corked would
        wait for the kernel's 200 ms limit). An error anywhere
        (the server then skips the rest, COMMIT included) leaves the transaction failed; it is
        rolled back, and the error raised as the caller should see it: ``_StaleTail``,
        ``IdempotencyKeyTaken``, or the database's own.
        """
        claim = pending_claim()
        with self.datastore.get_connection() as conn:
            try:
                with conn.pipeline() as pipeline, conn.cursor() as curs, _corked(conn, corked) as cork:

                    def sync() -> None:
                        cork(False)
                        pipeline.sync()
                        cork(True)

                    curs.execute("BEGIN")
                    if group_commit:
                        curs.execute(self._sql_group_commit_settings, prepare=True)
                    else:
                        curs.execute(self._sql_lock_timeout, prepare=True)
                    written = write(curs, sync, claim)
                    curs.execute("COMMIT")
                    if group_commit:
                        curs.execute(WAIT_UNTIL_DURABLE, prepare=True)
            except psycopg.Error as error:
                if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                    conn.rollback()
                if isinstance(error, DivisionByZero):
                    raise _StaleTail from error
                keys = idempotency_table(self.events_table_name)
                if claim is not None and isinstance(error, UniqueViolation) and error.diag.table_name == keys:
                    raise _key_taken(claim) from error
                raise
        return written

    def _begin_insert(
        self, curs: Cursor[DictRow], tracking: Tracking | None, claim: IdempotencyClaim | None
    ) -> None:
        """What every insert transaction does first: the consumer's position (a process app's
        tracking), the settings, the lock, the NOTIFY, and the request's idempotency key."""
        if tracking is not None:
            self._insert_tracking(curs, tracking=tracking)
        self._lock_and_notify(curs)
        if claim is not None and not claim.recorded:
            self._queue_idempotency_claim(curs, claim)

    def _lock_and_notify(self, curs: Cursor[DictRow]) -> None:
        """What the library's insert does first (``_lock_table``, ``_notify_channel``); its
        ``lock_timeout`` is set by ``_in_one_transaction``."""
        curs.execute(self._sql_lock, prepare=True)
        curs.execute(self._sql_notify, prepare=True)

    def _insert_event_rows(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> None:
        """The library's ``_insert_stored_events`` (the same rows, in the same order, ``RETURNING``
        their ids), with the events sent as one JSON text instead of an array of composite values."""
        events = [
            {
                "originator_id": event.originator_id,
                "originator_version": event.originator_version,
                "topic": event.topic,
                "state": "\\x" + bytes(event.state).hex(),
            }
            for event in stored_events
        ]
        curs.execute(self._sql_insert_events, (orjson.dumps(events).decode(),), prepare=True)

    def _insert_appended(self, cursor: Any, appended: _Append) -> None:
        """The links and tree nodes in one statement, whatever their number."""
        links = [dict(zip(_LINK_NAMES, row, strict=True)) for row in self._link_rows(appended.links)]
        nodes = [{"seq": seq, "hash": "\\x" + digest.hex()} for seq, digest in appended.nodes]
        params = (orjson.dumps(links).decode(), orjson.dumps(nodes).decode())
        cursor.execute(self._sql_insert_appended, params, prepare=True)

    def _reset_sequence(self, curs: Cursor[DictRow]) -> None:
        """Notification ids without gaps, equal to the audit chain's positions.

        ``notification_id`` is a bigserial, and a refused insert (a version conflict) burns the
        values it took. Every inserter holds the table's EXCLUSIVE lock from ``_lock_table`` to its
        commit, so setting the sequence back to just after the highest recorded id is safe: no one
        else can take a value meanwhile. ``setval`` is not transactional; that is why it runs before
        each insert, not after a failure.
        """
        curs.execute(self._sql_reset_sequence, prepare=True)

    def _run(self, sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._sql(sql), tuple(params))
            return curs.fetchall() if curs.description else []

    @contextmanager
    def _scan_runner(self, own_connection: bool) -> Iterator[Callable[..., list[Any]]]:
        """Both ways on one connection, and binary: bytea comes as bytes, not hex text to decode."""
        connection = self._own_connection() if own_connection else self.datastore.get_connection()
        with connection as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:

            def run(sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list[Any]:
                curs.execute(self._sql(sql), tuple(params))
                return curs.fetchall()

            yield run

    def _own_connection(self) -> Any:
        pool_settings = self.datastore.pool.kwargs
        assert isinstance(pool_settings, dict), "the library passes its connection settings as a dict"
        settings = {name: value for name, value in pool_settings.items() if name != "row_factory"}
        return psycopg.connect(autocommit=True, row_factory=tuple_row, **settings)

    def _locked_write(self, work: Any) -> Any:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            return work(_TupleCursor(curs))


_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux only


@contextmanager
def _corked(conn: psycopg.Connection[Any], wanted: bool = True) -> Iterator[Callable[[bool], None]]:
    """Hold back the statements psycopg sends until the caller uncorks (``cork(False)``), or leaves.

    Why: in a pipeline psycopg sends each statement as soon as it is queued, one packet each, and
    every packet wakes the server's backend, which runs that statement and sleeps until the next.
    Measured on one connection (a transaction of ten small statements, pipelined): corked, client
    CPU 0.52 -> 0.39 ms and the backend's 0.21 -> 0.12 ms per transaction, on two cores that
    the writers, their backends and the flushes share. ``TCP_CORK`` keeps the packets in the
    kernel until it is cleared, which sends them at once as one; the caller must uncork before
    it waits for results (the pipeline's sync, its end), or they would wait for the kernel's
    200 ms cork limit. A connection that is not TCP (a Unix socket) or a system without the option
    is left as it is. The socket object only borrows libpq's descriptor: it is detached, never
    closed. Once the connection is closed or broken (the server went away mid-save), libpq has
    closed that descriptor and its number may already name another file: nothing is set on it
    then, and the save fails with psycopg's own error, which the retry budget handles.
    """
    sock = socket.socket(fileno=conn.pgconn.socket)
    try:
        tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        option = _TCP_CORK if wanted and tcp else None

        def cork(on: bool) -> None:
            if option is not None and not conn.closed:
                sock.setsockopt(socket.IPPROTO_TCP, option, int(on))

        cork(True)
        try:
            yield cork
        finally:
            cork(False)
    finally:
        sock.detach()


class _TupleCursor:
    """The library's PostgreSQL cursors return dict rows; the shared chain code indexes by column."""

    def __init__(self, cursor: Cursor[DictRow]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._cursor.executemany(sql, rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return None if row is None else tuple(row.values())

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self._cursor.fetchall()]


def _linker(factory: SQLiteFactory | PostgresFactory) -> ChainLinker:
    secret = factory.env.get(AUDIT_CHAIN_KEY)
    if not secret:
        raise ValueError(f"{AUDIT_CHAIN_KEY} is required: the audit chain cannot be written without a key")
    return ChainLinker(ChainKey(secret.encode()))


class _SizeLimitedMapping:
    """Factories whose mapper refuses oversized events (``MAX_EVENT_BYTES`` in the app's env) and,
    given a ``SEALING_MASTER_KEY``, seals personal fields under their subject's data key."""

    env: Any
    _data_keys: DataKeys | None = None

    def mapper(self, transcoder: Transcoder | None = None, mapper_class: Any = None) -> Mapper[Any]:
        base: Mapper[Any] = super().mapper(transcoder, mapper_class)  # type: ignore[misc]
        limit = int(self.env.get(MAX_EVENT_BYTES) or DEFAULT_MAX_EVENT_BYTES)
        master = self.env.get(MASTER_KEY)
        if master and isinstance(base.transcoder, OrjsonTranscoder):
            previous = [key for key in (self.env.get(PREVIOUS_MASTER_KEYS) or "").split(",") if key]
            # The table is reached through the recorder, which the application makes next.
            self._data_keys = DataKeys(KeyTable(self._run_on_recorder, ""), MasterKeys(master, previous))
            base.transcoder.cipher = PersonalDataCipher(self._data_keys)
        return SizeLimitedMapper(base.transcoder, limit, compressor=base.compressor, cipher=base.cipher)

    def _attach_key_table(self, recorder: ChainedRecorder) -> None:
        self._recorder = recorder
        if self._data_keys is not None:
            self._data_keys.table.table = recorder._sql("{data_keys}")

    def _run_on_recorder(self, sql: str, params: Sequence[Any] = (), *, write: bool = False) -> list[Any]:
        return self._recorder._run(sql, params, write=write)


class ChainedSQLiteFactory(_SizeLimitedMapping, SQLiteFactory):
    recorder_class: type[ChainedSQLiteRecorder] = ChainedSQLiteRecorder

    def application_recorder(self) -> ApplicationRecorder:
        recorder = self.recorder_class(self.datastore, _linker(self))
        if self.env_create_table():
            recorder.create_table()
        self._attach_key_table(recorder)
        return recorder


class PingWhenIdle:
    """The pool's pre-ping, sent only for a connection not handed out for ``idle_seconds``.

    Why: the pre-ping is there to drop connections a database restart killed while they sat in
    the pool, and it cost a round trip on every checkout: one per POST, three per PATCH (the
    aggregate's events, its data keys, the insert), each a wait for the server as long as a
    statement's. A connection handed out a moment ago was alive then; if the server went away in
    between, the call fails as one in flight during a restart does: the recorder's calls are
    retried within the budget (``retry_budget``), which also replaces the connection.
    """

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._handed_out: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        last = self._handed_out.get(conn)
        if last is None or now - last > self.idle_seconds:
            ConnectionPool.check_connection(conn)
        self._handed_out[conn] = now


class ChainedPostgresFactory(_SizeLimitedMapping, PostgresFactory):
    recorder_class: type[ChainedPostgresRecorder] = ChainedPostgresRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        if self.datastore.pre_ping:
            pool = self.datastore.pool
            # The library passes ``check=ConnectionPool.check_connection``; psycopg_pool keeps it here.
            assert pool._check is ConnectionPool.check_connection, "psycopg_pool moved its check callback"
            pool._check = PingWhenIdle(PING_AFTER_IDLE_SECONDS)

    def application_recorder(self) -> ApplicationRecorder:
        prefix = self.env.name.lower() or "stored"
        recorder = self.recorder_class(
            self.datastore,
            events_table_name=f"{prefix}_events",
            tracking_table_name=f"{prefix}_tracking",
            linker=_linker(self),
        )
        if self.env_create_table():
            recorder.create_table()
        self._attach_key_table(recorder)
        return recorder
