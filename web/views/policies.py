"""A model's review policy editor: the form, then the change shown old against new, then the
save (``reviews.services.policy_update``, audited). Risk officers of the owning team and
admins; others who see the model are refused (403), outsiders never learn it exists (404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from registry.errors import DomainError
from registry.models import RegisteredModel
from registry.permissions import require
from registry.selectors import model_for_user
from registry.types import SignedInRequest
from reviews import permissions as rules
from reviews import services
from reviews.policies import policy_current

from ..forms import APPROVING_ROLES, PolicyForm, approvals_field
from ..pages.policy import policy_change

REFUSED = "Only risk officers of the owning team and admins change review policies."


def _render(
    request: SignedInRequest,
    model: RegisteredModel,
    form: PolicyForm,
    *,
    preview: bool = False,
    status: int = 200,
) -> HttpResponse:
    """The form, or (``preview``) the change it makes, old against new, to confirm."""
    current = policy_current(model)
    context = {
        "model": model,
        "policy": current,
        "form": form,
        "preview": policy_change(model, current, form.changes()) if preview else None,
    }
    return render(request, "reviews/policy_edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def policy_edit(request: SignedInRequest, name: str) -> HttpResponse:
    """GET: the form. POST: the change old against new; POST with ``confirmed``: save it."""
    model = model_for_user(request.user, name)
    require(rules.can_change_policy(request.user, model), REFUSED)
    if request.method == "GET":
        return _render(
            request, model, PolicyForm(initial=PolicyForm.initial_from(policy_current(model)))
        )
    form = PolicyForm(request.POST)
    if not form.is_valid():
        return _render(request, model, form, status=400)
    if "edit" in request.POST:
        # Back from the preview to the form, with the values as they were typed.
        return _render(request, model, form)
    current = policy_current(model)
    if form.cleaned_data["revision"] != current.revision:
        # The change was decided against a policy that is gone: the form again, now based on
        # the current revision, so the next step compares with what is really there.
        seen = form.cleaned_data["revision"]
        data = request.POST.copy()
        data["revision"] = str(current.revision)
        form = PolicyForm(data)
        form.is_valid()
        form.add_error(
            None, f"The policy is now r{current.revision}, not r{seen}; review the change again."
        )
        return _render(request, model, form, status=409)
    if not form.cleaned_data["confirmed"]:
        return _render(request, model, form, preview=True)
    try:
        policy = services.policy_update(
            actor=request.user,
            model=model,
            base_revision=form.cleaned_data["revision"],
            **form.changes(),
        )
    except DomainError as exc:
        for field, msgs in exc.errors.items():
            # The approvals are one field in the service and one per role here; the
            # revision is hidden, so its refusal reads above the form.
            target = approvals_field(APPROVING_ROLES[0]) if field == "required_approvals" else field
            for msg in msgs:
                form.add_error(
                    target if target in form.fields and target != "revision" else None, msg
                )
        if not exc.errors:
            form.add_error(None, exc.message)
        return _render(request, model, form, status=400)
    if policy.revision == current.revision and current.pk:
        messages.info(request, f"Nothing changed: the review policy stays r{policy.revision}.")
    else:
        messages.success(request, f"Review policy r{policy.revision} saved.")
    return redirect(reverse("model-detail", args=[model.name]))
