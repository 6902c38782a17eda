"""What a person asks to see of the trail: the filters shared by the page, the API and the
export, and the form that reads them from a query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..models import AuditEvent

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class AuditFilters:
    """What a person asked to see: exact model and actor, an action (``version.`` is a
    prefix), and a time range ``[since, until)``."""

    model: str = ""
    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None
    raw_from: str = ""
    raw_to: str = ""

    def apply(self, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.model:
            queryset = queryset.filter(model_name=self.model)
        if self.actor:
            queryset = queryset.filter(actor_name=self.actor)
        if self.action.endswith("."):
            queryset = queryset.filter(action__startswith=self.action)
        elif self.action:
            queryset = queryset.filter(action=self.action)
        if self.since is not None:
            queryset = queryset.filter(created_at__gte=self.since)
        if self.until is not None:
            queryset = queryset.filter(created_at__lt=self.until)
        return queryset

    def as_payload(self) -> dict[str, str]:
        """The filters as given, for the audit event that records an export."""
        given = {
            "model": self.model,
            "actor": self.actor,
            "action": self.action,
            "from": self.raw_from,
            "to": self.raw_to,
        }
        return {key: value for key, value in given.items() if value}

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them."""
        return self.as_payload()


def parse_bound(text: str, *, end: bool) -> datetime:
    """A date (the whole day, in the server's time zone) or an ISO 8601 date and time.

    Returns the inclusive start for ``from`` and the exclusive end for ``to``.
    """
    text = text.strip()
    moment: datetime | None
    try:
        day = parse_date(text) if len(text) <= 10 else None
        moment = None if day else parse_datetime(text.replace(" ", "T", 1))
    except ValueError:
        day, moment = None, None
    if day is not None:
        start = timezone.make_aware(datetime.combine(day, dtime.min))
        return start + timedelta(days=1) if end else start
    if moment is None:
        raise forms.ValidationError(
            "Enter a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM[:SS][+zone]).",
            code="invalid",
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment + _ONE_MICROSECOND if end else moment


class AuditFilterForm(forms.Form):
    """The filters and the page cursor, from a query string; errors name their field."""

    model = forms.CharField(
        required=False,
        max_length=100,
        label="Model",
        widget=forms.TextInput(attrs={"list": "audit-models", "autocomplete": "off"}),
    )
    actor = forms.CharField(
        required=False,
        max_length=200,
        label="Actor",
        widget=forms.TextInput(attrs={"list": "audit-actors", "autocomplete": "off"}),
    )
    action = forms.CharField(
        required=False,
        max_length=100,
        label="Action",
        help_text="Exact, or a prefix ending in a dot: version.",
        widget=forms.TextInput(attrs={"list": "audit-actions", "autocomplete": "off"}),
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" and "to" are Python keywords, hence added here rather than declared.
        self.fields["from"] = forms.CharField(
            required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.CharField(
            required=False,
            label="To",
            widget=forms.DateInput(attrs={"type": "date"}),
            help_text="Inclusive",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name, end in (("from", False), ("to", True)):
            text = (data.get(name) or "").strip()
            data[f"{name}_bound"] = None
            if text and name not in self.errors:
                try:
                    data[f"{name}_bound"] = parse_bound(text, end=end)
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        since, until = data.get("from_bound"), data.get("to_bound")
        if since is not None and until is not None and until <= since:
            self.add_error("to", "Must not be before “From”.")
        if data.get("before") is not None and data.get("after") is not None:
            self.add_error("before", "Give either before or after, not both.")
        return data

    def filters(self) -> AuditFilters:
        """The validated filters; call after ``is_valid()``."""
        data = self.cleaned_data
        return AuditFilters(
            model=data.get("model", "").strip(),
            actor=data.get("actor", "").strip(),
            action=data.get("action", "").strip(),
            since=data.get("from_bound"),
            until=data.get("to_bound"),
            raw_from=(data.get("from") or "").strip(),
            raw_to=(data.get("to") or "").strip(),
        )

    def field_errors(self) -> dict[str, list[str]]:
        return {field: [str(m) for m in messages] for field, messages in self.errors.items()}
