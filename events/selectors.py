"""Reads of webhook subscriptions, their deliveries and attempts, shared by the API and the
pages, already filtered by who may see them."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from registry.errors import NotFound
from registry.models import ApiToken, RegisteredModel, Team
from registry.permissions import can_view_model, is_admin, is_service_account
from registry.roles import has_capability
from registry.types import AnyUser

from .models import Attempt, Delivery, DeliveryStatus, Subscription


def secret_hint(secret: str) -> str:
    """A secret as shown after its creation: its prefix and last four characters."""
    return f"whsec_…{secret[-4:]}" if secret else ""


def _with_last_delivery(subscriptions: QuerySet[Subscription]) -> QuerySet[Subscription]:
    last = Delivery.objects.filter(subscription=OuterRef("pk")).order_by("-pk")
    return subscriptions.select_related("team", "model").annotate(
        last_delivery_at=Subquery(last.values("created_at")[:1]),
        last_delivery_status=Subquery(last.values("status")[:1]),
    )


def subscriptions_visible_to(user: AnyUser) -> QuerySet[Subscription]:
    """The subscriptions ``user`` may manage (``permissions.can_manage_webhooks`` as a
    filter): admins all; ML engineers those of their teams and their teams' models."""
    if is_service_account(user) or not getattr(user, "is_authenticated", False):
        return Subscription.objects.none()
    if is_admin(user):
        rows = Subscription.objects.all()
    elif has_capability(user, "can_manage_models"):
        rows = Subscription.objects.filter(
            Q(team__members=user) | Q(model__owner_team__members=user)
        ).distinct()
    else:
        return Subscription.objects.none()
    return _with_last_delivery(rows).order_by("pk")


def subscriptions_of(
    *, team: Team | None = None, model: RegisteredModel | None = None
) -> QuerySet[Subscription]:
    """A team's or a model's own subscriptions, each with its last delivery."""
    if model is not None:
        rows = Subscription.objects.filter(model=model)
    elif team is not None:
        rows = Subscription.objects.filter(team=team)
    else:
        rows = Subscription.objects.none()
    return _with_last_delivery(rows).order_by("pk")


def team_visible(user: AnyUser, team: Team, token: ApiToken | None = None) -> bool:
    """Whether the team exists as far as ``user`` is concerned: its members, those who see
    every model, and CI tokens scoped to it."""
    if is_service_account(user):
        return (
            token is not None and token.is_active and token.scope_teams.filter(pk=team.pk).exists()
        )
    if has_capability(user, "sees_all_models"):
        return True
    return user.pk is not None and team.members.filter(pk=user.pk).exists()


def team_for_user(user: AnyUser, slug: str, token: ApiToken | None = None) -> Team:
    """The team, or NotFound for those it is not visible to."""
    team = Team.objects.filter(slug=slug).first()
    if team is None or not team_visible(user, team, token):
        raise NotFound(f"No team named {slug!r}.")
    return team


def subscription_for_user(user: AnyUser, pk: int, token: ApiToken | None = None) -> Subscription:
    """The subscription, or NotFound when its team or model is not visible to ``user``
    (whether they may manage it is the services' question)."""
    subscription = Subscription.objects.select_related("team", "model__owner_team").filter(pk=pk)
    found = subscription.first()
    visible = found is not None and (
        can_view_model(user, found.model, token)
        if found.model is not None
        else found.team is not None and team_visible(user, found.team, token)
    )
    if found is None or not visible:
        raise NotFound(f"No webhook {pk}.")
    return found


def deliveries_of(subscription: Subscription) -> QuerySet[Delivery]:
    """A subscription's deliveries, newest first, each with its last attempt's answer."""
    last = Attempt.objects.filter(delivery=OuterRef("pk")).order_by("-pk")
    return (
        Delivery.objects.filter(subscription=subscription)
        .annotate(
            last_status_code=Subquery(last.values("status_code")[:1]),
            last_error=Subquery(last.values("error")[:1]),
            last_attempt_at=Subquery(last.values("started_at")[:1]),
        )
        .order_by("-pk")
    )


def delivery_of(subscription: Subscription, pk: int) -> Delivery:
    """One delivery of the subscription, or NotFound."""
    delivery = deliveries_of(subscription).filter(pk=pk).first()
    if delivery is None:
        raise NotFound(f"Webhook {subscription.pk} has no delivery {pk}.")
    return delivery


def attempts_of(delivery: Delivery) -> QuerySet[Attempt]:
    """A delivery's HTTP attempts, newest first."""
    return Attempt.objects.filter(delivery=delivery).order_by("-pk")


def failed_count(subscription: Subscription) -> int:
    """How many of the subscription's deliveries gave up."""
    return Delivery.objects.filter(subscription=subscription, status=DeliveryStatus.FAILED).count()
