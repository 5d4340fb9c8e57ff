"""The bench server's URLs: the plain baseline endpoints first, then every production route.

Everything else (the error handlers included) comes from ``api.urls`` as it is, so the bench
serves the production routes exactly. ``api.urls`` ends with a catch-all JSON 404, so anything
placed after it would never match: the bench paths go first.
"""

from __future__ import annotations

from django.urls import path

from api.urls import *  # noqa: F403
from api.urls import urlpatterns as api_urlpatterns
from tools.bench.views import PlainCollectionView, PlainDetailView

urlpatterns = [
    path("bench/plain", PlainCollectionView.as_view(), name="bench-plain"),
    path("bench/plain/<uuid:property_id>", PlainDetailView.as_view(), name="bench-plain-item"),
    *api_urlpatterns,
]
