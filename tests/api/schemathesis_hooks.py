"""Schemathesis hooks for what OpenAPI cannot say about a request, so that no check fails on it.

- Photos: the schema says an upload's file is a JPEG, PNG, WebP or GIF; these strategies make
  real ones (small, random size and colour) so valid uploads are valid images.
- ``Idempotency-Key``: a well-formed key is meant to be new for each intended change; a fuzzer
  that sends the same one with different requests is rightly answered 422. In requests meant to
  be valid, keys are made unique.
- ``X-Cosmo-Min-Position``: only positions up to the current head are valid, which a schema
  cannot state; in requests meant to be valid it is sent as 0.
- ``version`` and ``as_of`` exclude each other (OpenAPI 3 cannot say so): of a request meant to
  be valid with both, ``as_of`` is left out.

Requests meant to be invalid go out as generated: they must be refused whatever they carry.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import schemathesis
from hypothesis import strategies as st
from PIL import Image

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}


def _image(size: tuple[int, int], colour: tuple[int, int, int], form: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=form)
    return buffer.getvalue()


for media_type, form in FORMATS.items():
    schemathesis.openapi.media_type(
        media_type,
        st.builds(
            _image,
            st.tuples(st.integers(1, 64), st.integers(1, 64)),
            st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
            st.just(form),
        ),
    )


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if case.query and "version" in case.query and "as_of" in case.query:
        del case.query["as_of"]
    headers = case.headers
    if not headers:
        return
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    if "X-Cosmo-Min-Position" in headers:
        headers["X-Cosmo-Min-Position"] = type(headers["X-Cosmo-Min-Position"])(0)
