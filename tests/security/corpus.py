"""The hostile-input corpus: what a hostile or broken client sends instead of a request.

Plain data, no test logic, so new cases are a line each. Text values are what goes on the wire:
query values are already percent-encoded, JSON fragments are raw JSON text.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from tests.fixtures.tiny_png import tiny_png

TOO_BIG = 2**64

# Raw JSON text put in place of each value of a valid document, one at a time.
JSON_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999999",
    "-0.0",
    "0.1e-999999",
    "1" * 5000,  # beyond Python's 4300-digit int conversion limit
    str(TOO_BIG),
    str(-(2**63) - 1),
    "true",
    "[]",
    "{}",
    '[["a"]]',
    '{"a": {"b": {}}}',
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud800"',  # a lone surrogate, escaped as JSON allows
    '"\\udfff\\ud800"',
    '"\\u202egnp.exe"',  # bidi override
    '"\\u200b"',
    '"\\ufeff"',
    '"a\\u2028b"',
    '"\\ud83d"',
    '"' + "x" * 100_000 + '"',
]

# Whole bodies sent as application/json, whatever document the endpoint expects.
RAW_JSON_BODIES: dict[str, bytes] = {
    "truncated object": b'{"name": "a"',
    "just a brace": b"{",
    "nested arrays 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
    "nested objects 5 000 deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "one level too deep": b'{"a":' + b"[" * 32 + b"]" * 32 + b"}",
    "5 000 digits": b"1" * 5000,
    "top-level array": b"[]",
    "top-level string": b'"name"',
    "top-level null": b"null",
    "top-level number": b"1",
    "NaN": b"NaN",
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "overlong UTF-8 slash": b'{"name": "\xc0\xaf"}',
    "CESU-8 surrogate": b'{"name": "\xed\xa0\x80"}',
    "UTF-8 BOM": b'\xef\xbb\xbf{"name": "a"}',
    "UTF-16": '{"name": "a"}'.encode("utf-16"),
    "NUL byte": b'{"name": "a"}\x00',
    "trailing garbage": b'{"name": "a"} {"name": "b"}',
    "single quotes": b"{'name': 'a'}",
    "comment": b'{"name": "a" /* hi */}',
}

# The valid document's JSON sent under a content type that is not JSON (or not JSON as declared).
WRONG_CONTENT_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/json; charset=utf-32",
    "application/octet-stream",
    "image/png",
    "json",
]

# Query values (percent-encoded), by the parameter's type in the schema.
INTEGERS = [
    "",
    "-1",
    "1.5",
    "1e3",
    "0x10",
    "NaN",
    "Infinity",
    str(TOO_BIG),
    str(-(2**63) - 1),
    "9" * 5000,
    "%00",
    "1%00",
    "%ff",
    "%EF%BC%91",  # a fullwidth one
    "%C2%B2",  # superscript two
    "true",
    "[]",
]
DATETIMES = [
    "",
    "yesterday",
    "2026-13-45T00:00:00Z",
    "99999-01-01T00:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T00:00:00%2B99:00",
    "0000-00-00",
    "%00",
    "%ff",
    "9" * 5000,
]
UUIDS = ["", "not-a-uuid", "%00", "%ff", "1" * 5000, "../../etc/passwd"]
CHOICES = ["", "deleted", "%00", "%ff", "%E2%80%AE", "x" * 5000]
# Free text (search, city, actor, type): refused or answered, never a 500.
TEXTS = [
    "%00",
    "a%00b",
    "%ff%fe",
    "%ED%A0%80",  # a surrogate, UTF-8 encoded: not UTF-8
    "%E2%80%AE",
    "x" * 5000,
    "%25",
    "%5C",
    "_%25_",
    "'%3B DROP TABLE cosmo_events%3B--",
    "%0D%0ASet-Cookie: a=b",
]

# Header values, by header.
MIN_POSITIONS = [
    "-1",
    "1.5",
    "NaN",
    str(TOO_BIG),
    "9" * 5000,
    "\uff11",  # a fullwidth one
    "²",
    "1, 2",
    "",
    "\x00",
]
IDEMPOTENCY_KEYS = ["x" * 256, "\u202e", "a\x00b", "ключ", "\t", "a\nb"]
IF_MATCHES = [
    '"abc"',
    '"-1"',
    '"1.5"',
    f'"{TOO_BIG}"',
    '"' + "9" * 5000 + '"',
    '"',
    '""',
    '"\uff11"',
    "\x00",
    '"1", "2"',
]
AUTHORIZATIONS = [
    "Bearer",
    "Bearer ",
    "Bearer " + "x" * 10_000,
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ.",  # alg none
    "Bearer \x00",
    "Bearer \u202e",
    "Basic YWxpY2U6Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5",
    "Token abc",
]
REQUEST_IDS = ["\x00", "x" * 10_000, "<script>", "a\r\nb"]

# What goes in place of an id in a path, and paths under /media/.
PATH_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "1" * 300,
    "00000000-0000-0000-0000-000000000000",
    "%E2%80%AE",
]
MEDIA_PATHS = [
    "../../etc/passwd",
    "..%2F..%2Fsettings.py",
    "%2e%2e/%2e%2e/etc/passwd",
    "images/x.webp%00.png",
    "%00",
    "images/" + "a" * 300 + ".webp",
    "a/" * 3000 + "x.webp",
    "images/%ff.webp",
    "blobs/../../etc/hosts.png",
    "images/..",
]


def hostile_documents(document: Any) -> Iterator[tuple[str, bytes]]:
    """``document`` as JSON with each of its values in turn replaced by each of ``JSON_VALUES``."""
    marker = "\x1e hostile \x1e"
    for path in _value_paths(document):
        text = _json(_json_value(document, path, marker))
        for value in JSON_VALUES:
            encoded = text.replace(f'"{_escaped(marker)}"', value)
            yield f"{'.'.join(map(str, path))} = {value[:40]}", encoded.encode()
    first_key = next(iter(document), None)
    if isinstance(document, dict) and first_key is not None:
        duplicate = _json({first_key: document[first_key]})[1:-1]
        yield f"duplicate key {first_key}", ("{" + duplicate + ", " + _json(document)[1:]).encode()


def _value_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _value_paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _value_paths(child, (*path, index))
    if path:
        yield path


def _json_value(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    head, *rest = path
    copy[head] = _json_value(copy[head], tuple(rest), value)
    return copy


def _json(value: Any) -> str:
    return json.dumps(value)


def _escaped(text: str) -> str:
    return _json(text)[1:-1]


# Files offered as photos: none is an image Pillow can decode whole.
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(side: int = 100_000) -> bytes:
    """A PNG whose header claims ``side`` x ``side`` pixels: a decompression bomb by its header."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.png", tiny_png())
    return buffer.getvalue()


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
FILES: dict[str, tuple[str, bytes, str]] = {
    # label: (filename, bytes, declared content type)
    "html as png": ("photo.png", HTML, "image/png"),
    "svg with script": ("photo.svg", SVG, "image/svg+xml"),
    "svg as png": ("photo.png", SVG, "image/png"),
    "zip as jpeg": ("photo.jpg", _zip(), "image/jpeg"),
    "gif header then html": ("photo.gif", b"GIF89a" + HTML, "image/gif"),
    "png signature then html": ("photo.png", b"\x89PNG\r\n\x1a\n" + HTML, "image/png"),
    "jpeg markers then svg": ("photo.jpg", b"\xff\xd8\xff\xe0" + SVG, "image/jpeg"),
    "zip then png": ("photo.png", _zip() + tiny_png(), "image/png"),
    "truncated png": ("photo.png", tiny_png()[:40], "image/png"),
    "empty file": ("photo.png", b"", "image/png"),
    "png bomb by header": ("photo.png", _bomb_png(), "image/png"),
    "traversal in the name, html inside": ("../../../../etc/cron.d/x.png", HTML, "image/png"),
    "NUL in the name, html inside": ("photo.png\x00.html", HTML, "image/png"),
    "bidi in the name, svg inside": ("photo\u202egnp.svg", SVG, "image/png"),
    "pdf": (
        "photo.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "application/pdf",
    ),
}
