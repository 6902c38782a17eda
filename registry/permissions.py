"""Who may do what to which model: pure predicates, written once.

Services enforce them with ``require(predicate(...), message)``; pages ask the same functions
whether to show a button. Visibility is one rule, ``model_visibility``: list pages and the API
apply it through ``visible_models(user)`` (as NetBox's ``RestrictedQuerySet.restrict``), and
``can_view_model`` asks it about one model. The review and report rules live in ``reviews.permissions`` and
``explain.permissions`` and build on these.
"""

from __future__ import annotations

from typing import TypeGuard

from django.db.models import Q, QuerySet

from .errors import NotAllowed
from .models import ApiToken, RegisteredModel, Team
from .roles import Role, has_capability, roles_of
from .types import Actor, AnyUser


def require(allowed: bool, message: str) -> None:
    """Refuse with ``NotAllowed(message)`` unless ``allowed``: how every service enforces a
    predicate of this module or of an app's ``permissions``."""
    if not allowed:
        raise NotAllowed(message)


def is_service_account(user: AnyUser) -> TypeGuard[Actor]:
    """True for CI accounts, which act only through scoped tokens."""
    return hasattr(user, "service_account")


def is_admin(user: AnyUser) -> bool:
    """Admins (superusers count as admins)."""
    return Role.ADMIN in roles_of(user)


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


# --- visibility ----------------------------------------------------------------------------


def model_visibility(user: AnyUser, token: ApiToken | None = None) -> Q | None:
    """The one visibility rule, as a filter on registered models: ``None`` when the user sees
    nothing, an empty ``Q()`` when they see everything. CI accounts see their token's scope;
    auditors and admins every model; other people the models of their teams."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if is_service_account(user):
        if token is None or not token.is_active:
            return None
        return Q(pk__in=token.scope_models.values("pk")) | Q(
            owner_team__in=token.scope_teams.values("pk")
        )
    if has_capability(user, "sees_all_models"):
        return Q()
    if not roles_of(user):
        return None
    return Q(owner_team__members=user)


def visible_models(user: AnyUser, token: ApiToken | None = None) -> QuerySet[RegisteredModel]:
    """The models ``user`` (or a CI ``token``) may know exist: every list page, API endpoint
    and selector starts here."""
    rule = model_visibility(user, token)
    return RegisteredModel.objects.none() if rule is None else RegisteredModel.objects.filter(rule)


def can_view_model(user: AnyUser, model: RegisteredModel, token: ApiToken | None = None) -> bool:
    """Whether the model exists as far as this user (and token) is concerned."""
    rule = model_visibility(user, token)
    if rule is None:
        return False
    if not rule:
        return True
    return RegisteredModel.objects.filter(rule, pk=model.pk).exists()


def person_sees_model(user: AnyUser, model: RegisteredModel) -> bool:
    """A person (never a CI account) who may see the model: the first condition of every
    action taken in the web UI."""
    return not is_service_account(user) and can_view_model(user, model)


# --- models and versions -------------------------------------------------------------------


def can_register_version(
    user: AnyUser, model: RegisteredModel, token: ApiToken | None = None
) -> bool:
    """CI tokens scoped to the model, and ML engineers of the owning team (or admins)."""
    if is_service_account(user):
        return user.service_account.revoked_at is None and token_covers(token, model)
    if is_admin(user):
        return True
    return has_capability(user, "can_register") and is_team_member(user, model)


def can_manage_model(user: AnyUser, model: RegisteredModel) -> bool:
    """Edit the model's description and objectives: its ML engineers, or admins."""
    if is_service_account(user):
        return False
    if is_admin(user):
        return True
    return has_capability(user, "can_manage_models") and is_team_member(user, model)


def can_create_model(user: AnyUser, team: Team) -> bool:
    """ML engineers create models for their own teams; admins for any team."""
    if is_service_account(user):
        return False
    if is_admin(user):
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


# --- accounts ------------------------------------------------------------------------------


def can_issue_token(actor: Actor | None, user: Actor) -> bool:
    """People issue their own tokens; admins (and the system, ``actor=None``) anyone's."""
    return actor is None or actor == user or is_admin(actor)


def can_revoke_token(actor: Actor, token: ApiToken) -> bool:
    """People revoke their own tokens; admins anyone's."""
    return actor == token.user or is_admin(actor)


def can_create_team(actor: Actor | None) -> bool:
    """Admins (and the system, ``actor=None``) create teams."""
    return actor is None or is_admin(actor)


# --- the audit trail -------------------------------------------------------------------------


def can_export_audit(user: AnyUser) -> bool:
    """Export the whole audit trail (and version bundles): auditors and admins."""
    return has_capability(user, "can_export")


def can_verify_chain(user: AnyUser) -> bool:
    """Verify the audit chain now, or read its head as an anchor: auditors and admins."""
    return has_capability(user, "can_export")
