from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    # Registering a version queues its reports: the endpoint lives here, above registry.
    path("models/<slug:name>/versions/", views.VersionListView.as_view(), name="version-list"),
    path(
        "models/<slug:name>/versions/<str:version>/reports/",
        views.ReportListView.as_view(),
        name="report-list",
    ),
    path(
        "models/<slug:name>/versions/<str:version>/reports/<int:report_id>/",
        views.ReportDetailView.as_view(),
        name="report-detail",
    ),
]
