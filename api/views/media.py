"""Variants stored on local disk, served by the app itself (``/media/…``) when Cloudinary is not used.

No authentication: a variant's path holds its image's random id, which only those who may see
the image learn; with ``COSMO_MEDIA_URL_TTL_SECONDS`` set, the URL must also carry an unexpired
signature (``api/media_urls.py``), checked before the file is even looked for. Only image files
are served, so nothing else under ``MEDIA_ROOT`` can be fetched, and a path that leads outside it
(``../``, a symlink) is simply not found.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_safe

from api import media_urls
from api.errors import error_body

CONTENT_TYPES = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
# A variant's bytes never change, but a deleted photo must leave caches soon: an hour bounds how
# long a browser or CDN may go on showing it, while a gallery scrolled to and fro stays cached.
# Not `immutable` for a year: that is what kept deleted photos served.
PUBLIC_MAX_AGE_SECONDS = 3600


@require_safe
def media_file(request: HttpRequest, path: str) -> HttpResponseBase:
    cache_control = f"public, max-age={PUBLIC_MAX_AGE_SECONDS}"
    if media_urls.ttl_seconds() > 0:
        try:
            left = media_urls.remaining_seconds(request.path, request.GET)
        except media_urls.MediaUrlRefused as refused:
            return JsonResponse(error_body(refused.code, refused.message), status=403)
        # Only the holder of the URL may keep it, and not past the signature's life.
        cache_control = f"private, max-age={min(left, PUBLIC_MAX_AGE_SECONDS)}"
    file = media_path(path)
    if file is None:
        return JsonResponse(error_body("not_found", f"no such file: {request.path}"), status=404)
    response = FileResponse(file.open("rb"), content_type=CONTENT_TYPES[file.suffix.lower()])
    response["Cache-Control"] = cache_control
    return response


def media_path(path: str) -> Path | None:
    """The image file ``path`` names inside ``MEDIA_ROOT``, or None."""
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        file = (root / path).resolve()
        found = file.is_relative_to(root) and file.suffix.lower() in CONTENT_TYPES and file.is_file()
    except (OSError, ValueError):  # a NUL byte, a symlink loop, a name too long for the file system
        return None
    return file if found else None
