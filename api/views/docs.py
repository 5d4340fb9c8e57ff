"""The Swagger UI page, under a Content-Security-Policy that lets it run nothing but our own files.

The page is the one HTML the API serves, and it runs JavaScript with a user's token at hand: a
strict policy keeps an injected script (or a framing page) from using it. drf-spectacular's split
view moves the initialising script to a file of its own (``?script``), so ``script-src 'self'``
suffices; styles need ``'unsafe-inline'`` because Swagger UI sets them from its own scripts.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)


class DocsView(SpectacularSwaggerSplitView):
    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response
