"""The JSON renderer: DRF's, able to write back every string a request can make us echo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """``"\\ud800"`` is valid JSON, so a client can send a lone surrogate, which has no UTF-8 form.
    Echoed in an error (``"\\ud800" is not a valid choice``), DRF's renderer raises and the answer
    is a 500; such a document is written with ASCII escapes instead, which is the same JSON."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        try:
            return bytes(super().render(data, accepted_media_type, renderer_context))
        except UnicodeEncodeError:
            return bytes(_EscapingJSONRenderer().render(data, accepted_media_type, renderer_context))


class _EscapingJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True
