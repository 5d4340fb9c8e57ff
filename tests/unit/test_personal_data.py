"""Every field of every event is classified as personal or not, in domain/personal_data.py."""

from __future__ import annotations

import dataclasses
import inspect

from domain.catalog import AGGREGATES, event_classes
from domain.personal_data import NOT_PERSONAL_EVENT_FIELDS, PERSONAL_RECORDS


def test_every_field_of_every_event_type_is_classified() -> None:
    for aggregate in AGGREGATES:
        for event_class in event_classes(aggregate):
            names = set(inspect.signature(event_class.__init__).parameters) - {"self"}
            unclassified = names - NOT_PERSONAL_EVENT_FIELDS
            assert not unclassified, f"{event_class.__qualname__}: classify {sorted(unclassified)}"


def test_every_field_of_a_personal_record_is_either_personal_or_in_clear() -> None:
    for record_type, layout in PERSONAL_RECORDS.items():
        personal = {field.name for field in layout.personal}
        assert not personal & layout.in_clear
        assert personal | layout.in_clear == {f.name for f in dataclasses.fields(record_type)}
        assert layout.subject_field in layout.in_clear
