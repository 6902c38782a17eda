"""Reads of the trail for the audit page, the API and the exports."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from ..models import AuditChainHead, AuditEvent
from .actions import ACTIONS

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditPage:
    """One page of events, newest first, and the cursors to the pages next to it."""

    events: list[AuditEvent]
    newer: int | None  # ?after= for the newer page
    older: int | None  # ?before= for the older page


def audit_page(
    queryset: QuerySet[AuditEvent],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditPage:
    """A page by sequence number: never OFFSET, never COUNT; one query, plus one EXISTS
    when the page was reached from a cursor."""
    if after is not None:
        rows = list(queryset.filter(seq__gt=after).order_by("seq")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        bound = rows[-1].seq if rows else after + 1
        more_older = queryset.filter(seq__lt=bound).exists()
    else:
        page = queryset.order_by("-seq")
        if before is not None:
            page = page.filter(seq__lt=before)
        rows = list(page[: size + 1])
        more_older = len(rows) > size
        rows = rows[:size]
        more_newer = before is not None and (
            queryset.filter(seq__gt=rows[0].seq if rows else before - 1).exists()
        )
    return AuditPage(
        events=rows,
        newer=rows[0].seq if rows and more_newer else None,
        older=rows[-1].seq if rows and more_older else None,
    )


def recent_values(queryset: QuerySet[AuditEvent], field: str, window: int = 2000) -> list[str]:
    """Distinct values of ``field`` among the newest events: choices for the filter inputs
    without scanning the table."""
    newest = queryset.order_by("-seq").values_list(field, flat=True)[:window]
    return sorted({value for value in newest if value})


def chain_head() -> AuditChainHead:
    """Where the chain ends now."""
    return AuditChainHead.objects.get(pk=1)


def action_choices() -> list[tuple[str, str]]:
    """Every declared action and its description, for the action filter: an action still
    filters when its last event is old, and before its first one."""
    return ACTIONS.choices()


def last_verification() -> AuditEvent | None:
    """The newest ``audit.verified`` event, read by the (action, seq) index."""
    return AuditEvent.objects.filter(action="audit.verified").order_by("-seq").first()
