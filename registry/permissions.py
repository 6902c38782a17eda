"""Who may do what to which model. Services call these; views never decide access."""

from __future__ import annotations

from typing import TypeGuard

from .models import ApiToken, RegisteredModel, Team
from .roles import Role, has_capability, roles_of
from .types import Actor, AnyUser


def is_service_account(user: AnyUser) -> TypeGuard[Actor]:
    """True for CI accounts, which act only through scoped tokens."""
    return hasattr(user, "service_account")


def is_team_member(user: AnyUser, model: RegisteredModel) -> bool:
    """Whether the user belongs to the team that owns the model."""
    return user.pk is not None and model.owner_team.members.filter(pk=user.pk).exists()


def token_covers(token: ApiToken | None, model: RegisteredModel) -> bool:
    """Whether a CI token's scope includes the model, directly or through its team."""
    if token is None or not token.is_active:
        return False
    return (
        token.scope_models.filter(pk=model.pk).exists()
        or token.scope_teams.filter(pk=model.owner_team_id).exists()
    )


def can_view_model(user: AnyUser, model: RegisteredModel, token: ApiToken | None = None) -> bool:
    """Whether the model exists as far as this user (and token) is concerned."""
    if is_service_account(user):
        return token_covers(token, model)
    if has_capability(user, "sees_all_models"):
        return True
    return bool(roles_of(user)) and is_team_member(user, model)


def can_register_version(
    user: AnyUser, model: RegisteredModel, token: ApiToken | None = None
) -> bool:
    """CI tokens scoped to the model, and ML engineers of the owning team (or admins)."""
    if is_service_account(user):
        return user.service_account.revoked_at is None and token_covers(token, model)
    if Role.ADMIN in roles_of(user):
        return True
    return has_capability(user, "can_register") and is_team_member(user, model)


def can_manage_model(user: AnyUser, model: RegisteredModel) -> bool:
    """Edit the model's description and objectives: its ML engineers, or admins."""
    if is_service_account(user):
        return False
    if Role.ADMIN in roles_of(user):
        return True
    return has_capability(user, "can_manage_models") and is_team_member(user, model)


def can_create_model(user: AnyUser, team: Team) -> bool:
    """ML engineers create models for their own teams; admins for any team."""
    if is_service_account(user):
        return False
    if Role.ADMIN in roles_of(user):
        return True
    return (
        has_capability(user, "can_manage_models")
        and user.pk is not None
        and team.members.filter(pk=user.pk).exists()
    )


def can_set_risk_tier(user: AnyUser, model: RegisteredModel) -> bool:
    """Change a model's risk tier or its review policy: risk officers of the owning team, and
    admins. The team that builds the model never governs it (the tier picks its reviewers)."""
    if is_service_account(user):
        return False
    roles = roles_of(user)
    if Role.ADMIN in roles:
        return True
    return Role.RISK_OFFICER in roles and is_team_member(user, model)
