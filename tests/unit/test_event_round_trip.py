"""Every event type survives the trip to stored bytes and back, and into the NDJSON export, unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from api.event_json import event_json, json_safe, stored_json_safe
from domain.audit import AuditContext, Role, acting_as
from domain.image import ImageStatus
from domain.iso_codes import COUNTRY_CODES, CURRENCY_CODES
from domain.property import Property
from domain.values import Address, PropertyKind, PropertyStatus, Rent
from infrastructure.audit_chain import ChainLink
from infrastructure.event_store import AuditEntry
from infrastructure.mapper import SizeLimitedMapper
from infrastructure.transcoder import OrjsonTranscoder

mapper = SizeLimitedMapper(OrjsonTranscoder(), max_event_bytes=1 << 20)

# Any unicode a person could type (domain text refuses control and invisible format characters);
# audit fields take anything.
printable = st.characters(exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp"))
text = st.text(printable, min_size=1, max_size=200).map(str.strip).filter(bool)
free_text = st.text(printable, max_size=300)
anything = st.text(max_size=300)
addresses = st.builds(
    Address, street=text, city=text, postal_code=text, country=st.sampled_from(sorted(COUNTRY_CODES))
)
rents = st.none() | st.builds(
    Rent,
    amount=st.integers(min_value=0, max_value=99_999_999_999).map(lambda cents: Decimal(cents).scaleb(-2)),
    currency=st.sampled_from(sorted(CURRENCY_CODES)),
)
contexts = st.builds(
    AuditContext,
    actor_id=anything,
    username=anything,
    role=st.sampled_from(list(Role)),
    organisation=text,
    request_id=anything,
    causation_id=anything,
    client_ip=anything,
    user_agent=anything,
)


@settings(max_examples=60, deadline=None)
@given(
    context=contexts,
    names=st.tuples(text, text),
    kind=st.sampled_from(list(PropertyKind)),
    addresses=st.tuples(addresses, addresses),
    rents=st.tuples(rents, rents),
    reason=free_text,
)
def test_every_event_type_round_trips_through_the_stored_form(
    context: AuditContext,
    names: tuple[str, str],
    kind: PropertyKind,
    addresses: tuple[Address, Address],
    rents: tuple[Rent | None, Rent | None],
    reason: str,
) -> None:
    with acting_as(context):
        prop = Property.register(context.organisation, names[0], kind, addresses[0], rents[0])
        if names[1] != prop.name:
            prop.rename(names[1])
        if addresses[1] != prop.address:
            prop.correct_address(addresses[1])
        if rents[1] != prop.rent:
            prop.change_rent(rents[1])
        prop.archive(reason)
    events: list[Any] = list(prop.collect_events())
    assert isinstance(mapper.transcoder, OrjsonTranscoder)
    for position, event in enumerate(events, start=1):
        stored = mapper.to_stored_event(event)
        assert isinstance(orjson.loads(stored.state), dict)
        assert mapper.to_domain_event(stored) == event
        line = (
            orjson.dumps(event_json(AuditEntry(link_for(position, stored), stored), mapper.transcoder))
            + b"\n"
        )
        exported = orjson.loads(line)
        assert (exported["type"], exported["version"]) == (type(event).__name__, position)
        assert exported["metadata"]["username"] == context.username


def link_for(position: int, stored: StoredEvent) -> ChainLink:
    return ChainLink(
        position,
        position,
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        datetime.now(UTC),
        "",
        "0" * 64,
    )


transcoder = OrjsonTranscoder()
stored_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what JSON numbers orjson stores
    | st.floats(allow_nan=False, allow_infinity=False)
    | anything
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-3, minutes=-30))]))
    | st.dates()
    | st.sampled_from([*Role, *PropertyKind, *PropertyStatus, *ImageStatus])
    | addresses
    | rents
    | contexts,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text("abc", max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=stored_values)
def test_the_export_presents_stored_json_exactly_as_decoding_it_would(value: Any) -> None:
    """The export skips decoding into objects (docs/adr/0015); its bytes must not change for it."""
    stored = transcoder.encode({"value": value})
    direct = stored_json_safe(orjson.loads(stored))
    assert orjson.dumps(direct) == orjson.dumps(json_safe(transcoder.decode(stored)))
