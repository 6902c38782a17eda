"""Roles: named choices with the capabilities each one carries.

A person's roles are the Django groups they belong to (one group per role, created by a
migration). Which models they see is decided by their teams; see ``registry.selectors``.
"""

from __future__ import annotations

from django.db import models

from .types import AnyUser


class Role(models.TextChoices):
    """A role a person holds; each is a Django group of the same name."""

    ML_ENGINEER = "ml_engineer", "ML engineer"
    REVIEWER = "reviewer", "Reviewer"
    RISK_OFFICER = "risk_officer", "Risk officer"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"

    @property
    def can_register(self) -> bool:
        return self in (Role.ML_ENGINEER, Role.ADMIN)

    @property
    def can_manage_models(self) -> bool:
        return self in (Role.ML_ENGINEER, Role.ADMIN)

    @property
    def can_request_review(self) -> bool:
        return self in (Role.ML_ENGINEER, Role.ADMIN)

    @property
    def can_sign_off(self) -> bool:
        return self in (Role.REVIEWER, Role.RISK_OFFICER)

    @property
    def can_override(self) -> bool:
        return self is Role.RISK_OFFICER

    @property
    def can_promote(self) -> bool:
        return self in (Role.RISK_OFFICER, Role.ADMIN)

    @property
    def sees_all_models(self) -> bool:
        return self in (Role.AUDITOR, Role.ADMIN)

    @property
    def can_export(self) -> bool:
        return self in (Role.AUDITOR, Role.ADMIN)


def role_label(value: str) -> str:
    """A role key in words (``risk_officer`` -> ``Risk officer``); an unknown key as it is."""
    return str(Role(value).label) if value in Role.values else str(value)


def approvals_in_words(required: dict[str, int] | None) -> str:
    """Required approvals by role, in words: ``1 reviewer, 1 risk officer``."""
    words = [
        f"{n} {role_label(role).lower()}{'' if n == 1 else 's'}"
        for role, n in (required or {}).items()
    ]
    return ", ".join(words) or "none"


def roles_of(user: AnyUser) -> frozenset[Role]:
    """The roles a user holds, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_gatehouse_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        if user.is_superuser:
            cached |= {Role.ADMIN}
        user._gatehouse_roles = cached  # type: ignore[attr-defined]  # cached for the request
    return cached


def has_capability(user: AnyUser, capability: str) -> bool:
    """True when one of the user's roles carries ``capability`` (a Role property name)."""
    return any(getattr(role, capability) for role in roles_of(user))
