"""A version's page, the review actions on it and its audit bundle. Actions call one
service each; refusals come back as form errors."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from explain import services as explain_services
from registry.errors import DomainError
from registry.models import ModelVersion
from registry.permissions import require
from registry.selectors import version_for_user
from registry.types import AnyUser, SignedInRequest
from reviews import bundles, services
from reviews.models import Decision, ProductionEvent
from reviews.permissions import can_comment, can_resolve_objection, signing_roles

from ..forms import (
    CommentForm,
    ExplainRowForm,
    ObjectionResolveForm,
    PromoteForm,
    ReviewRequestForm,
    RollbackForm,
    SignOffForm,
)
from ..pages.version import version_page


def _signing_roles(user: AnyUser) -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in signing_roles(user)]


def _evaluation_rows(version: ModelVersion) -> int | None:
    evaluation = getattr(version, "evaluation_data", None)
    return evaluation.row_count if evaluation else None


def _render_version(
    request: SignedInRequest, version: ModelVersion, *, status: int = 200, **forms
) -> HttpResponse:
    context = version_page(version, request.user)
    context.setdefault("forms", {})
    context["forms"] = {
        "review": ReviewRequestForm(),
        "signoff": SignOffForm(roles=_signing_roles(request.user)),
        "promote": PromoteForm(initial={"replaces": context["production_version"] or ""}),
        "rollback": RollbackForm(initial={"replaces": context["production_version"] or ""}),
        "explain_row": ExplainRowForm(rows=_evaluation_rows(version)),
        "comment": CommentForm(),
        "resolve": ObjectionResolveForm(),
        **forms,
    }
    return render(request, "reviews/version_detail.html", context, status=status)


@login_required
def version_detail(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    """Everything a reviewer needs about one version, and the actions they may take."""
    return _render_version(request, version_for_user(request.user, name, version))


def _place_errors(form: forms.Form, exc: DomainError) -> None:
    """A domain refusal as errors on the form's fields, or above the form."""
    placed = False
    for key, msgs in exc.errors.items():
        if key in form.fields:
            for msg in msgs:
                form.add_error(key, msg)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _act(
    request: SignedInRequest,
    version: ModelVersion,
    form_name: str,
    form,
    action,
    success: str,
    *,
    anchor: str = "",
) -> HttpResponse:
    """Run a service with a valid form; domain refusals become errors on the form's fields."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as exc:
            _place_errors(form, exc)
        else:
            messages.success(request, success)
            return redirect(
                reverse("version-detail", args=[version.model.name, version.version])
                + f"#{anchor or form_name}"
            )
    return _render_version(request, version, status=400, **{form_name: form})


def _confirm_or_act(
    request: SignedInRequest,
    version: ModelVersion,
    form_name: str,
    form: PromoteForm | RollbackForm,
    action: str,
    act,
    success: str,
) -> HttpResponse:
    """A production change happens only from its confirmation step: a first post is checked
    as the service will check it, and answered with what it would replace; nothing changes
    until the confirmation's own post."""
    if not form.is_valid() or form.cleaned_data["confirmed"]:
        return _act(request, version, form_name, form, act, success)
    try:
        preview = services.version_switch_preview(
            actor=request.user,
            version=version,
            action=action,
            replaces=form.cleaned_data["replaces"],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        _place_errors(form, exc)
        return _render_version(request, version, status=400, **{form_name: form})
    return render(
        request,
        "reviews/version_confirm.html",
        {
            "model": version.model,
            "version": version,
            "preview": preview,
            "form_name": form_name,
            "reason": form.cleaned_data["reason"],
            "replaces": form.cleaned_data["replaces"],
            "rollback": action == ProductionEvent.Action.ROLLED_BACK,
        },
    )


@login_required
@require_POST
def request_review(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    obj = version_for_user(request.user, name, version)
    form = ReviewRequestForm(request.POST)
    return _act(
        request,
        obj,
        "review",
        form,
        lambda data: services.review_request(actor=request.user, version=obj, note=data["note"]),
        f"Review requested for {obj.version}.",
    )


@login_required
@require_POST
def sign_off(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    obj = version_for_user(request.user, name, version)
    form = SignOffForm(request.POST, roles=_signing_roles(request.user))
    decision_label = dict(Decision.choices).get(request.POST.get("decision", ""), "Decision")
    return _act(
        request,
        obj,
        "signoff",
        form,
        lambda data: services.signoff_record(
            actor=request.user,
            version=obj,
            decision=data["decision"],
            comment=data["comment"],
            password=data["password"],
            role=data["role"] or None,
            request=request,
        ),
        f"Signed: {decision_label.lower()} for {obj.version}.",
        anchor="signed",  # the form gives way to what was signed
    )


@login_required
@require_POST
def promote(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    obj = version_for_user(request.user, name, version)
    form = PromoteForm(request.POST)
    return _confirm_or_act(
        request,
        obj,
        "promote",
        form,
        ProductionEvent.Action.PROMOTED,
        lambda data: services.version_promote(
            actor=request.user, version=obj, reason=data["reason"], replaces=data["replaces"]
        ),
        f"{obj.version} is now in production.",
    )


@login_required
@require_POST
def rollback(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    obj = version_for_user(request.user, name, version)
    form = RollbackForm(request.POST)
    return _confirm_or_act(
        request,
        obj,
        "rollback",
        form,
        ProductionEvent.Action.ROLLED_BACK,
        lambda data: services.version_rollback(
            actor=request.user, version=obj, reason=data["reason"], replaces=data["replaces"]
        ),
        f"Rolled back: {obj.version} is in production again.",
    )


@login_required
@require_POST
def explain_row(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    obj = version_for_user(request.user, name, version)
    form = ExplainRowForm(request.POST, rows=_evaluation_rows(obj))
    return _act(
        request,
        obj,
        "explain_row",
        form,
        lambda data: explain_services.report_request(
            actor=request.user, version=obj, kind="lime", params={"rows": [data["row"]]}
        ),
        "Explanation of the row queued; it appears below when ready.",
    )


@login_required
@require_POST
def comment_post(request: SignedInRequest, name: str, version: str) -> HttpResponse:
    """Post in the version's review conversation; auditors read it (403), outsiders get 404."""
    obj = version_for_user(request.user, name, version)
    require(
        can_comment(request.user, obj), "Auditors read the conversation; they do not write in it."
    )
    form = CommentForm(request.POST)
    return _act(
        request,
        obj,
        "comment",
        form,
        lambda data: services.comment_post(
            actor=request.user,
            version=obj,
            body=data["body"],
            reply_to=data["reply_to"],
            objection=data["objection"],
        ),
        "Comment posted.",
    )


@login_required
@require_POST
def objection_resolve(
    request: SignedInRequest, name: str, version: str, objection_id: int
) -> HttpResponse:
    """Mark an objection answered: its raiser, a risk officer of the team, or an admin."""
    obj = version_for_user(request.user, name, version)
    objection = get_object_or_404(obj.objections, pk=objection_id)
    require(
        can_resolve_objection(request.user, objection),
        "Whoever raised the objection, a risk officer of the team or an admin resolves it.",
    )
    form = ObjectionResolveForm(request.POST)
    return _act(
        request,
        obj,
        "resolve",
        form,
        lambda data: services.objection_resolve(
            actor=request.user, objection=objection, note=data["note"]
        ),
        "Objection resolved.",
    )


@login_required
def version_bundle(request: SignedInRequest, name: str, version: str) -> FileResponse:
    """Download a version's bundle: auditors and admins; 404 for people outside the model."""
    obj = version_for_user(request.user, name, version)
    return bundles.bundle_response(bundles.bundle_export(actor=request.user, version=obj))
