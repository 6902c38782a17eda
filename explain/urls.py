from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path(
        "models/<slug:name>/versions/<str:version>/reports/status/",
        views.report_status,
        name="report-status",
    ),
    path(
        "models/<slug:name>/versions/<str:version>/reports/<int:report_id>/files/<str:file_name>",
        views.report_file,
        name="report-file",
    ),
]
