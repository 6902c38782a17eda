"""Review reads shared by the UI and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from registry.models import RegisteredModel

from .models import ProductionEvent


def production_events(model: RegisteredModel) -> QuerySet[ProductionEvent]:
    """A model's production changes, newest first."""
    return model.production_events.select_related("version", "replaced", "actor").order_by(
        "-at", "-pk"
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
