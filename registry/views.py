"""Registry web pages: thin views over selectors and services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .errors import DomainError
from .models import ApiToken


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    """The models the user may see."""
    models = selectors.models_visible_to(request.user)
    return render(request, "registry/model_list.html", {"models": models})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """The user's roles, teams and personal API tokens."""
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "registry/profile.html", {"tokens": tokens})


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Issue a personal token and show its secret once."""
    name = request.POST.get("name", "").strip() or "Personal token"
    issued = services.token_issue(actor=request.user, user=request.user, name=name[:200])
    tokens = ApiToken.objects.filter(user=request.user)
    messages.success(
        request, f"Token “{issued.token.name}” created. Copy it now: it is not shown again."
    )
    return render(request, "registry/profile.html", {"tokens": tokens, "new_secret": issued.secret})


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens."""
    token = ApiToken.objects.filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    try:
        services.token_revoke(actor=request.user, token=token)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("profile")
