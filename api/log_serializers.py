"""Queries and answers of the transparency-log endpoints (checkpoint, proofs, public key)."""

from __future__ import annotations

import base64
from typing import Any

from rest_framework import serializers

from api.serializers import MAX_POSITION, AsciiIntegerField, StrictSerializer
from infrastructure.signed_note import Checkpoint

_SIZE_HELP = "tree size to prove against; default: the latest checkpoint's (the current tree's if none)"


def b64(digest: bytes) -> str:
    """A hash as the checkpoint note and the proofs spell it."""
    return base64.b64encode(digest).decode()


class ProofQuerySerializer(StrictSerializer):
    size = AsciiIntegerField(min_value=1, max_value=MAX_POSITION, required=False, help_text=_SIZE_HELP)


class ConsistencyQuerySerializer(StrictSerializer):
    # ``from`` is a Python keyword: the field is declared under its query name below.
    to = AsciiIntegerField(min_value=0, max_value=MAX_POSITION, required=False, help_text=_SIZE_HELP)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = AsciiIntegerField(
            min_value=0,
            max_value=MAX_POSITION,
            default=0,
            help_text="the earlier tree size (a checkpoint you kept); default 0",
        )
        return fields


class PublicKeySerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="C2SP vkey: <name>+<key hash hex>+<base64(0x01 || Ed25519 key)>")
    origin = serializers.CharField()
    algorithm = serializers.CharField()
    previous_keys = serializers.ListField(
        child=serializers.CharField(),
        help_text="the vkeys of the keys rotated away from, whose checkpoints stay genuine",
    )


class CheckpointSerializer(serializers.Serializer[Any]):
    origin = serializers.CharField()
    size = serializers.IntegerField()
    # DRF takes declared fields off the class, so this does not shadow ``Field.root``.
    root = serializers.CharField(help_text="base64 RFC 9162 root hash")  # type: ignore[assignment]
    time = serializers.CharField(help_text="RFC 3339 UTC, seconds")
    note = serializers.CharField(help_text="the C2SP signed note, exactly as signed")

    def to_representation(self, instance: Checkpoint) -> dict[str, Any]:
        return {
            "origin": instance.origin,
            "size": instance.size,
            "root": b64(instance.root),
            "time": instance.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "note": instance.text,
        }


class InclusionProofSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField()
    leaf_index = serializers.IntegerField(help_text="position - 1")
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField(help_text="base64 SHA-256(0x00 || cosmo-leaf/1 bytes)")
    payload_sha256 = serializers.CharField(help_text="hex SHA-256 of the event's stored bytes")
    hashes = serializers.ListField(child=serializers.CharField(), help_text="base64, RFC 9162 order")


class ConsistencyProofSerializer(serializers.Serializer[Any]):
    from_size = serializers.IntegerField()
    to_size = serializers.IntegerField()
    hashes = serializers.ListField(child=serializers.CharField(), help_text="base64, RFC 9162 order")
