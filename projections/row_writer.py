"""Writing a batch's read-model rows with one ``executemany`` per statement.

Django's ``bulk_create`` and ``bulk_update`` compile every value of every row through the field API
(``bulk_update`` into one ``CASE WHEN`` per column); in a rebuild that was more than half of the
time (docs/adr/0015). Here each column's conversion to its database value is chosen once per model
and connection, and columns that need none (text, integers, booleans) are passed on as they are.
The batch's rows are loaded through a precomposed SELECT too: every write that changes a row
loads it, and composing the ORM query cost more than running it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Field
from django.db.models.query import RawQuerySet

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
Adapter = Callable[[Any], Any] | None


class RowWriter:
    """SELECT, INSERT and UPDATE statements for one read model, with each column's conversion."""

    def __init__(self, model: type[ReadModel]) -> None:
        meta = model._meta
        quote = connection.ops.quote_name
        fields: list[Field[Any, Any]] = [f for f in meta.concrete_fields if not f.primary_key]
        self.attnames = [f.attname for f in fields]
        self.adapters = [_adapter(f) for f in fields]
        key = meta.pk
        if key is None or key.column is None:
            raise ImproperlyConfigured(f"{model.__name__} has no primary key column to update rows by")
        self.pk = key.attname
        columns = [quote(f.column or f.attname) for f in fields]
        table = quote(meta.db_table)
        # Names from the model's own metadata, quoted by the backend; values always go as parameters.
        placeholders = ", ".join(["%s"] * len(columns))
        self.insert_sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        pk_column = quote(key.column)
        assignments = ", ".join(f"{column} = %s" for column in columns)
        self.update_sql = f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608
        self.model = model
        self.keys = {f.attname: (f, quote(f.column or f.attname)) for f in fields}
        every_column = ", ".join([pk_column, *columns])
        self.select_sql = f"SELECT {every_column} FROM {table} WHERE {quote('generation')} = %s"  # noqa: S608

    def select(self, key_field: str, generation: int, keys: Collection[Any]) -> RawQuerySet[Any]:
        """The generation's rows with these keys: the ORM's rows and conversions (``raw()``) without
        composing a query, which cost more than running it on every write's load."""
        field, column = self.keys[key_field]
        sql = f"{self.select_sql} AND {column} IN ({', '.join(['%s'] * len(keys))})"
        params = [generation, *(field.get_db_prep_value(key, connection) for key in keys)]
        return self.model._default_manager.raw(sql, params)

    def values(self, row: ReadModel) -> list[Any]:
        state = row.__dict__
        return [
            state[name] if adapt is None else adapt(state[name])
            for name, adapt in zip(self.attnames, self.adapters, strict=True)
        ]

    def insert(self, rows: Iterable[ReadModel]) -> None:
        params = [self.values(row) for row in rows]
        if params:
            with connection.cursor() as cursor:
                cursor.executemany(self.insert_sql, params)

    def update(self, rows: Iterable[ReadModel]) -> None:
        """Every column of rows loaded from the database, by primary key."""
        params = [[*self.values(row), row.__dict__[self.pk]] for row in rows]
        if params:
            with connection.cursor() as cursor:
                cursor.executemany(self.update_sql, params)


def _adapter(field: Field[Any, Any]) -> Adapter:
    """The column's conversion; the two that every row has (ids, times) take a short way when they can."""
    kind = field.get_internal_type()
    if kind in _AS_IS:
        return None

    def generic(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

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


_writers: dict[tuple[str, type[ReadModel]], RowWriter] = {}


def row_writer(model: type[ReadModel]) -> RowWriter:
    """One writer per model and database vendor (the SQL and conversions differ between them)."""
    key = (connection.vendor, model)
    if key not in _writers:
        _writers[key] = RowWriter(model)
    return _writers[key]
