"""The audit trail for auditors: the global stream page by page, its NDJSON export, its verification."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.audit_serializers import (
    AuditFilterSerializer,
    AuditPageOutSerializer,
    AuditPageSerializer,
    VerificationSerializer,
)
from api.audit_stream import ndjson_chunks, read_page
from api.context import AuditedView
from api.permissions import ReadsAuditTrail
from api.query import names_of, query_values
from infrastructure import audit_trail
from infrastructure.composition import audit_key, property_service, transparency_log

NDJSON = "application/x-ndjson"


class AuditEventsView(AuditedView):
    """The global stream, a page at a time, in commit order with gap-free positions.

    Pass the answer's ``next_after`` as ``after`` for the next page: no event is missed or
    repeated, however many are recorded between two pages.
    """

    permission_classes = [ReadsAuditTrail]
    query_parameters = {"GET": names_of(AuditPageSerializer)}

    @extend_schema(
        operation_id="list_audit_events",
        summary="The audit stream, a page at a time",
        description="Every recorded event in commit order with gap-free positions. Pass the answer's "
        "`next_after` as `after` for the next page: no event is missed or repeated.",
        parameters=[AuditPageSerializer],
        responses=AuditPageOutSerializer,
    )
    def get(self, request: Request) -> Response:
        query = AuditPageSerializer(data=query_values(request))
        query.is_valid(raise_exception=True)
        after = query.validated_data["after"]
        service = property_service()
        entries = read_page(service, after, query.validated_data["limit"], query.audit_filter())
        return Response(AuditPageOutSerializer(entries, context={"service": service, "after": after}).data)


class AuditExportView(AuditedView):
    """The matching events up to the current head as NDJSON, one event per line, in order."""

    permission_classes = [ReadsAuditTrail]
    query_parameters = {"GET": names_of(AuditFilterSerializer)}

    @extend_schema(
        operation_id="export_audit_events",
        summary="Export the audit stream",
        description="The matching events up to the current head as NDJSON, one event per line, in order.",
        parameters=[AuditFilterSerializer],
        responses={(200, NDJSON): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = AuditFilterSerializer(data=query_values(request))
        query.is_valid(raise_exception=True)
        chunks = ndjson_chunks(property_service(), query.audit_filter())
        return StreamingHttpResponse(chunks, content_type=NDJSON)


class AuditVerifyView(AuditedView):
    """Recomputes the audit chain and the Merkle tree and reports the first position that no longer
    matches (200 either way)."""

    permission_classes = [ReadsAuditTrail]

    @extend_schema(
        operation_id="verify_audit_trail",
        summary="Verify the audit chain",
        description="Recomputes the keyed chain and the Merkle tree over every stored event, checks every "
        "stored checkpoint's signature and root, and reports the first position that no longer matches "
        "(200 either way: `ok` says which).",
        responses=VerificationSerializer,
    )
    def get(self, request: Request) -> Response:
        verifiers = transparency_log().verifiers
        result = audit_trail.verify(property_service().recorder, audit_key(), verifiers=verifiers)
        return Response(VerificationSerializer(result).data)
