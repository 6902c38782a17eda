"""Small template helpers."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from events.notifications import unread_count
from explain import kinds, presenters
from registry import roles
from registry.permissions import can_export_audit
from registry.types import AnyUser
from reviews.selectors import INBOX_COUNT_CAP
from reviews.selectors import inbox_counts as _inbox_counts

register = template.Library()


@register.filter
def dictget(mapping: dict | None, key: str) -> Any:
    """``mapping[key]``, or None."""
    return (mapping or {}).get(key)


@register.filter
def group_label(value: Any) -> str:
    """A group's value; intersections (lists) read as ``female & 25-40``."""
    if isinstance(value, list | tuple):
        return " & ".join(group_label(v) for v in value)
    return str(value)


@register.filter
def kind_label(kind: str) -> str:
    """A report kind's label, from its declaration."""
    return kinds.label(kind)


KPI_STATUS = {"met": "Met", "not_met": "Not met", "missing": "Missing"}


@register.filter
def kpi_status(value: str) -> str:
    """A KPI status in words."""
    return KPI_STATUS.get(value, value)


@register.filter
def can_export(user: AnyUser) -> bool:
    """Whether the user may export audit trails and bundles: auditors and admins."""
    return can_export_audit(user)


@register.filter
def role_label(value: str) -> str:
    """A role key in words (``risk_officer`` -> ``Risk officer``)."""
    return roles.role_label(value)


@register.filter
def approvals_in_words(required: dict[str, int] | None) -> str:
    """A policy's required approvals in words: ``1 reviewer, 1 risk officer``."""
    return roles.approvals_in_words(required)


@register.simple_tag
def kpi_bar(value: float | None, target: float | None, comparator: str) -> SafeString:
    """A KPI's value as a bar against its target's tick (``explain.presenters.kpi_bar``)."""
    return presenters.kpi_bar(value, target, comparator)


@register.simple_tag
def inbox_counts(user: AnyUser) -> dict[str, Any]:
    """The header's inbox counts (see ``reviews.selectors.inbox_counts``) and the person's
    unread notifications (one more query), with the total shown as ``99+`` past the cap."""
    counts = _inbox_counts(user)
    if getattr(user, "is_authenticated", False) and user.pk is not None:
        counts["unread"] = unread_count(user, cap=INBOX_COUNT_CAP)
    total = sum(counts.values())
    return {
        **counts,
        "total": total,
        "shown": f"{INBOX_COUNT_CAP}+" if total > INBOX_COUNT_CAP else str(total),
    }
