"""``GET /metrics``: Prometheus's text format, for admins and for the scraper's own token.

Two sources make one answer. Counters and histograms come from the processes that did the work
(every gunicorn worker and ``run_workers`` on this host, added up from their files: see
``infrastructure.metrics``). Gauges of the system's state are read from the database at scrape
time, so they are right whichever process or host answers: the event store's head, each read
model's lag, the photos waiting for processing, the age of the latest signed checkpoint.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from api.permissions import IsAdmin
from api.query import StrictQueryView
from api.tokens import TokenAuthentication
from domain.image import ImageStatus
from infrastructure.composition import property_service, transparency_log
from infrastructure.metrics import multiprocess_dir
from projections.models import GalleryImage
from projections.registry import all_projections
from projections.runner import status


class Scraper:
    """``request.auth`` of a request that showed the scrape token: no user, no JWT."""


SCRAPER = Scraper()


class ScrapeToken(BaseAuthentication):
    """``Authorization: Bearer <COSMO_METRICS_TOKEN>``: a scraper needs no user account (and an
    admin's 15-minute token would not do). Anything else is left to the JWT authentication."""

    def authenticate(self, request: Request) -> tuple[None, Scraper] | None:
        expected = settings.COSMO_METRICS_TOKEN
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        given = scheme.lower() == "bearer" and hmac.compare_digest(offered.encode(), expected.encode())
        if expected and given:
            return None, SCRAPER
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class AdminOrScraper(IsAdmin):
    message = "only admins and the metrics scraper may read the metrics"

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.auth is SCRAPER or super().has_permission(request, view)


class JSONErrorsOnly(BaseContentNegotiation):
    """The metrics are text whatever the scraper accepts; a refusal is JSON like every other error."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)


class DatabaseGauges:
    """The system's state as gauges, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        app = property_service()
        head = GaugeMetricFamily("cosmo_event_store_head_position", "Position of the latest recorded event.")
        head.add_metric([], app.recorder.max_notification_id() or 0)
        yield head
        lag_events = GaugeMetricFamily(
            "cosmo_projection_lag_events",
            "Events recorded that the read model has not applied.",
            labels=["projection"],
        )
        lag_seconds = GaugeMetricFamily(
            "cosmo_projection_lag_seconds",
            "Age of the oldest event the read model has not applied (0 when caught up).",
            labels=["projection"],
        )
        for row in (status(projection, app) for projection in all_projections()):
            lag_events.add_metric([row.name], row.lag_events)
            lag_seconds.add_metric([row.name], row.lag_seconds)
        yield lag_events
        yield lag_seconds
        queue = GaugeMetricFamily("cosmo_image_queue_depth", "Photos uploaded and not processed yet.")
        queue.add_metric([], GalleryImage.live().filter(status=ImageStatus.PENDING.value).count())
        yield queue
        latest = transparency_log().latest_checkpoint()
        if latest is not None:  # no sample before the first checkpoint (or without a signing key)
            age = GaugeMetricFamily(
                "cosmo_checkpoint_age_seconds", "Time since the latest signed checkpoint of the audit log."
            )
            age.add_metric([], max(0.0, (datetime.now(UTC) - latest.time).total_seconds()))
            yield age


class MetricsView(StrictQueryView):
    authentication_classes = [ScrapeToken, TokenAuthentication]
    permission_classes = [AdminOrScraper]
    content_negotiation_class = JSONErrorsOnly

    @extend_schema(
        operation_id="metrics",
        summary="Prometheus metrics",
        description="Request latency by route and status, events recorded by type, read-model lag, "
        "photo queue depth and processing time, failed and throttled logins and the age of the "
        "latest checkpoint, in Prometheus's text format (docs/observability.md). For admins, or "
        "with `COSMO_METRICS_TOKEN` as the bearer token.",
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> HttpResponse:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(multiprocess_dir()))  # type: ignore[no-untyped-call]
        registry.register(DatabaseGauges())
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
