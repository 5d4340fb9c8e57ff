from __future__ import annotations

from django.conf import settings
from django.urls import path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from api.admin import site as admin_site
from api.auth import LoginView, LogoutView, RefreshView
from api.errors import not_found
from api.views.audit import AuditEventsView, AuditExportView, AuditVerifyView
from api.views.dashboard import DashboardView
from api.views.docs import DocsView
from api.views.erasure import SubjectErasureView
from api.views.health import HealthView, ReadyView
from api.views.history import PropertyHistoryView
from api.views.images import (
    CoverImageView,
    ImageOrderView,
    ImageRetryView,
    ImageView,
    PropertyImagesView,
)
from api.views.media import media_file
from api.views.metrics import MetricsView
from api.views.projections import ProjectionsView
from api.views.properties import PropertyArchiveView, PropertyCollectionView, PropertyDetailView
from api.views.transparency import (
    AuditCheckpointView,
    AuditConsistencyProofView,
    AuditInclusionProofView,
    AuditPublicKeyView,
)

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("ready", ReadyView.as_view(), name="ready"),
    path("api/auth/token", LoginView.as_view(), name="token"),
    path("api/auth/token/refresh", RefreshView.as_view(), name="token-refresh"),
    path("api/auth/logout", LogoutView.as_view(), name="logout"),
    path("api/properties", PropertyCollectionView.as_view(), name="properties"),
    path("api/properties/<uuid:property_id>", PropertyDetailView.as_view(), name="property"),
    path("api/properties/<uuid:property_id>/archive", PropertyArchiveView.as_view(), name="property-archive"),
    path("api/properties/<uuid:property_id>/history", PropertyHistoryView.as_view(), name="property-history"),
    path("api/properties/<uuid:property_id>/images", PropertyImagesView.as_view(), name="property-images"),
    path("api/properties/<uuid:property_id>/images/order", ImageOrderView.as_view(), name="image-order"),
    path("api/properties/<uuid:property_id>/cover", CoverImageView.as_view(), name="property-cover"),
    path("api/images/<uuid:image_id>", ImageView.as_view(), name="image"),
    path("api/images/<uuid:image_id>/retry", ImageRetryView.as_view(), name="image-retry"),
    path("api/audit/events", AuditEventsView.as_view(), name="audit-events"),
    path("api/audit/export", AuditExportView.as_view(), name="audit-export"),
    path("api/audit/verify", AuditVerifyView.as_view(), name="audit-verify"),
    path("api/audit/public-key", AuditPublicKeyView.as_view(), name="audit-public-key"),
    path("api/audit/checkpoint", AuditCheckpointView.as_view(), name="audit-checkpoint"),
    path("api/audit/events/<int:position>/proof", AuditInclusionProofView.as_view(), name="audit-proof"),
    path("api/audit/consistency", AuditConsistencyProofView.as_view(), name="audit-consistency"),
    path("api/subjects/<str:username>/erasure", SubjectErasureView.as_view(), name="subject-erasure"),
    path("api/dashboard", DashboardView.as_view(), name="dashboard"),
    path("api/projections", ProjectionsView.as_view(), name="projections"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", DocsView.as_view(url_name="schema"), name="docs"),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media_file, name="media"),
    path("admin/", admin_site.urls),
    path("admin", RedirectView.as_view(url="/admin/")),
    # Anything else is a JSON 404, also with DEBUG on (Django would answer with an HTML page).
    re_path(r"^", not_found),
]

handler400 = "api.errors.bad_request"
handler403 = "api.errors.forbidden"
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"
