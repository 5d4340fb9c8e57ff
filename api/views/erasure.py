"""``POST /api/subjects/{username}/erasure``: the admin's way to ``manage.py erase-subject``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView, audit_context_for
from api.erasure import SubjectNotFound, erase_subject
from api.permissions import ErasesDataSubjects
from api.schema import errors
from api.serializers import StrictSerializer, TextField

MAX_GROUND_LENGTH = 500


class ErasureSerializer(StrictSerializer):
    ground = TextField(
        max_length=MAX_GROUND_LENGTH,
        help_text="why, as recorded in the SubjectErased event (e.g. 'GDPR art. 17 request #123'); "
        "never the person's data",
    )


class SubjectErasureView(AuditedView):
    permission_classes = [ErasesDataSubjects]

    @extend_schema(
        operation_id="erase_subject",
        summary="Erase a data subject (crypto-shredding)",
        description="Destroys the person's data key: their username, client addresses and user agents "
        "in every event read `[erased]` from then on, in every read, history, export and read model. "
        "Records `SubjectErased` (their pseudonymous id, the ground, who asked), deactivates the "
        "account and replaces its username. No event is deleted or rewritten, so the audit log and "
        "its proofs still verify. Admins only; a subject is erased once (409 after that).",
        request=ErasureSerializer,
        responses={
            200: inline_serializer(
                "Erasure",
                {
                    "subject_id": serializers.CharField(help_text="the account's pseudonymous id"),
                    "position": serializers.IntegerField(help_text="where SubjectErased was recorded"),
                    "keys_destroyed": serializers.IntegerField(),
                    "unshreddable_events": serializers.IntegerField(
                        help_text="events recorded before encryption, holding the data in clear (ADR 0016)"
                    ),
                },
            ),
            **errors(404, 409),
        },
    )
    def post(self, request: Request, username: str) -> Response:
        body = ErasureSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            report = erase_subject(username, body.validated_data["ground"], audit_context_for(request))
        except SubjectNotFound as error:
            raise NotFound(str(error)) from None
        return Response(
            {
                "subject_id": report.subject_id,
                "position": report.position,
                "keys_destroyed": report.keys_destroyed,
                "unshreddable_events": report.unshreddable_events,
            }
        )
