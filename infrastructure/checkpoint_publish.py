"""Publishing a checkpoint outside the database: a witness a database rewrite cannot reach.

An append-only file (on another disk, a mounted share) or an HTTP endpoint (a witness service, a
ticketing system) gets the signed note as text; a later ``audit verify --checkpoint FILE`` or
``tools/cosmo_verify.py --kept`` holds the log to every note published so far.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from infrastructure.signed_note import Checkpoint

TIMEOUT_SECONDS = 10


class PublishFailed(RuntimeError):
    pass


def publish(checkpoint: Checkpoint, target: str) -> None:
    """Append the note to the file ``target``, or POST it to ``target`` when it is an http(s) URL."""
    if target.startswith(("http://", "https://")):
        _post(checkpoint.text, target)
        return
    try:
        with Path(target).open("a", encoding="utf-8") as file:
            file.write(checkpoint.text + "\n")
    except OSError as error:
        raise PublishFailed(f"could not append the checkpoint to {target}: {error}") from None


def _post(text: str, url: str) -> None:
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, data=text.encode(), method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise PublishFailed(f"{url} answered {response.status} to the checkpoint")
    except (urllib.error.URLError, OSError) as error:
        raise PublishFailed(f"could not post the checkpoint to {url}: {error}") from None
