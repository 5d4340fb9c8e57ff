"""Erasing a data subject (GDPR art. 17): crypto-shred their events, then scrub every copy.

One function for ``manage.py erase-subject`` and ``POST /api/subjects/{username}/erasure``:

1. destroy the subject's data key: every name, address and user agent sealed under it (in every
   event, on every database replica and in every backup of the events) is unreadable from then
   on; the events themselves, their chain links and Merkle leaves are untouched, so the log
   still verifies;
2. record ``SubjectErased`` (pseudonymous subject id, ground, who asked);
3. replace the copies outside events: the account (username, names, e-mail; deactivated, its
   tokens revoked), failed-login counters, chain links made before links held actor ids, the
   audit timeline read model;
4. on SQLite, rewrite the database file (``VACUUM``) and empty its write-ahead log, so no freed
   page still holds an old copy.

Events recorded before personal fields were encrypted hold them in clear and cannot be
rewritten without breaking the log's proofs: they are counted and reported (docs/adr/0016).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from api.login_throttle import forget_username
from api.models import User
from domain.audit import AuditContext, acting_as
from domain.errors import SubjectAlreadyErased
from infrastructure.audit_trail import chained
from infrastructure.composition import data_keys, property_service
from infrastructure.data_keys import subject_ref
from infrastructure.freed_pages import overwrite_freed_pages
from projections.audit_timeline import forget_subject


class SubjectNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ErasureReport:
    subject_id: str
    position: int | None
    keys_destroyed: int
    unshreddable_events: int


def erase_subject(username: str, ground: str, requested_by: AuditContext) -> ErasureReport:
    if not _could_be_a_username(username):  # a NUL byte would even fail PostgreSQL's query
        raise SubjectNotFound(f"no account is named {username!r}")
    user = User.objects.filter(username=username).first()
    if user is None:
        raise SubjectNotFound(f"no account is named {username!r}")
    subject_id = str(user.pk)
    app = property_service()
    unshreddable = chained(app.recorder).count_links_of_actor(username)
    with acting_as(requested_by):
        try:
            receipt = app.record_erasure(subject_id, ground, unshreddable)
        except SubjectAlreadyErased:
            _shred(user, username)  # a run interrupted after recording its event ends here
            raise
    destroyed = _shred(user, username)
    return ErasureReport(subject_id, receipt.position, destroyed, unshreddable)


def _could_be_a_username(text: str) -> bool:
    try:
        User.username_validator(text)
    except ValidationError:
        return False
    return len(text) <= User._meta.get_field("username").max_length  # type: ignore[operator]


def _shred(user: User, username: str) -> int:
    """Every step after the event, each one harmless to repeat; how many live keys were destroyed."""
    subject_id = str(user.pk)
    destroyed = data_keys().destroy([subject_ref(subject_id)])
    chained(property_service().recorder).relabel_actor(username, subject_id)
    with transaction.atomic():
        user.username = f"erased-{subject_id}"
        user.first_name = user.last_name = user.email = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        OutstandingToken.objects.filter(user=user).delete()
        forget_username(username)
        forget_subject(None, subject_id)
    overwrite_freed_pages()
    return len(destroyed)
