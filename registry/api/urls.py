from __future__ import annotations

from django.urls import path

from . import audit, views

urlpatterns = [
    path("auth/token/", views.TokenCreateView.as_view(), name="token-create"),
    path("models/", views.ModelListView.as_view(), name="model-list"),
    path("models/<slug:name>/", views.ModelDetailView.as_view(), name="model-detail"),
    path(
        "models/<slug:name>/objectives/", views.ObjectiveListView.as_view(), name="objective-list"
    ),
    path(
        "models/<slug:name>/versions/<str:version>/",
        views.VersionDetailView.as_view(),
        name="version-detail",
    ),
]

# The audit trail: keyset pages and the streamed export.
urlpatterns += [
    path("audit/events/", audit.AuditEventListView.as_view(), name="audit-events"),
    path("audit/export/", audit.AuditExportView.as_view(), name="audit-export"),
    path("audit/head/", audit.AuditHeadView.as_view(), name="audit-head"),
]
