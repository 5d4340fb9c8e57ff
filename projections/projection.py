"""What a projection is: a named, versioned set of handlers that fill read-model tables.

Handlers work on a batch of events at a time through a :class:`RowCache`, so a batch of 500
events costs a handful of queries instead of one per event, in live catch-up and rebuild alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from domain.image import PropertyImage
from projections.models import ReadModel
from projections.row_writer import row_writer

Row = TypeVar("Row", bound=ReadModel)
Handler = Callable[[Any], None]


class HandlerFailed(Exception):
    """A handler raised on ``events[index]``; the runner keeps what came before and stops there."""

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.index = index


def is_image_event(event: Any) -> bool:
    """An image's events name the image as their originator; a property's name the property."""
    return isinstance(event, PropertyImage.Event)


class Projection:
    """Subclasses name themselves, list their tables, and map event topics to handlers."""

    name: ClassVar[str]
    version: ClassVar[int]
    models: ClassVar[tuple[type[ReadModel], ...]]
    # Inline projections are caught up by every write before it answers (read-your-writes);
    # the others by the workers, and by the views that read them.
    inline: ClassVar[bool] = True
    position: int = 0

    def handlers(self) -> dict[str, Handler]:
        raise NotImplementedError

    @property
    def topics(self) -> list[str]:
        return sorted(self.handlers())

    def start_batch(self, events: Sequence[Any], generation: int) -> None:
        """Load what the batch's handlers will touch (one query per table, not per event)."""

    def finish_batch(self) -> None:
        """Write what the batch's handlers changed: the only place a projection writes."""

    def apply(self, events: Sequence[tuple[int, Any]], generation: int) -> None:
        """Apply ``(position, event)`` pairs; ``self.position`` is the current event's position."""
        self.prepare(events, generation)
        self.finish_batch()

    def prepare(self, events: Sequence[tuple[int, Any]], generation: int) -> None:
        """Load the batch's rows and run its handlers, which change them in memory; nothing is written
        until ``finish_batch``. A rebuild runs this before its write transaction opens: on SQLite a
        transaction holds the one write lock from ``BEGIN``, and the handlers' Python work is most of
        a batch (docs/adr/0042)."""
        handlers = self.handlers()
        self.start_batch([event for _, event in events], generation)
        for index, (position, event) in enumerate(events):
            self.position = position
            try:
                handlers[type(event).TOPIC](event)
            except Exception as error:
                raise HandlerFailed(index, error) from error


class RowCache(Generic[Row]):
    """The rows a batch touches, by key: loaded in one query, written in three (delete, create, update).

    A row may be added, changed and deleted within one batch; only its final state is written.
    """

    def __init__(self, model: type[Row], key_field: str, generation: int, keys: Iterable[Any]) -> None:
        self.model = model
        self.key_field = key_field
        self.generation = generation
        self.writer = row_writer(model)
        self.rows: dict[Any, Row] = {}
        wanted = set(keys)
        if wanted:  # a batch that only creates rows loads nothing
            # No ORDER BY: on SQLite the default ordering made the planner pick the ordering index
            # and scan the whole generation instead of using the (generation, key) unique index.
            for row in self.writer.select(key_field, generation, wanted):
                self.rows[getattr(row, key_field)] = row
        self.new: dict[Any, Row] = {}
        self.changed: set[Any] = set()
        self.deleted: set[Any] = set()

    def get(self, key: Any) -> Row:
        return self.rows[key]

    def find(self, key: Any) -> Row | None:
        return self.rows.get(key)

    def add(self, key: Any, **fields: Any) -> Row:
        row = self.writer.new_row(generation=self.generation, **{self.key_field: key}, **fields)
        self.rows[key] = self.new[key] = row
        return row

    def update(self, key: Any, **fields: Any) -> Row:
        row = self.rows[key]
        row.__dict__.update(fields)  # plain columns: what setattr would do, in one call
        if key not in self.new:
            self.changed.add(key)
        return row

    def delete(self, key: Any) -> None:
        """Forget the row; one that this batch added is simply never written."""
        del self.rows[key]
        self.changed.discard(key)
        if self.new.pop(key, None) is None:
            self.deleted.add(key)

    def save(self) -> None:
        if self.deleted:
            lookup = {f"{self.key_field}__in": self.deleted, "generation": self.generation}
            self.model._default_manager.filter(**lookup).delete()
        self.writer.insert(self.new.values())
        self.writer.update(self.rows[key] for key in self.changed)
