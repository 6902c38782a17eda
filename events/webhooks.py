"""Webhook fan-out: each new audit event becomes a Delivery for every active subscription
whose scope and event types it matches.

Only events about a model are delivered: a subscription's scope is a model or a team's
models, so an event with no model (a team created, a user's role changed) concerns no
subscription and is not sent anywhere."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q
from django.utils import timezone

from registry.models import AuditEvent, RegisteredModel

from . import payloads, queue, types
from .models import Delivery, DeliveryStatus, Subscription

CHUNK = 500


def _subscriptions(names: set[str]) -> dict[str, list[Subscription]]:
    """The active subscriptions of each model in ``names``: its own and its owning team's,
    read in two queries for the whole batch."""
    team_of = dict(
        RegisteredModel.objects.filter(name__in=names).values_list("name", "owner_team_id")
    )
    found = Subscription.objects.filter(is_active=True).filter(
        Q(model__name__in=names) | Q(team_id__in=set(team_of.values()))
    )
    by_model: dict[str, list[Subscription]] = defaultdict(list)
    by_team: dict[int | None, list[Subscription]] = defaultdict(list)
    for subscription in found.select_related("model"):
        if subscription.model is not None:
            by_model[subscription.model.name].append(subscription)
        else:
            by_team[subscription.team_id].append(subscription)
    return {name: by_model.get(name, []) + by_team.get(team_of.get(name, -1), []) for name in names}


def fan_out(events: list[AuditEvent]) -> int:
    """Create the deliveries of ``events`` (in the dispatcher's transaction); how many.

    Each (subscription, event) pair is made once: the unique constraint turns a repeat into
    nothing. Their messages are sent once the transaction commits; a message that never
    reaches the broker is sent by the sweep."""
    about_models = [event for event in events if event.model_name]
    if not about_models:
        return 0
    per_name = _subscriptions({event.model_name for event in about_models})
    now = timezone.now()
    rows: list[Delivery] = []
    for event in about_models:
        matched = [
            subscription
            for subscription in per_name.get(event.model_name, [])
            if types.matches(subscription.event_types, event.action)
        ]
        if not matched:
            continue
        payload = payloads.event_payload(event)
        rows.extend(
            Delivery(
                subscription=subscription,
                event=event,
                event_type=event.action,
                message_id=payloads.message_id(subscription.pk, event.seq),
                payload=payload,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
            )
            for subscription in matched
        )
    if not rows:
        return 0
    # ignore_conflicts gives back no primary keys (on any database): read them by message id.
    Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=CHUNK)
    message_ids = [row.message_id for row in rows]
    ids: list[int] = []
    for start in range(0, len(message_ids), CHUNK):
        ids.extend(
            Delivery.objects.filter(
                message_id__in=message_ids[start : start + CHUNK],
                status=DeliveryStatus.PENDING,
                attempts=0,
            ).values_list("pk", flat=True)
        )
    queue.deliver_on_commit(ids)
    return len(ids)
