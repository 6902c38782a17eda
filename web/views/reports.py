"""Report pages and files for the web UI."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpResponseBase,
    HttpResponseNotModified,
    JsonResponse,
)
from django.utils.cache import patch_cache_control

from explain import selectors
from explain.models import ReportFile
from registry.selectors import version_for_user
from registry.types import SignedInRequest

# A report's files never change once written (their sha256 is stored), so the browser of a
# person who may see them keeps them a day; nothing shared (a proxy) keeps them at all.
REPORT_FILE_MAX_AGE = 24 * 3600


@login_required
def report_file(
    request: SignedInRequest, name: str, version: str, report_id: int, file_name: str
) -> HttpResponseBase:
    """Serve a report's plot to people who may see the model; unchanged files as 304."""
    obj = version_for_user(request.user, name, version)
    stored = ReportFile.objects.filter(
        report__version=obj, report_id=report_id, name=file_name
    ).first()
    if stored is None:
        raise Http404("No such file.")
    etag = f'"{stored.sha256}"'
    response: HttpResponseBase
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = FileResponse(stored.file.open("rb"), content_type=stored.content_type)
        response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = etag
    patch_cache_control(response, private=True, max_age=REPORT_FILE_MAX_AGE, immutable=True)
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
