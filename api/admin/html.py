"""Small pieces of HTML for admin pages, every value escaped by ``format_html``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from api import media_urls

NOTHING = "-"


def thumbnail(variants: Sequence[Mapping[str, Any]], alt: str, width: int = 120) -> SafeString | str:
    """The smallest variant, as a client would be given its URL (signed when photos are private)."""
    if not variants:
        return NOTHING
    smallest = min(variants, key=lambda variant: int(variant["width"]))
    return format_html(
        '<img class="cosmo-thumbnail" src="{}" alt="{}" width="{}" loading="lazy">',
        media_urls.for_client(smallest["url"]),
        alt,
        width,
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], css_class: str) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html(
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', css_class, head, body
    )


def value_text(value: Any) -> str:
    """A field's value in a diff: text as it is, anything else as compact JSON."""
    if value is None:
        return NOTHING
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def changes_list(changes: Mapping[str, Mapping[str, Any]]) -> SafeString:
    return format_html(
        "<ul class='cosmo-changes'>{}</ul>",
        format_html_join(
            "",
            "<li><b>{}</b>: {} → {}</li>",
            (
                (name, value_text(change["before"]), value_text(change["after"]))
                for name, change in changes.items()
            ),
        ),
    )


def history_table(events: Iterable[Mapping[str, Any]]) -> SafeString:
    """A property's history as ``HistorySerializer`` (api/audit_serializers.py) gives its events: who
    did what, and what it changed."""
    return table(
        ["position", "when", "event", "actor", "changes"],
        (
            (
                event["position"],
                event["timestamp"][:19].replace("T", " "),
                event["type"],
                f"{event['actor']['username']} ({event['actor']['role']})",
                changes_list(event["changes"]),
            )
            for event in events
        ),
        "cosmo-history",
    )


def variants_table(variants: Iterable[Mapping[str, Any]]) -> SafeString:
    return table(
        ["width", "height", "format", "bytes", "image"],
        (
            (
                variant["width"],
                variant["height"],
                variant["format"],
                variant["bytes"],
                format_html('<a href="{0}">{0}</a>', media_urls.for_client(variant["url"])),
            )
            for variant in variants
        ),
        "cosmo-variants",
    )
