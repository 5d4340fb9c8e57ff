"""Writing a batch's read-model rows with one ``executemany`` per statement.

Django's ``bulk_create`` and ``bulk_update`` compile every value of every row through the field API
(``bulk_update`` into one ``CASE WHEN`` per column); in a rebuild that was more than half of the
time (docs/adr/0015). Here each column's conversion to its database value is chosen once per model
and connection, and columns that need none (text, integers, booleans) are passed on as they are.
The batch's rows are loaded through a precomposed SELECT too, and made without the ORM's
``raw()`` (ADR 0034): every write that changes a row loads it, and composing the ORM query, then
its row-by-row machinery, cost more than running it. New rows are made by
:meth:`RowWriter.new_row` without ``Model.__init__``, which cost more per row than the handler
that asked for it (a rebuild makes one row per property, photo and timeline entry).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Field
from django.db.models.base import ModelState

from projections.models import ReadModel

# Columns whose Python value is already what the database driver takes.
_AS_IS = frozenset(
    {
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "TextField",
    }
)
COPY_MIN_ROWS = 100  # PostgreSQL: fewer new rows than this are INSERTed, more are COPied
_JSON_CONTAINERS = (list, dict)  # what a JSON column holds here: adapted without the field's checks
Adapter = Callable[[Any], Any] | None
Row = TypeVar("Row", bound=ReadModel)
Statements = list[tuple[str, list[Any]]]
# Where the rows' INSERTs and UPDATEs go instead of the database while ``holding`` is in effect.
_held: ContextVar[Statements | None] = ContextVar("held_row_writes", default=None)


@contextmanager
def holding(statements: Statements | None) -> Iterator[None]:
    """Inside, rows written by INSERT or UPDATE are appended to ``statements`` as (SQL, parameters),
    one per row and in order, instead of being sent; with ``None``, they are sent as usual.

    Why: the caller sends them in a query of its own with the statement that follows them (a
    write's read-model rows go with its ``COMMIT``, ADR 0034), one round trip instead of two.
    Only the caller's own transaction may be written this way: what it holds is written when it
    sends them, so it must not hold rows across a savepoint it might roll back.
    """
    token = _held.set(statements)
    try:
        yield
    finally:
        _held.reset(token)


class UnknownColumn(TypeError):
    """A handler named a column its read model does not have (``Model(**fields)`` raises the same)."""


class RowWriter(Generic[Row]):
    """SELECT, INSERT and UPDATE statements for one read model, with each column's conversion."""

    def __init__(self, model: type[Row]) -> None:
        meta = model._meta
        quote = connection.ops.quote_name
        fields: list[Field[Any, Any]] = [f for f in meta.concrete_fields if not f.primary_key]
        self.attnames = [f.attname for f in fields]
        # Every read model has a generation and a key column at least, so this returns a tuple.
        self.columns_of = itemgetter(*self.attnames)
        self.adapted = [(index, adapt) for index, adapt in enumerate(map(_adapter, fields)) if adapt]
        key = meta.pk
        if key is None or key.column is None:
            raise ImproperlyConfigured(f"{model.__name__} has no primary key column to update rows by")
        self.pk = key.attname
        # What Model.__init__ gives a field nobody named: its default, made afresh when callable.
        self.defaults = {key.attname: None}
        self.default_makers: list[tuple[str, Callable[[], Any]]] = []
        for f in fields:
            if f.has_default() and callable(f.default):
                self.default_makers.append((f.attname, f.default))
            else:
                self.defaults[f.attname] = f.get_default()
        self.known = frozenset([key.attname, *self.attnames])
        columns = [quote(f.column or f.attname) for f in fields]
        table = quote(meta.db_table)
        # Names from the model's own metadata, quoted by the backend; values always go as parameters.
        placeholders = ", ".join(["%s"] * len(columns))
        self.insert_sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        postgres = connection.vendor == "postgresql"
        self.copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN" if postgres else None
        pk_column = quote(key.column)
        assignments = ", ".join(f"{column} = %s" for column in columns)
        self.update_sql = f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608
        self.model = model
        self.keys = {f.attname: (f, quote(f.column or f.attname)) for f in fields}
        every_column = ", ".join([pk_column, *columns])
        self.select_sql = f"SELECT {every_column} FROM {table} WHERE {quote('generation')} = %s"  # noqa: S608
        self.loaded_names = [key.attname, *self.attnames]
        # What the ORM's compiler applies to each column it reads (the backend's, then the field's).
        self.converters = []
        for index, loaded in enumerate([key, *fields]):
            column = loaded.get_col(meta.db_table)
            found = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
            if found:
                self.converters.append((index, found, column))

    def select(self, key_field: str, generation: int, keys: Collection[Any]) -> list[Row]:
        """The generation's rows with these keys, as the ORM's ``raw()`` makes them (its conversions,
        ``Model.from_db``'s state) without composing a query or the ORM's per-row work, which together
        cost more than running the query on every write's load. Read on the connection the rows are
        written through (in a write, inside its read-model transaction)."""
        field, column = self.keys[key_field]
        sql = f"{self.select_sql} AND {column} IN ({', '.join(['%s'] * len(keys))})"
        params = [generation, *(field.get_db_prep_value(key, connection) for key in keys)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [self._loaded(values) for values in cursor.fetchall()]

    def _loaded(self, values: Sequence[Any]) -> Row:
        converted = list(values)
        for index, converters, column in self.converters:
            value = converted[index]
            for convert in converters:
                value = convert(value, column, connection)
            converted[index] = value
        row = self.model.__new__(self.model)
        state = ModelState()
        state.adding, state.db = False, connection.alias
        row.__dict__["_state"] = state
        row.__dict__.update(zip(self.loaded_names, converted, strict=True))
        return row

    def new_row(self, **fields: Any) -> Row:
        """An unsaved row as ``Model(**fields)`` makes it (the model has no relations or init signals),
        for a fraction of the cost: its state is filled in one dict update."""
        if not fields.keys() <= self.known:
            raise UnknownColumn(f"{self.model.__name__} has no column {sorted(fields.keys() - self.known)}")
        row = self.model.__new__(self.model)
        state = row.__dict__
        state["_state"] = ModelState()
        state.update(self.defaults)
        for name, make in self.default_makers:
            state[name] = make()
        state.update(fields)
        return row

    def values(self, row: ReadModel) -> list[Any]:
        values = list(self.columns_of(row.__dict__))
        for index, adapt in self.adapted:
            values[index] = adapt(values[index])
        return values

    def insert(self, rows: Iterable[ReadModel]) -> None:
        """New rows with one ``executemany`` INSERT; on PostgreSQL, a rebuild's batch of many rows
        with one ``COPY`` instead, which costs a fraction of it in the client and the server.

        A write's few rows keep the INSERT: one round trip where COPY takes two, and a statement
        Django's cursor wrappers see (COPY goes around them)."""
        params = [self.values(row) for row in rows]
        if not params:
            return
        if (held := _held.get()) is not None:
            held.extend((self.insert_sql, values) for values in params)
            return
        with connection.cursor() as cursor:
            if self.copy_sql is None or len(params) < COPY_MIN_ROWS:
                cursor.executemany(self.insert_sql, params)
                return
            with connection.wrap_database_errors, cursor.cursor.copy(self.copy_sql) as copy:
                for values in params:
                    copy.write_row(values)

    def update(self, rows: Iterable[ReadModel]) -> None:
        """Every column of rows loaded from the database, by primary key."""
        params = [[*self.values(row), row.__dict__[self.pk]] for row in rows]
        if (held := _held.get()) is not None:
            held.extend((self.update_sql, values) for values in params)
        elif params:
            with connection.cursor() as cursor:
                cursor.executemany(self.update_sql, params)


def _adapter(field: Field[Any, Any]) -> Adapter:
    """The column's conversion; the two that every row has (ids, times) take a short way when they can."""
    kind = field.get_internal_type()
    if kind in _AS_IS:
        return None

    def generic(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    if kind == "DecimalField":
        # What the field's own conversion does with a finite Decimal: nothing (the driver formats it).
        return lambda value: value if type(value) is Decimal and value.is_finite() else generic(value)
    if kind == "JSONField":
        adapt_json, encoder = connection.ops.adapt_json_value, field.encoder  # type: ignore[attr-defined]
        return lambda value: adapt_json(value, encoder) if type(value) in _JSON_CONTAINERS else generic(value)
    if kind == "UUIDField":
        if connection.features.has_native_uuid_field:
            return lambda value: value if type(value) is UUID else generic(value)
        return lambda value: value.hex if type(value) is UUID else generic(value)
    if kind == "DateTimeField" and connection.vendor == "sqlite":
        # What the SQLite backend does with an aware time: naive in the connection's zone, as text.
        zone = connection.timezone
        return lambda value: (
            str(value.astimezone(zone).replace(tzinfo=None))
            if type(value) is datetime and value.tzinfo is not None
            else generic(value)
        )
    if kind == "DateTimeField" and connection.vendor == "postgresql":
        return lambda value: value if type(value) is datetime and value.tzinfo is not None else generic(value)
    return generic


_writers: dict[tuple[str, type[ReadModel]], RowWriter[Any]] = {}


def row_writer(model: type[Row]) -> RowWriter[Row]:
    """One writer per model and database vendor (the SQL and conversions differ between them)."""
    key = (connection.vendor, model)
    if key not in _writers:
        _writers[key] = RowWriter(model)
    return _writers[key]
