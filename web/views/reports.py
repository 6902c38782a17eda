"""Report pages and files for the web UI."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse

from explain import selectors
from explain.models import ReportFile
from registry.selectors import version_for_user
from registry.types import SignedInRequest


@login_required
def report_file(
    request: SignedInRequest, name: str, version: str, report_id: int, file_name: str
) -> FileResponse:
    """Serve a report's plot to people who may see the model."""
    obj = version_for_user(request.user, name, version)
    stored = ReportFile.objects.filter(
        report__version=obj, report_id=report_id, name=file_name
    ).first()
    if stored is None:
        raise Http404("No such file.")
    response = FileResponse(stored.file.open("rb"), content_type=stored.content_type)
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def report_status(request: SignedInRequest, name: str, version: str) -> JsonResponse:
    """Status and progress of a version's reports, polled by the version page."""
    obj = version_for_user(request.user, name, version)
    reports = [
        {
            "id": r.pk,
            "kind": r.kind,
            "status": r.status,
            "progress": r.progress,
            "message": r.progress_message,
        }
        for r in selectors.reports_of(obj)
    ]
    return JsonResponse(
        {"reports": reports, "done": all(r["status"] in ("succeeded", "failed") for r in reports)}
    )
