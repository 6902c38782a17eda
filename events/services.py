"""The verbs of webhook subscriptions and their deliveries: create, change, delete, rotate the
secret, enable, disable, redeliver, send a test event. Each checks ``can_manage_subscription``
(or ``can_manage_webhooks``), runs in one transaction with its audit event, and hands the
deliveries it makes due to the broker after the commit (``queue.deliver_on_commit``); the
delivery engine sends them. The secret is never written to the audit chain."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from registry.audit.record import audit_record
from registry.errors import Conflict, InvalidInput
from registry.models import RegisteredModel, Team
from registry.permissions import require
from registry.types import Actor

from . import payloads, queue, types
from .models import Delivery, DeliveryStatus, Subscription
from .permissions import can_manage_subscription, can_manage_webhooks

REFUSED = "Only the owning team's ML engineers and admins manage its webhooks."
URL_MAX_CHARS = 2000
DESCRIPTION_MAX_CHARS = 200
# How long the old secret keeps signing after a rotation: receivers switch within it.
ROTATION_OVERLAP = timedelta(hours=24)
# How many delivery ids a redelivery's audit event names (the count is always there).
AUDITED_IDS = 100

_url_validator = URLValidator(schemes=["http", "https"])


def _new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _model_name(subscription: Subscription) -> str:
    return subscription.model.name if subscription.model is not None else ""


def _described(subscription: Subscription) -> dict[str, Any]:
    """What the audit chain says about a subscription: everything but its secrets."""
    return {
        "id": subscription.pk,
        "team": subscription.team.slug if subscription.team is not None else None,
        "model": subscription.model.name if subscription.model is not None else None,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "description": subscription.description,
    }


def _clean_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput.for_field("url", "Give the URL that receives the events.")
    url = url.strip()
    if len(url) > URL_MAX_CHARS:
        raise InvalidInput.for_field(
            "url", f"At most {URL_MAX_CHARS} characters; this is {len(url)}."
        )
    try:
        _url_validator(url)
    except ValidationError:
        raise InvalidInput.for_field("url", "Enter an http:// or https:// URL.") from None
    return url


def _clean_event_types(event_types: Any) -> list[str]:
    if not isinstance(event_types, list | tuple) or not event_types:
        raise InvalidInput.for_field(
            "event_types", 'Name at least one event type ("version.promoted", "version.*", "*").'
        )
    cleaned: list[str] = []
    for pattern in event_types:
        problem = types.pattern_problem(pattern)
        if problem is not None:
            raise InvalidInput.for_field("event_types", problem)
        if pattern not in cleaned:
            cleaned.append(pattern)
    return cleaned


def _clean_description(description: Any) -> str:
    if not isinstance(description, str):
        raise InvalidInput.for_field("description", "A description is text.")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX_CHARS:
        raise InvalidInput.for_field(
            "description",
            f"At most {DESCRIPTION_MAX_CHARS} characters; this is {len(description)}.",
        )
    return description


def _locked(subscription: Subscription) -> Subscription:
    """The subscription's row, locked for the rest of the transaction, as it is now."""
    # Only the subscription's row: PostgreSQL locks no nullable side of an outer join.
    rows = Subscription.objects.select_for_update(of=("self",)).select_related("team", "model")
    return rows.get(pk=subscription.pk)


def subscription_create(
    *,
    actor: Actor,
    team: Team | None = None,
    model: RegisteredModel | None = None,
    url: str,
    event_types: list[str],
    description: str = "",
) -> Subscription:
    """Subscribe a URL to a team's or a model's events; the secret is on the returned object
    (shown to its creator this once)."""
    if (team is None) == (model is None):
        raise InvalidInput.for_field("team", "Name a team or a model (one of the two).")
    require(can_manage_webhooks(actor, team=team, model=model), REFUSED)
    fields = {
        "url": _clean_url(url),
        "event_types": _clean_event_types(event_types),
        "description": _clean_description(description),
    }
    with transaction.atomic():
        subscription = Subscription.objects.create(
            team=team, model=model, secret=_new_secret(), created_by=actor, **fields
        )
        audit_record(
            actor=actor,
            action="webhook.created",
            obj=subscription,
            model_name=_model_name(subscription),
            payload=_described(subscription),
        )
    return subscription


def subscription_update(
    *,
    actor: Actor,
    subscription: Subscription,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
) -> Subscription:
    """Change a subscription's URL, event types or description (those given)."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    given: dict[str, Any] = {}
    if url is not None:
        given["url"] = _clean_url(url)
    if event_types is not None:
        given["event_types"] = _clean_event_types(event_types)
    if description is not None:
        given["description"] = _clean_description(description)
    with transaction.atomic():
        subscription = _locked(subscription)
        changes = {
            field: {"old": getattr(subscription, field), "new": value}
            for field, value in given.items()
            if getattr(subscription, field) != value
        }
        if not changes:
            return subscription
        for field, change in changes.items():
            setattr(subscription, field, change["new"])
        subscription.save(update_fields=list(changes))
        audit_record(
            actor=actor,
            action="webhook.changed",
            obj=subscription,
            model_name=_model_name(subscription),
            payload={"id": subscription.pk, "changes": changes},
        )
    return subscription


def subscription_delete(*, actor: Actor, subscription: Subscription) -> None:
    """Delete a subscription, with its deliveries and their attempts."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    with transaction.atomic():
        subscription = _locked(subscription)
        audit_record(
            actor=actor,
            action="webhook.deleted",
            obj=subscription,
            model_name=_model_name(subscription),
            payload=_described(subscription),
        )
        subscription.delete()


def subscription_rotate_secret(*, actor: Actor, subscription: Subscription) -> Subscription:
    """A new secret; the old one keeps signing alongside it for 24 hours (Standard Webhooks
    sends both signatures), so receivers can switch without losing an event."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    with transaction.atomic():
        subscription = _locked(subscription)
        subscription.previous_secret = subscription.secret
        subscription.previous_until = timezone.now() + ROTATION_OVERLAP
        subscription.secret = _new_secret()
        subscription.save(update_fields=["secret", "previous_secret", "previous_until"])
        audit_record(
            actor=actor,
            action="webhook.secret_rotated",
            obj=subscription,
            model_name=_model_name(subscription),
            payload={"id": subscription.pk, "previous_until": subscription.previous_until},
        )
    return subscription


def subscription_enable(*, actor: Actor, subscription: Subscription) -> Subscription:
    """Send to the subscription again; its failures so far no longer count towards
    disabling it."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    with transaction.atomic():
        subscription = _locked(subscription)
        if subscription.is_active:
            return subscription
        subscription.is_active = True
        subscription.disabled_at = None
        subscription.disabled_reason = ""
        subscription.failing_since = None
        subscription.save(
            update_fields=["is_active", "disabled_at", "disabled_reason", "failing_since"]
        )
        audit_record(
            actor=actor,
            action="webhook.enabled",
            obj=subscription,
            model_name=_model_name(subscription),
            payload={"id": subscription.pk},
        )
    return subscription


def subscription_disable(
    *, actor: Actor, subscription: Subscription, reason: str = "Disabled by hand."
) -> Subscription:
    """Stop sending to the subscription until it is enabled again."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    with transaction.atomic():
        subscription = _locked(subscription)
        if not subscription.is_active:
            return subscription
        subscription.is_active = False
        subscription.disabled_at = timezone.now()
        subscription.disabled_reason = reason[:200]
        subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
        audit_record(
            actor=actor,
            action="webhook.disabled",
            obj=subscription,
            model_name=_model_name(subscription),
            payload={"id": subscription.pk, "reason": subscription.disabled_reason},
        )
    return subscription


def _require_active(subscription: Subscription) -> None:
    if not subscription.is_active:
        raise Conflict("This webhook is disabled; enable it first.")


def delivery_redeliver(
    *,
    actor: Actor,
    subscription: Subscription,
    delivery_ids: list[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    only_failed: bool = False,
) -> int:
    """Send deliveries of the subscription again, under their own ``webhook-id``: the ones
    named, those made in [``since``, ``until``), or (``only_failed`` alone) every failed one.
    Returns how many are due again."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    _require_active(subscription)
    chosen = Delivery.objects.filter(subscription=subscription)
    payload: dict[str, Any] = {"id": subscription.pk}
    if delivery_ids is not None:
        if not delivery_ids:
            raise InvalidInput.for_field("deliveries", "Name at least one delivery.")
        wanted = set(delivery_ids)
        found = set(chosen.filter(pk__in=wanted).values_list("pk", flat=True))
        if found != wanted:
            missing = ", ".join(str(pk) for pk in sorted(wanted - found))
            raise InvalidInput.for_field(
                "deliveries", f"No such delivery of this webhook: {missing}."
            )
        chosen = chosen.filter(pk__in=wanted)
    elif since is not None or until is not None:
        if since is not None and until is not None and until <= since:
            raise InvalidInput.for_field("until", "The end of the range comes after its start.")
        if since is not None:
            chosen = chosen.filter(created_at__gte=since)
            payload["since"] = since
        if until is not None:
            chosen = chosen.filter(created_at__lt=until)
            payload["until"] = until
    elif not only_failed:
        raise InvalidInput.for_field(
            "deliveries", "Name the deliveries, or a time range (since, until)."
        )
    if only_failed:
        chosen = chosen.filter(status=DeliveryStatus.FAILED)
        payload["only_failed"] = True
    with transaction.atomic():
        ids = sorted(chosen.select_for_update().values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), claimed_until=None
        )
        payload["count"] = len(ids)
        payload["deliveries"] = ids[:AUDITED_IDS]
        audit_record(
            actor=actor,
            action="webhook.redelivered",
            obj=subscription,
            model_name=_model_name(subscription),
            payload=payload,
        )
        queue.deliver_on_commit(ids)
    return len(ids)


def subscription_test(*, actor: Actor, subscription: Subscription) -> Delivery:
    """Send a test event to this subscription alone: the ``webhook.tested`` audit event,
    delivered like any other (signed, stored, retried)."""
    require(can_manage_subscription(actor, subscription), REFUSED)
    _require_active(subscription)
    with transaction.atomic():
        event = audit_record(
            actor=actor,
            action="webhook.tested",
            obj=subscription,
            model_name=_model_name(subscription),
            payload={"id": subscription.pk},
        )
        delivery = Delivery.objects.create(
            subscription=subscription,
            event=event,
            event_type=event.action,
            message_id=payloads.message_id(subscription.pk, event.seq),
            payload=payloads.event_payload(event),
            next_attempt_at=timezone.now(),
        )
        queue.deliver_on_commit([delivery.pk])
    return delivery
