"""Variants stored on local disk, served by the app itself (``/media/…``) when Cloudinary is not used.

No authentication: a variant's path holds its image's random id, which only those who may see
the image learn. Only image files are served, so nothing else under ``MEDIA_ROOT`` can be
fetched, and a path that leads outside it (``../``, a symlink) is simply not found.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_safe

from api.errors import error_body

CONTENT_TYPES = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
# Variant names never change meaning (a retry rewrites the same pixels), so caches may keep them.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@require_safe
def media_file(request: HttpRequest, path: str) -> HttpResponseBase:
    file = media_path(path)
    if file is None:
        return JsonResponse(error_body("not_found", f"no such file: {request.path}"), status=404)
    response = FileResponse(file.open("rb"), content_type=CONTENT_TYPES[file.suffix.lower()])
    response["Cache-Control"] = CACHE_CONTROL
    return response


def media_path(path: str) -> Path | None:
    """The image file ``path`` names inside ``MEDIA_ROOT``, or None."""
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        file = (root / path).resolve()
    except (OSError, ValueError):  # a NUL byte, a symlink loop
        return None
    if not file.is_relative_to(root) or file.suffix.lower() not in CONTENT_TYPES or not file.is_file():
        return None
    return file
