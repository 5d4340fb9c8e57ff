"""Domain errors: one specific type per broken rule, so callers never parse messages."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused because it would break a business rule."""

    code = "domain_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    code = "invalid"


class InvalidName(InvalidValue):
    code = "invalid_name"


class UnknownPropertyKind(InvalidValue):
    code = "unknown_kind"


class InvalidAddress(InvalidValue):
    code = "invalid_address"


class InvalidCountry(InvalidAddress):
    code = "invalid_country"


class InvalidRent(InvalidValue):
    code = "invalid_rent"


class InvalidCurrency(InvalidRent):
    code = "invalid_currency"


class InvalidOrganisation(InvalidValue):
    code = "invalid_organisation"


class NothingChanged(DomainError):
    """The command would not change anything, so no event is recorded."""

    code = "nothing_changed"


class PropertyArchived(DomainError):
    code = "property_archived"


class PropertyNotFound(DomainError):
    """Also raised for properties of another organisation, so ids never leak across tenants."""

    code = "not_found"


class VersionConflict(DomainError):
    """The caller changed a version that is no longer the current one."""

    code = "version_conflict"


class NotPermitted(DomainError):
    code = "not_permitted"


class ImageNotFound(DomainError):
    """Also raised for images of another organisation's properties."""

    code = "not_found"


class ImageNotFailed(DomainError):
    code = "image_not_failed"


class InvalidImageOrder(InvalidValue):
    code = "invalid_image_order"


class EventTooLarge(DomainError):
    """A single event may not grow past the configured size: events are forever, bloat too."""

    code = "event_too_large"


class MissingAuditContext(DomainError):
    """Every change must say who made it; a change without an audit context is a bug."""

    code = "missing_audit_context"


class SubjectAlreadyErased(DomainError):
    """The data subject's personal data was already shredded: there is nothing left to erase."""

    code = "already_erased"
