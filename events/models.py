"""Events: every audit event, read from the chain in order, delivered to webhook subscriptions
(signed, at least once) and to people as notifications (inbox and e-mail).

The audit chain is the outbox: each audit event is written in the transaction of the change
it records, so an event exists exactly when its change does. ``Cursor`` says how far the
dispatcher has read; it turns each new event into ``Delivery`` and ``Notification`` rows in
one transaction with moving the cursor, so nothing is skipped or fanned out twice."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from registry.models import AuditEvent, RegisteredModel, Team


class Cursor(models.Model):
    """How far a reader of the audit chain has read (the last seq it handled)."""

    name = models.CharField(max_length=50, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at #{self.seq}"


class Subscription(models.Model):
    """A URL that receives the audit events of one team's models, or of one model, as
    Standard Webhooks (signed with its secret), filtered by event type."""

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event-type patterns: an audit action ("version.promoted"), a family ("version.*") or "*".
    event_types = models.JSONField(default=list)
    # "whsec_" + base64 of the key; the previous one keeps signing until previous_until.
    secret = models.CharField(max_length=200)
    previous_secret = models.CharField(max_length=200, blank=True)
    previous_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # The first failed attempt since the last success: what auto-disabling counts from.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=False, model__isnull=True)
                | Q(team__isnull=True, model__isnull=False),
                name="subscription_team_or_model",
            )
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # every retry used up, or the subscription was disabled


class Delivery(models.Model):
    """One event for one subscription, sent until it is answered with a 2xx, under one
    ``webhook-id`` (``message_id``) on every attempt and redelivery."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    # None for a test event.
    event = models.ForeignKey(
        AuditEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    event_type = models.CharField(max_length=100)
    message_id = models.CharField(max_length=100, unique=True)
    # The body as sent, fixed when the delivery is made: every attempt sends the same bytes.
    payload = models.JSONField()
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A sender holds the delivery until then; past it, the sweep sends it again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"],
                condition=Q(event__isnull=False),
                name="delivery_once_per_event",
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"


class Attempt(models.Model):
    """One HTTP attempt of a delivery: what was answered, and how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response = models.TextField(blank=True)  # the first 1 KB of the answer's body

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"attempt at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"


class Notification(models.Model):
    """A message to one person about one event: in their inbox, and by e-mail when they
    chose so for its kind."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=50)  # a declared notification kind
    event = models.ForeignKey(
        AuditEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Whether the recipient wanted it by e-mail when it was made: with ``emailed_at`` still
    # empty, an e-mail that is owed (the sweep sends it); without, one that never will be.
    email_wanted = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "event"], name="notification_once_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            # The e-mail sweep's rows: owed and not sent, oldest first.
            models.Index(
                fields=["created_at"],
                condition=Q(email_wanted=True, emailed_at__isnull=True),
                name="notification_mail_owed",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class EmailChoice(models.Model):
    """Whether a person receives e-mail for one kind of notification (no row: the kind's
    default)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_choices"
    )
    kind = models.CharField(max_length=50)
    email = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="email_choice_once_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {'e-mail' if self.email else 'inbox only'}"
