"""The JSON parser every view uses: one meaning per document, or a 400.

``{"name": "a", "name": "b"}`` is valid JSON, but parsers disagree on what it means (Python keeps
the last value, others the first), so a proxy or a client library may have checked a different
name than the one we would record. Hostile documents (nesting thousands deep, digits by the
thousand) are refused as a 400 before any serializer walks them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

# Our deepest document is a property: {"address": {"street": ...}}. Room to spare, none to abuse.
MAX_DEPTH = 32


class DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DuplicateKey(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)


def depth(document: Any) -> int:
    """How deeply arrays and objects nest in ``document``, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing duplicate keys, NaN/Infinity and documents nested too deeply."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = codecs.getreader(encoding)(stream).read()
            document = json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=strict_constant)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {error}") from None
        if depth(document) > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
        return document
