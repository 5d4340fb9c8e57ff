"""The rows a projection makes without ``Model.__init__`` are the ones the constructor makes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from projections.models import GalleryImage, PropertyListing, ReadModel
from projections.registry import all_projections
from projections.row_writer import COPY_MIN_ROWS, Statements, UnknownColumn, holding, row_writer


@pytest.mark.parametrize(
    "model", [model for projection in all_projections() for model in projection.models], ids=str
)
def test_a_new_row_holds_what_the_constructor_gives_every_column(model: type[ReadModel], db: None) -> None:
    made: ReadModel = row_writer(model).new_row(generation=3)
    built = model(generation=3)
    columns = [field.attname for field in model._meta.concrete_fields]
    assert {column: made.__dict__[column] for column in columns} == {
        column: getattr(built, column) for column in columns
    }
    assert (made._state.adding, made._state.db) == (True, None)


def test_callable_defaults_are_made_afresh_for_each_row(db: None) -> None:
    writer = row_writer(GalleryImage)
    first, second = writer.new_row(), writer.new_row()
    first.variants.append({"width": 480})
    assert second.variants == [], "rows do not share one default list"


def test_a_column_the_model_does_not_have_is_refused(db: None) -> None:
    with pytest.raises(UnknownColumn, match="rent"):
        row_writer(PropertyListing).new_row(rent=Decimal("1.00"))


@pytest.mark.parametrize("count", [1, COPY_MIN_ROWS], ids=["insert", "copy"])
def test_rows_made_and_inserted_read_back_as_they_were_made(count: int, transactional_db: None) -> None:
    """A write's few rows go by INSERT, a rebuild's many by COPY on PostgreSQL: the same values
    come back either way (text that COPY's format escapes, microseconds, decimals, ids)."""
    moment = datetime(2026, 12, 2, 10, 30, 15, 123456, tzinfo=UTC)
    writer = row_writer(PropertyListing)
    rows = [
        writer.new_row(
            generation=7,
            property_id=uuid4(),
            organisation="acme",
            version=n,
            name=f"Harbour View {n}, 2º Esq. \\N \t tab\ttab\nline",
            kind="apartment",
            status="active",
            street="1 Quay St",
            city="Lisbon",
            postal_code="1100-001",
            country="PT",
            rent_amount=None if n % 2 else Decimal("1250.50"),
            rent_currency="" if n % 2 else "EUR",
            created_at=moment,
            updated_at=moment,
        )
        for n in range(count)
    ]
    writer.insert(rows)
    columns = [field.attname for field in PropertyListing._meta.concrete_fields if not field.primary_key]
    stored = {
        listing.property_id: {column: getattr(listing, column) for column in columns}
        for listing in PropertyListing.objects.filter(generation=7)
    }
    assert stored == {row.property_id: {column: row.__dict__[column] for column in columns} for row in rows}


def test_rows_written_while_held_are_kept_in_order_for_the_caller_to_send(transactional_db: None) -> None:
    """Inside ``holding``, INSERTs and UPDATEs become (SQL, parameters) in the caller's list, nothing
    reaches the database until the caller sends them, and outside it rows are written at once."""
    writer = row_writer(PropertyListing)
    moment = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    columns = {"organisation": "acme", "version": 1, "kind": "house", "status": "active", "country": "PT"}
    row = writer.new_row(
        generation=9, property_id=uuid4(), name="Held", created_at=moment, updated_at=moment, **columns
    )
    held: Statements = []
    with holding(held):
        writer.insert([row])
    assert not PropertyListing.objects.filter(generation=9).exists()
    with holding(None):
        writer.insert([row])
    stored = PropertyListing.objects.get(generation=9)
    stored.name = "Renamed"
    with holding(held):
        writer.update([stored])
    assert [sql.split()[0] for sql, _ in held] == ["INSERT", "UPDATE"]
    assert held[1][1][-1] == stored.pk, "an UPDATE's last parameter is the row's key"
    assert PropertyListing.objects.get(generation=9).name == "Held"


def test_rows_loaded_by_the_writer_are_the_orm_s_rows(transactional_db: None) -> None:
    """``select`` makes what ``Model.objects`` reads: every column converted as the ORM converts it
    (ids, decimals, times, JSON, booleans), and the state of a row loaded from the database."""
    moment = datetime(2026, 12, 2, 10, 30, 15, 123456, tzinfo=UTC)
    listing = row_writer(PropertyListing)
    images = row_writer(GalleryImage)
    listing.insert(
        [
            listing.new_row(
                generation=5,
                property_id=uuid4(),
                organisation="acme",
                version=2,
                name="Harbour View",
                kind="house",
                status="active",
                street="1 Quay St",
                city="Lisbon",
                postal_code="1100-001",
                country="PT",
                rent_amount=Decimal("1250.50"),
                rent_currency="EUR",
                created_at=moment,
                updated_at=moment,
            )
        ]
    )
    images.insert(
        [
            images.new_row(
                generation=5,
                image_id=uuid4(),
                property_id=uuid4(),
                organisation="acme",
                status="ready",
                filename="a.jpg",
                format="JPEG",
                width=4,
                height=3,
                original_bytes=12,
                variants=[{"width": 480, "key": "a-480.webp"}],
                is_cover=True,
                created_at=moment,
                updated_at=moment,
            )
        ]
    )
    for model, writer, key in ((PropertyListing, listing, "property_id"), (GalleryImage, images, "image_id")):
        [stored] = model.objects.filter(generation=5)
        [loaded] = writer.select(key, 5, [getattr(stored, key)])
        columns = [field.attname for field in model._meta.concrete_fields]
        assert {c: getattr(loaded, c) for c in columns} == {c: getattr(stored, c) for c in columns}
        assert {c: type(getattr(loaded, c)) for c in columns} == {
            c: type(getattr(stored, c)) for c in columns
        }
        assert (loaded._state.adding, loaded._state.db) == (False, "default")
