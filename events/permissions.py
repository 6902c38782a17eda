"""Who may manage webhooks: one predicate, used by the services, the API and the pages."""

from __future__ import annotations

from registry import permissions as registry_rules
from registry.models import RegisteredModel, Team
from registry.types import AnyUser

from .models import Subscription


def can_manage_webhooks(
    user: AnyUser, *, team: Team | None = None, model: RegisteredModel | None = None
) -> bool:
    """Admins, and the ML engineers of the owning team (of the model, or the team itself)."""
    if model is not None:
        return registry_rules.can_manage_model(user, model)
    if team is not None:
        return registry_rules.can_create_model(user, team)
    return False


def can_manage_subscription(user: AnyUser, subscription: Subscription) -> bool:
    """The predicate above, for the subscription's own scope."""
    return can_manage_webhooks(user, team=subscription.team, model=subscription.model)
