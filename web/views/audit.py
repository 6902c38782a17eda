"""The audit log page, the chain check and the streamed exports of the trail."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from registry import selectors
from registry.audit import services
from registry.audit.chain import event_content
from registry.audit.exports import export_response
from registry.audit.filters import AuditFilterForm
from registry.audit.selectors import (
    action_choices,
    audit_page,
    chain_head,
    last_verification,
    recent_values,
)
from registry.audit.sentences import event_sentence
from registry.models import AuditEvent
from registry.permissions import can_export_audit, can_verify_chain
from registry.types import SignedInRequest


def _row(event: AuditEvent, linkable: set[str]) -> dict[str, Any]:
    content = event_content(event)
    return {
        **content,
        "sentence": event_sentence(event, linkable),
        "created": event.created_at,
        "payload_pretty": json.dumps(event.payload, ensure_ascii=False, indent=2, sort_keys=True),
    }


def _verified(event: AuditEvent | None) -> dict[str, Any] | None:
    """The last chain check for the page: when, by whom, and what it found."""
    if event is None:
        return None
    payload = event.payload if isinstance(event.payload, dict) else {}
    brk = payload.get("break")
    return {
        "seq": event.seq,
        "at": event.created_at,
        "by": event.actor_name,
        "ok": payload.get("ok") is True,
        "checked": payload.get("checked"),
        "last_seq": payload.get("last_seq"),
        "seconds": payload.get("seconds"),
        "break_seq": brk.get("seq") if isinstance(brk, dict) else None,
    }


def _link(query: dict[str, str], **cursor: int) -> str:
    return "?" + urlencode({**query, **cursor})


@login_required
@require_GET
def audit_log(request: SignedInRequest) -> HttpResponse:
    """Events of the models the user may see (everything for auditors), newest first."""
    visible = selectors.audit_events_visible_to(request.user)
    form = AuditFilterForm(request.GET)
    model_choices = list(selectors.models_visible_to(request.user).values_list("name", flat=True))
    context: dict[str, Any] = {
        "form": form,
        "can_export": can_export_audit(request.user),
        "can_verify": can_verify_chain(request.user),
        "head": chain_head(),
        "verified": _verified(last_verification()),
        "model_choices": model_choices,
        "actor_choices": recent_values(visible, "actor_name"),
        "action_choices": action_choices(),
    }
    if not form.is_valid():
        return render(request, "registry/audit.html", context, status=400)
    filters = form.filters()
    query = filters.as_query()
    linkable = set(model_choices)  # links only to the models the viewer may open
    page = audit_page(
        filters.apply(visible),
        before=form.cleaned_data.get("before"),
        after=form.cleaned_data.get("after"),
    )
    context.update(
        {
            "rows": [_row(event, linkable) for event in page.events],
            "page": page,
            "paged": bool(request.GET.get("before") or request.GET.get("after")),
            "newest_url": _link(query),
            "newer_url": _link(query, after=page.newer) if page.newer else "",
            "older_url": _link(query, before=page.older) if page.older else "",
            "export_query": "?" + urlencode(query) if query else "",
            "filtered": bool(query),
        }
    )
    return render(request, "registry/audit.html", context)


@login_required
@require_POST
def audit_verify_now(request: SignedInRequest) -> HttpResponse:
    """Walk the whole chain now (auditors and admins); the check is itself recorded."""
    result = services.audit_chain_verify(actor=request.user)
    report = result.report
    if report.first_break is None:
        messages.success(
            request,
            f"Chain verified: {report.checked:,} events intact up to #{report.last_seq} "
            f"({report.last_hash[:16]}…) in {result.seconds:.2f} s, "
            f"{result.rate:,.0f} events/s.",
        )
    else:
        brk = report.first_break
        messages.error(
            request,
            f"Chain BROKEN at event #{brk.seq}: {brk.reason}. "
            f"{report.checked:,} events before it verified in {result.seconds:.2f} s.",
        )
    return redirect("audit-log")


@login_required
@require_GET
def audit_export(request: SignedInRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """The filtered trail as CSV or JSONL, streamed; the export is on record before row one."""
    if not can_export_audit(request.user):
        raise PermissionDenied(services.EXPORT_REFUSED)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        lines = [f"{field}: {' '.join(msgs)}" for field, msgs in form.field_errors().items()]
        return HttpResponse("\n".join(lines) + "\n", status=400, content_type="text/plain")
    export = services.audit_export(actor=request.user, fmt=fmt, filters=form.filters(), via="web")
    return export_response(export)


@login_required
@require_GET
def audit_head(request: SignedInRequest) -> JsonResponse:
    """The chain head as a JSON file to keep (auditors and admins): ``audit_verify --anchor``
    later fails if the chain no longer holds it."""
    anchor = services.audit_head(actor=request.user)
    response = JsonResponse(anchor.as_dict())
    filename = f"audit-head-{anchor.seq}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
