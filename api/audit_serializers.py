"""Audit trail queries and answers: the filters shared by the API and ``manage.py audit export``,
and the recorded events as auditors read them (built by ``api.event_json``, shared with the export),
alone, a page at a time, or as a history with what each event changed.

Unknown query parameters are refused rather than ignored: an auditor who misspells a filter must
not receive the whole stream believing it to be filtered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from rest_framework import serializers

from api.event_json import EVENT_TOPICS, event_json, json_safe, store_transcoder
from api.models import User
from api.serializers import MAX_POSITION, AsciiIntegerField, StrictSerializer
from infrastructure.audit_chain import Verification
from infrastructure.event_store import AuditEntry, AuditFilter

MAX_PAGE = 1000
DEFAULT_PAGE = 100
_UNKNOWN_TYPE = f"unknown event type {{input!r}}: expected one of {', '.join(sorted(EVENT_TOPICS))}"


class AuditFilterSerializer(StrictSerializer):
    aggregate_id = serializers.UUIDField(required=False, help_text="only this aggregate's events")
    type = serializers.ChoiceField(
        choices=sorted(EVENT_TOPICS),
        required=False,
        help_text="event type, e.g. PropertyRenamed",
        error_messages={"invalid_choice": _UNKNOWN_TYPE},
    )
    actor = serializers.CharField(required=False, max_length=150, help_text="username of who made it")
    since = serializers.DateTimeField(required=False, help_text="recorded at or after (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="recorded before (ISO 8601)")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "until" in attrs and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": ["must be later than since"]})
        return attrs

    def audit_filter(self) -> AuditFilter:
        values = self.validated_data
        return AuditFilter(
            originator_id=values.get("aggregate_id"),
            topics=(EVENT_TOPICS[values["type"]],) if "type" in values else (),
            actors=actor_aliases(values["actor"]) if "actor" in values else (),
            since=values.get("since"),
            until=values.get("until"),
        )


class AuditPageSerializer(AuditFilterSerializer):
    after = AsciiIntegerField(
        min_value=0, max_value=MAX_POSITION, default=0, help_text="the last position already read"
    )
    limit = AsciiIntegerField(min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE)


class ActorSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    username = serializers.CharField()
    role = serializers.CharField()


class AuditMetadataSerializer(serializers.Serializer[Any]):
    actor_id = serializers.CharField()
    username = serializers.CharField()
    role = serializers.CharField()
    organisation = serializers.CharField()
    request_id = serializers.CharField()
    causation_id = serializers.CharField()
    client_ip = serializers.CharField()
    user_agent = serializers.CharField()


class AuditEventSerializer(serializers.Serializer[Any]):
    """One recorded event: its place in the chain, what happened to which aggregate, and who did it.

    (Documents the shape that ``api.event_json.event_json`` builds.)
    """

    position = serializers.IntegerField(help_text="gap-free position in the audit chain")
    aggregate_id = serializers.UUIDField()
    aggregate_type = serializers.CharField()
    version = serializers.IntegerField()
    type = serializers.CharField()
    timestamp = serializers.DateTimeField()
    actor = ActorSerializer()
    # DRF takes declared fields off the class, so this does not shadow ``Serializer.data``.
    data = serializers.DictField(help_text="the event's own fields")  # type: ignore[assignment]
    metadata = AuditMetadataSerializer()

    def to_representation(self, instance: AuditEntry) -> dict[str, Any]:
        return event_json(instance, store_transcoder(self.context["service"]))


class AuditPageOutSerializer(serializers.Serializer[Any]):
    events = AuditEventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="pass as after= for the next page")

    def to_representation(self, instance: Sequence[AuditEntry]) -> dict[str, Any]:
        """The events read after ``context["after"]``; an empty page leaves the reader there."""
        transcoder = store_transcoder(self.context["service"])
        return {
            "events": [event_json(entry, transcoder) for entry in instance],
            "next_after": instance[-1].link.position if instance else self.context["after"],
        }


class ChangeSerializer(serializers.Serializer[Any]):
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class HistoryEventSerializer(AuditEventSerializer):
    """A recorded event, plus the fields of the aggregate it changed (all of them at creation)."""

    changes = serializers.DictField(child=ChangeSerializer(), help_text="field: {before, after}")


class HistorySerializer(serializers.Serializer[Any]):
    events = HistoryEventSerializer(many=True)

    def to_representation(self, instance: Iterable[AuditEntry]) -> dict[str, Any]:
        """The state is replayed once through the aggregates' own event handlers, so a diff shows
        exactly what the event did to the aggregate without a second copy of the domain's rules
        here. State is kept per aggregate id, so other aggregates' events (a property's images)
        can join a history."""
        service = self.context["service"]
        transcoder = store_transcoder(service)
        aggregates: dict[UUID | str, Any] = {}
        events = []
        for entry in instance:
            aggregate_id = entry.event.originator_id
            before = public_state(aggregates.get(aggregate_id))
            aggregate = project_aggregate(
                aggregates.get(aggregate_id), [service.mapper.to_domain_event(entry.event)]
            )
            aggregates[aggregate_id] = aggregate
            change = changes(before, public_state(aggregate))
            events.append({**event_json(entry, transcoder), "changes": change})
        return {"events": events}


def public_state(aggregate: Any) -> dict[str, Any] | None:
    """An aggregate's own attributes (not the library's ``_id``, ``_version``…), JSON-safe."""
    if aggregate is None:
        return None
    return {name: json_safe(value) for name, value in vars(aggregate).items() if not name.startswith("_")}


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{field: {before, after}}`` for each field that differs; all fields when ``before`` is None."""
    old = before or {}
    return {
        name: {"before": old.get(name), "after": value}
        for name, value in (after or {}).items()
        if before is None or old.get(name) != value
    }


class HeadSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField()
    digest = serializers.CharField()


class ProblemSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField()
    kind = serializers.CharField()
    detail = serializers.CharField()


class TreeSerializer(serializers.Serializer[Any]):
    size = serializers.IntegerField(help_text="events in the Merkle tree rebuilt from the events")
    root = serializers.CharField(help_text="its base64 RFC 9162 root hash")  # type: ignore[assignment]


class VerificationSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head = HeadSerializer()
    seals_checked = serializers.IntegerField()
    tree = TreeSerializer()
    checkpoints_checked = serializers.IntegerField()
    first_problem = ProblemSerializer(allow_null=True)

    def to_representation(self, instance: Verification) -> dict[str, Any]:
        problem = instance.first_problem
        return {
            "ok": instance.ok,
            "checked": instance.checked,
            "head": {"position": instance.head_position, "digest": instance.head_digest},
            "seals_checked": instance.seals_checked,
            "tree": {"size": instance.tree_size, "root": instance.root},
            "checkpoints_checked": instance.checkpoints_checked,
            "first_problem": None
            if problem is None
            else {"position": problem.position, "kind": problem.kind, "detail": problem.detail},
        }


def actor_aliases(username: str) -> tuple[str, ...]:
    """What chain links hold for this username: the account's id (links made before erasure
    existed hold the username itself, and so do system actors without an account)."""
    user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    return (username,) if user_id is None else (str(user_id), username)
