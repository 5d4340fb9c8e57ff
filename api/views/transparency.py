"""The event log as a transparency log, for auditors: public key, checkpoints, proofs.

With the public key and these answers an auditor checks, on their own machine, that an event is
in the tree a signed checkpoint names and that a later checkpoint extends one they kept; no
secret of ours is needed. Proofs are RFC 9162's, hashes base64 as in the checkpoint note.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from api.context import AuditedView
from api.log_serializers import (
    CheckpointSerializer,
    ConsistencyProofSerializer,
    ConsistencyQuerySerializer,
    InclusionProofSerializer,
    ProofQuerySerializer,
    PublicKeySerializer,
    b64,
)
from api.permissions import ReadsAuditTrail
from api.query import names_of, query_values
from api.schema import errors
from infrastructure.composition import transparency_log
from infrastructure.transparency_log import NoSigningKey, OutOfRange, TransparencyLog


def _default_size(log: TransparencyLog) -> int:
    latest = log.latest_checkpoint()
    return latest.size if latest is not None else log.size()


def _out_of_range(field: str, error: OutOfRange) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [str(error)]})


class AuditPublicKeyView(AuditedView):
    """The key that signs checkpoints, as a C2SP vkey (what `tools/cosmo_verify.py --key` takes), and
    the keys it replaced: a rotation's handover checkpoint, signed by both, links each to the next."""

    permission_classes = [ReadsAuditTrail]

    @extend_schema(
        operation_id="audit_public_key",
        summary="The checkpoint signing key",
        description="The Ed25519 public key that signs checkpoints, as a C2SP verifier key, and "
        "`previous_keys`, the keys that signed earlier checkpoints before a rotation. 404 "
        "`no_signing_key` when the server has none configured.",
        responses={200: PublicKeySerializer, **errors(404)},
    )
    def get(self, request: Request) -> Response:
        log = transparency_log()
        try:
            verifier = log.verifier
        except NoSigningKey as error:
            raise exceptions.NotFound(str(error), code="no_signing_key") from None
        previous = [key.vkey for key in log.previous_keys]
        return Response(
            {"key": verifier.vkey, "origin": log.origin, "algorithm": "ed25519", "previous_keys": previous}
        )


class AuditCheckpointView(AuditedView):
    """The latest signed checkpoint: tree size, root hash, time, and the signed note itself."""

    permission_classes = [ReadsAuditTrail]

    @extend_schema(
        operation_id="audit_latest_checkpoint",
        summary="The latest signed checkpoint",
        description="Size, base64 root hash and time of the latest checkpoint, with `note`, the C2SP "
        "signed note as signed. 404 `no_checkpoint` before the first one.",
        responses={200: CheckpointSerializer, **errors(404)},
    )
    def get(self, request: Request) -> Response:
        latest = transparency_log().latest_checkpoint()
        if latest is None:
            raise exceptions.NotFound("no checkpoint has been made yet", code="no_checkpoint")
        return Response(CheckpointSerializer(latest).data)


class AuditInclusionProofView(AuditedView):
    """RFC 9162 inclusion proof of the event at ``position`` in the tree of ``size`` events."""

    permission_classes = [ReadsAuditTrail]
    query_parameters = {"GET": names_of(ProofQuerySerializer)}

    @extend_schema(
        operation_id="audit_inclusion_proof",
        summary="Inclusion proof of one event",
        description="The RFC 9162 audit path of the event's leaf (index `position - 1`) in the tree of "
        "`size` events (default: the latest checkpoint's size, or the current tree's before the "
        "first checkpoint). 400 when the position or size is beyond the tree.",
        parameters=[
            ProofQuerySerializer,
            OpenApiParameter("position", int, OpenApiParameter.PATH, description="the event's position"),
        ],
        responses={200: InclusionProofSerializer, **errors(400)},
    )
    def get(self, request: Request, position: int) -> Response:
        query = ProofQuerySerializer(data=query_values(request))
        query.is_valid(raise_exception=True)
        log = transparency_log()
        size = query.validated_data.get("size") or _default_size(log)
        if not 1 <= position <= size:
            raise exceptions.ValidationError({"position": [f"not in a tree of {size} events"]})
        try:
            hashes = log.inclusion_proof(position - 1, size)
            leaf = log.leaf_hash(position - 1)
            payload = log.payload_hash(position)
        except OutOfRange as error:
            raise _out_of_range("size", error) from None
        return Response(
            {
                "position": position,
                "leaf_index": position - 1,
                "tree_size": size,
                "leaf_hash": b64(leaf),
                "payload_sha256": payload,
                "hashes": [b64(digest) for digest in hashes],
            }
        )


class AuditConsistencyProofView(AuditedView):
    """RFC 9162 consistency proof: the tree of ``to`` events extends the tree of ``from``."""

    permission_classes = [ReadsAuditTrail]
    query_parameters = {"GET": names_of(ConsistencyQuerySerializer)}

    @extend_schema(
        operation_id="audit_consistency_proof",
        summary="Consistency proof between two tree sizes",
        description="The RFC 9162 consistency proof from the tree of `from` events to the tree of `to` "
        "(default: the latest checkpoint's size). 400 when `from` > `to` or `to` is beyond the tree.",
        parameters=[ConsistencyQuerySerializer],
        responses={200: ConsistencyProofSerializer, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = ConsistencyQuerySerializer(data=query_values(request))
        query.is_valid(raise_exception=True)
        log = transparency_log()
        old = query.validated_data["from"]
        new = query.validated_data.get("to")
        new = _default_size(log) if new is None else new
        if old > new:
            raise exceptions.ValidationError({"from": [f"must not exceed to ({new})"]})
        try:
            hashes = log.consistency_proof(old, new)
        except OutOfRange as error:
            raise _out_of_range("to", error) from None
        return Response({"from_size": old, "to_size": new, "hashes": [b64(digest) for digest in hashes]})
