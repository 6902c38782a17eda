from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
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
