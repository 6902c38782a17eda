"""Review reads shared by the UI and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.permissions import visible_models
from registry.roles import has_capability
from registry.types import AnyUser

from . import permissions as rules
from .models import Comment, Objection, ObjectionState, ProductionEvent

# The header counts stop here ("99+"): a count costs the same however much waits.
INBOX_COUNT_CAP = 99


def production_events(model: RegisteredModel) -> QuerySet[ProductionEvent]:
    """A model's production changes, newest first."""
    return model.production_events.select_related("version", "replaced", "actor").order_by(
        "-at", "-pk"
    )


def comments_of(version: ModelVersion) -> QuerySet[Comment]:
    """A version's review conversation in the order it was written, with each author."""
    return version.comments.select_related("author").order_by("created_at", "pk")


def objections_of(version: ModelVersion) -> QuerySet[Objection]:
    """A version's objections in the order raised, with the sign-off each stands for and the
    people named on it."""
    return (
        version.objections.select_related("signoff", "raised_by", "owner", "resolved_by")
        .defer("signoff__subject")
        .order_by("created_at", "pk")
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One stretch of production: which version, from when to when, who approved, why it ended."""

    event: ProductionEvent
    until: datetime | None
    ended_by: ProductionEvent | None


def timeline(model: RegisteredModel) -> list[TimelineEntry]:
    """Every stretch a version spent in production, newest first."""
    events = list(production_events(model))
    entries = []
    for index, event in enumerate(events):
        later = events[index - 1] if index > 0 else None
        entries.append(TimelineEntry(event, later.at if later else None, later))
    return entries


def production_at(model: RegisteredModel, moment: datetime) -> TimelineEntry | None:
    """What was in production at ``moment``, or None."""
    for entry in timeline(model):
        if entry.event.at <= moment:
            return entry
    return None


def inbox_counts(user: AnyUser) -> dict[str, int]:
    """The header's counts: versions in review that wait for the person's sign-off (people
    who sign), and open objections on their teams' versions (people who request reviews).
    One bounded query for each that applies, none for the others; capped past
    ``INBOX_COUNT_CAP``."""
    counts: dict[str, int] = {}
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return counts
    visible = visible_models(user).values("pk")
    if rules.signing_roles(user):
        waiting = ModelVersion.objects.filter(
            model__in=visible, status=VersionStatus.IN_REVIEW
        ).exclude(signoffs__user_id=user.pk)
        counts["waiting"] = waiting.values("pk")[: INBOX_COUNT_CAP + 1].count()
    if has_capability(user, "can_request_review"):
        asked = Objection.objects.filter(
            state=ObjectionState.OPEN,
            version__model__in=visible,
            version__status__in=rules.REREVIEW_FROM,
        )
        counts["asked"] = asked.values("pk")[: INBOX_COUNT_CAP + 1].count()
    return counts
