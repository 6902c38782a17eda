"""Signing in, and a person's own page: roles, teams and personal API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from events import notifications
from registry import services
from registry.accounts import LockoutMessageMixin
from registry.errors import DomainError
from registry.models import ApiToken
from registry.types import SignedInRequest


class LoginForm(LockoutMessageMixin, AuthenticationForm):
    """The login form."""


class LoginView(auth_views.LoginView):
    """Log in; a locked-out attempt answers 429 with Retry-After."""

    authentication_form = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        locked = getattr(form, "locked", None)
        if locked is not None:
            response.status_code = 429
            response["Retry-After"] = str(locked.retry_after)
        return response


# Lifetimes offered on the profile page, capped by GATEHOUSE_TOKEN_DAYS when it is set.
TOKEN_DAY_CHOICES = (7, 30, 90, 180, 365)


def _token_context(request: SignedInRequest, **extra) -> dict:
    limit = settings.GATEHOUSE_TOKEN_DAYS
    choices = [d for d in TOKEN_DAY_CHOICES if not limit or d <= limit]
    if limit and limit not in choices:
        choices.append(limit)
    wanted = notifications.email_wanted_by(request.user)
    return {
        "tokens": ApiToken.objects.filter(user=request.user),
        "day_choices": choices,
        "default_days": limit,
        "email_kinds": [
            {"key": kind.key, "label": label, "email": wanted[kind.key]}
            for kind, label in notifications.email_choices()
        ],
        **extra,
    }


@login_required
def profile(request: SignedInRequest) -> HttpResponse:
    """The user's roles, teams, personal API tokens and e-mail choices."""
    return render(request, "registry/profile.html", _token_context(request))


@login_required
@require_POST
def token_create(request: SignedInRequest) -> HttpResponse:
    """Issue a personal token and show its secret once."""
    name = request.POST.get("name", "").strip() or "Personal token"
    raw_days = request.POST.get("days", "").strip()
    try:
        days = int(raw_days) if raw_days else None
        issued = services.token_issue(
            actor=request.user, user=request.user, name=name[:200], days=days
        )
    except (ValueError, DomainError) as exc:
        message = exc.message if isinstance(exc, DomainError) else "Choose a lifetime in days."
        messages.error(request, message)
        return render(request, "registry/profile.html", _token_context(request), status=400)
    messages.success(
        request, f"Token “{issued.token.name}” created. Copy it now: it is not shown again."
    )
    return render(
        request, "registry/profile.html", _token_context(request, new_secret=issued.secret)
    )


@login_required
@require_POST
def email_choices(request: SignedInRequest) -> HttpResponse:
    """Save which notifications the person receives by e-mail (one checkbox per kind)."""
    try:
        notifications.email_choices_set(actor=request.user, wanted=request.POST.getlist("email"))
    except DomainError as exc:
        messages.error(request, exc.message)
        return render(request, "registry/profile.html", _token_context(request), status=400)
    messages.success(request, "Your e-mail choices are saved.")
    return redirect("profile")


@login_required
@require_POST
def token_revoke(request: SignedInRequest, pk: int) -> HttpResponse:
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
