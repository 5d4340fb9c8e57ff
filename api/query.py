"""Query parameters are part of the contract: one the endpoint does not know is a 400, never ignored.

A client that misspells a filter (``?stauts=archived``) must not receive the unfiltered list
believing it filtered. Each view names what it reads per method; the schema documents the same.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.exceptions import MethodNotAllowed, ValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from api.serializers import MAX_POSITION


def ascii_integer(raw: str) -> int | None:
    """``raw`` as a non-negative 64-bit integer written in ASCII digits, else None.

    ``int()`` also reads "\uff11" (fullwidth) and "\u0663" (Arabic-Indic), and raises ValueError past
    4300 digits: a number in a header or a hand-parsed parameter is checked here instead.
    """
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_POSITION)):
        return None
    value = int(text)
    return value if value <= MAX_POSITION else None


def names_of(*sources: type[serializers.Serializer[Any]] | Iterable[str]) -> frozenset[str]:
    """The parameter names a query serializer's fields (or plain names) stand for."""
    names: set[str] = set()
    for source in sources:
        if isinstance(source, type):
            names.update(source().fields)
        else:
            names.update(source)
    return frozenset(names)


def query_values(request: Request) -> dict[str, str]:
    """The query as a plain dict for a serializer: given a QueryDict, DRF reads ``?as_of=`` as "not
    given" instead of refusing it. (Each name appears once: see :func:`refuse_unknown_query_parameters`.)"""
    return request.query_params.dict()


def refuse_unknown_query_parameters(request: Request, known: Collection[str]) -> None:
    """Unknown names, and names given twice (``?city=a&city=b``: which one was meant?), are a 400."""
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise ValidationError({name: ["unknown query parameter"] for name in unknown})
    repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
    if repeated:
        raise ValidationError({name: ["given more than once"] for name in repeated})


class StrictQueryView(APIView):
    """Checks the method, then the query string against ``query_parameters``, once the caller is
    authenticated.

    ``query_parameters`` maps a method to the names it reads; a method not listed reads none.
    """

    query_parameters: ClassVar[Mapping[str, Collection[str]]] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        method = str(request.method)
        if method.lower() not in self.http_method_names or not hasattr(self, method.lower()):
            # Before anything else looks at the request (its query, its Idempotency-Key): DRF
            # would only answer 405 once initial() is done.
            raise MethodNotAllowed(method)
        refuse_unknown_query_parameters(
            request, self.query_parameters.get("GET" if method == "HEAD" else method, ())
        )
