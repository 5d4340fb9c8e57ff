"""Private photos: variant URLs that expire, signed when rendered for a client, checked when served.

Off by default (``COSMO_MEDIA_URL_TTL_SECONDS=0``): a variant's URL holds its image's random id,
which only those who may see the image learn, but anyone it is passed on to can fetch it for as
long as the photo exists. With a lifetime set, a local-disk URL carries ``?expires=…&signature=…``
(an HMAC-SHA256 of the path and the expiry, under a key derived from ``SECRET_KEY``), so a URL
leaked to another organisation stops working once it expires. Cloudinary URLs are the store's to
sign (:meth:`ImageStore.client_url`): authenticated delivery, expiring with a token key.

Expiries are rounded up to a tenth of the lifetime, so a client that reads the same gallery twice
in a row gets the same URLs and its image cache keeps working; a URL lives between one and 1.1
lifetimes.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from infrastructure.composition import image_store

_SALT = "cosmo.media-url"
_EXPIRES = re.compile(r"[0-9]{1,12}")


class MediaUrlRefused(Exception):
    """A media request without a valid, unexpired signature; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def ttl_seconds() -> int:
    return int(settings.COSMO_MEDIA_URL_TTL_SECONDS)


def for_client(url: str, now: float | None = None) -> str:
    """``url`` as a client may fetch it: signed when photos are private, unchanged otherwise."""
    ttl = ttl_seconds()
    if ttl <= 0:
        return url
    step = max(1, ttl // 10)
    expires = math.ceil(((time.time() if now is None else now) + ttl) / step) * step
    if not url.startswith(settings.MEDIA_URL):
        return image_store().client_url(url, expires)
    return f"{url}?{urlencode({'expires': expires, 'signature': _signature(url, expires)})}"


def remaining_seconds(path: str, query: Mapping[str, str], now: float | None = None) -> int:
    """Seconds the signed URL for ``path`` has left; raises :class:`MediaUrlRefused` if none."""
    expires, signature = query.get("expires", ""), query.get("signature", "")
    if not expires or not signature:
        raise MediaUrlRefused("media_url_unsigned", "this file is served through signed URLs only")
    valid = _EXPIRES.fullmatch(expires) and constant_time_compare(signature, _signature(path, int(expires)))
    if not valid:
        raise MediaUrlRefused("media_url_invalid", "the signature does not match this URL")
    left = int(expires) - math.floor(time.time() if now is None else now)
    if left <= 0:
        raise MediaUrlRefused("media_url_expired", "this URL has expired: read the image again for a new one")
    return left


def _signature(path: str, expires: int) -> str:
    digest = salted_hmac(_SALT, f"{path}\n{expires}", secret=settings.SECRET_KEY, algorithm="sha256")
    return digest.hexdigest()
