"""Webhook pages: a model's or a team's webhooks with the form that adds one, and one
webhook's page with its deliveries and the actions on it (test, redeliver, rotate the secret,
enable, disable, change, delete). Admins and the owning team's ML engineers; others who see
the model or team are refused (403), outsiders never learn it exists (404). A new secret is
shown once, on the page that answers its creation, never stored anywhere else."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from events import selectors, services
from events.models import Subscription
from events.permissions import can_manage_subscription, can_manage_webhooks
from registry.audit.actions import ACTIONS
from registry.errors import DomainError
from registry.models import RegisteredModel, Team
from registry.permissions import require
from registry.selectors import model_for_user
from registry.types import SignedInRequest

from ..forms import RedeliverForm, SubscriptionForm

DELIVERIES_PER_PAGE = 25


def _families() -> list[str]:
    """The event-type families a subscription may name (``version.*``), for the form's help."""
    return sorted({f"{action.key.split('.', 1)[0]}.*" for action in ACTIONS})


def _field_errors(form: SubscriptionForm, exc: DomainError) -> None:
    """A service's refusal on the form: under the field it names, or above the form."""
    for field, msgs in exc.errors.items():
        for msg in msgs:
            form.add_error(field if field in form.fields else None, msg)
    if not exc.errors:
        form.add_error(None, exc.message)


def _scope_page(
    request: SignedInRequest,
    *,
    team: Team | None = None,
    model: RegisteredModel | None = None,
) -> HttpResponse:
    """GET: the webhooks and the form. POST: create one, then show its secret once."""
    form = SubscriptionForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                created = services.subscription_create(
                    actor=request.user, team=team, model=model, **form.cleaned_data
                )
            except DomainError as exc:
                _field_errors(form, exc)
            else:
                return _secret_page(request, created, created_now=True)
    context = {
        "team": team,
        "model": model,
        "subscriptions": selectors.subscriptions_of(team=team, model=model),
        "form": form,
        "families": _families(),
    }
    return render(request, "events/webhook_list.html", context, status=status)


def _secret_page(
    request: SignedInRequest, subscription: Subscription, *, created_now: bool
) -> HttpResponse:
    """The one page that shows a secret whole: after creation, and after a rotation."""
    context = {"subscription": subscription, "created_now": created_now}
    return render(request, "events/webhook_secret.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def model_webhooks(request: SignedInRequest, name: str) -> HttpResponse:
    """A model's webhooks, and the form that adds one."""
    model = model_for_user(request.user, name)
    require(can_manage_webhooks(request.user, model=model), services.REFUSED)
    return _scope_page(request, model=model)


@login_required
@require_http_methods(["GET", "POST"])
def team_webhooks(request: SignedInRequest, slug: str) -> HttpResponse:
    """A team's webhooks (every model of the team), and the form that adds one."""
    team = selectors.team_for_user(request.user, slug)
    require(can_manage_webhooks(request.user, team=team), services.REFUSED)
    return _scope_page(request, team=team)


def _managed(request: SignedInRequest, webhook_id: int) -> Subscription:
    subscription = selectors.subscription_for_user(request.user, webhook_id)
    require(can_manage_subscription(request.user, subscription), services.REFUSED)
    return subscription


def _back(subscription: Subscription) -> str:
    if subscription.model is not None:
        return reverse("model-webhooks", args=[subscription.model.name])
    assert subscription.team is not None  # a subscription has one of the two
    return reverse("team-webhooks", args=[subscription.team.slug])


def _detail(
    request: SignedInRequest,
    subscription: Subscription,
    *,
    form: SubscriptionForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    deliveries = selectors.deliveries_of(subscription).prefetch_related("attempt_log")
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    initial: dict[str, Any] = {
        "url": subscription.url,
        "event_types": ", ".join(subscription.event_types),
        "description": subscription.description,
    }
    context = {
        "subscription": subscription,
        "secret_hint": selectors.secret_hint(subscription.secret),
        "deliveries": page.object_list,
        "page_obj": page,
        "failed": selectors.failed_count(subscription),
        "form": form or SubscriptionForm(initial=initial, auto_id="edit_%s"),
        "error": error,
        "back": _back(subscription),
        "families": _families(),
    }
    return render(request, "events/webhook_detail.html", context, status=status)


@login_required
def webhook_detail(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    """One webhook: its settings, its deliveries (each with its attempts) and the actions."""
    return _detail(request, _managed(request, webhook_id))


@login_required
@require_POST
def webhook_edit(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    """Change the URL, the event types or the description."""
    subscription = _managed(request, webhook_id)
    form = SubscriptionForm(request.POST, auto_id="edit_%s")
    if form.is_valid():
        try:
            services.subscription_update(
                actor=request.user, subscription=subscription, **form.cleaned_data
            )
        except DomainError as exc:
            _field_errors(form, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("webhook-detail", webhook_id=subscription.pk)
    return _detail(request, subscription, form=form, status=400)


def _act(request: SignedInRequest, subscription: Subscription, verb, done: str) -> HttpResponse:
    """Do one action; back to the webhook's page, or the page again with the refusal."""
    try:
        verb(actor=request.user, subscription=subscription)
    except DomainError as exc:
        return _detail(request, subscription, error=exc.message, status=exc.status_code)
    messages.success(request, done)
    return redirect("webhook-detail", webhook_id=subscription.pk)


@login_required
@require_POST
def webhook_test(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    """Send a test event to this webhook."""
    subscription = _managed(request, webhook_id)
    return _act(
        request,
        subscription,
        services.subscription_test,
        "Test event queued: it appears below as a webhook.tested delivery.",
    )


@login_required
@require_POST
def webhook_enable(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    subscription = _managed(request, webhook_id)
    return _act(request, subscription, services.subscription_enable, "Webhook enabled.")


@login_required
@require_POST
def webhook_disable(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    subscription = _managed(request, webhook_id)
    return _act(request, subscription, services.subscription_disable, "Webhook disabled.")


@login_required
@require_POST
def webhook_redeliver(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    """Send one delivery again (``delivery``), or every failed one (``failed``)."""
    subscription = _managed(request, webhook_id)
    form = RedeliverForm(request.POST)
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _detail(request, subscription, error=error, status=400)
    one = form.cleaned_data.get("delivery")
    try:
        count = services.delivery_redeliver(
            actor=request.user,
            subscription=subscription,
            delivery_ids=[one] if one else None,
            only_failed=not one,
        )
    except DomainError as exc:
        return _detail(request, subscription, error=exc.message, status=exc.status_code)
    messages.success(request, f"{count} deliver{'y' if count == 1 else 'ies'} queued again.")
    return redirect("webhook-detail", webhook_id=subscription.pk)


@login_required
@require_POST
def webhook_rotate_secret(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    """A new secret, shown once; the old one signs alongside it for 24 hours."""
    subscription = _managed(request, webhook_id)
    try:
        rotated = services.subscription_rotate_secret(actor=request.user, subscription=subscription)
    except DomainError as exc:
        return _detail(request, subscription, error=exc.message, status=exc.status_code)
    return _secret_page(request, rotated, created_now=False)


@login_required
@require_POST
def webhook_delete(request: SignedInRequest, webhook_id: int) -> HttpResponse:
    """Delete the webhook with its deliveries; back to the list it was on."""
    subscription = _managed(request, webhook_id)
    back = _back(subscription)
    services.subscription_delete(actor=request.user, subscription=subscription)
    messages.success(request, f"Webhook to {subscription.url} deleted.")
    return redirect(back)
