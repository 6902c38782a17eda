"""Notifications: the audit events that concern people, each a declared kind with who
receives it and what it says; in the inbox, and by e-mail for those who chose so.

``KINDS`` is the one table: a kind names the audit actions it reacts to, its label on the
profile page, whether it is e-mailed by default, who receives it (a function of the event)
and its subject and body. The dispatcher calls ``fan_out`` in its transaction for every new
audit event; the inbox, the profile page's choices and the e-mails all read the table.

Two rules hold for every kind, whatever its recipients function says: nobody is told of
their own act, and nobody is told about a model they may not see (``_may_see``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from registry.errors import InvalidInput
from registry.models import AuditEvent, ModelVersion, RegisteredModel, Team
from registry.permissions import person_sees_model
from registry.roles import Role
from registry.types import Actor
from reviews import permissions as review_rules
from reviews.models import Comment, ReviewRequest, SignOff

from . import queue
from .models import EmailChoice, Notification, Subscription
from .permissions import can_manage_subscription


@dataclass(frozen=True)
class About:
    """What an event is about, looked up once for all its kinds: its model, version and (for
    webhook events) subscription, each None when the event names none or it is gone."""

    event: AuditEvent
    model: RegisteredModel | None = None
    version: ModelVersion | None = None
    subscription: Subscription | None = None

    @property
    def team(self) -> Team | None:
        if self.model is not None:
            return self.model.owner_team
        if self.subscription is not None:
            sub = self.subscription
            return sub.team if sub.team_id else sub.model.owner_team  # type: ignore[union-attr]
        return None

    def words(self) -> dict[str, str]:
        """The values a kind's subject and body are written with."""
        payload = self.event.payload if isinstance(self.event.payload, dict) else {}
        decision = str(payload.get("decision") or "")
        return {
            "model": self.model.name if self.model else self.event.model_name,
            "version": self.version.version if self.version else str(payload.get("version", "")),
            "actor": self.event.actor_name or "Gatehouse",
            "decision": decision.replace("_", " "),
            "asked": _short(payload.get("asked")),
            "comment": _short(payload.get("body")),
            "reason": _short(payload.get("reason") or payload.get("disabled_reason")),
            "url": self.subscription.url if self.subscription else "",
        }


def _short(value: Any, limit: int = 300) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


People = Callable[[About], Iterable[Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of notification: everything about it in one place."""

    key: str
    actions: tuple[str, ...]  # the audit actions it reacts to
    label: str  # the profile page's "E-mail me when …"
    email: bool  # e-mailed unless the person chose otherwise
    recipients: People  # who receives it (before the two rules every kind obeys)
    subject: str  # written with ``About.words``
    body: str
    anchor: str = ""  # where on the version page the link lands

    def text(self, about: About) -> tuple[str, str]:
        words = about.words()
        return self.subject.format(**words)[:200], self.body.format(**words)

    def link(self, about: About) -> str:
        """The path the notification leads to (e-mails prefix GATEHOUSE_BASE_URL)."""
        if about.subscription is not None:
            try:
                return reverse("webhook-detail", args=[about.subscription.pk])
            except NoReverseMatch:  # the webhook pages are not mounted
                pass
        if about.version is not None:
            path = reverse("version-detail", args=[about.version.model.name, about.version.version])
            return path + self.anchor
        if about.model is not None:
            return reverse("model-detail", args=[about.model.name])
        return reverse("home")


# --- who: each a function of what the event is about ---------------------------------------


def _members(about: About) -> Any:
    team = about.team
    User = get_user_model()
    if team is None:
        return User.objects.none()
    return team.members.filter(is_active=True)


def _with_role(about: About, role: Role) -> Any:
    return _members(about).filter(groups__name=role.value)


def eligible_reviewers(about: About) -> list[Any]:
    """The owning team's people who may sign off this version (``reviews.permissions.can_sign``)."""
    version = about.version
    if version is None:
        return []
    return [user for user in _members(about) if review_rules.can_sign(user, version)]


def submitter_and_engineers(about: About) -> list[Any]:
    """Whoever submitted the version, and the owning team's ML engineers: who answer it."""
    people = list(_with_role(about, Role.ML_ENGINEER))
    if about.version is not None and about.version.submitted_by is not None:
        people.append(about.version.submitted_by)
    return people


def promoters(about: About) -> list[Any]:
    """The owning team's people who may promote it (``reviews.permissions.can_promote``):
    its risk officers. Admins act for every team and are not mailed each approval of each;
    the dashboard's "Ready to promote" lists it for them."""
    version = about.version
    if version is None:
        return []
    return [user for user in _members(about) if review_rules.can_promote(user, version)]


def whole_team(about: About) -> list[Any]:
    """Everyone in the owning team."""
    return list(_members(about))


def conversation(about: About) -> list[Any]:
    """The version's submitter, whoever asked for its review (a CI account submits most
    versions), and everyone who signed or wrote in its conversation before."""
    version = about.version
    if version is None:
        return []
    event = about.event
    earlier = Q(version=version)
    if event.object_type == "reviews.comment" and event.object_id.isdigit():
        earlier &= Q(pk__lt=int(event.object_id))
    User = get_user_model()
    ids = set(Comment.objects.filter(earlier).values_list("author_id", flat=True))
    ids |= set(
        SignOff.objects.filter(version=version, signed_at__lte=event.created_at).values_list(
            "user_id", flat=True
        )
    )
    ids |= set(
        ReviewRequest.objects.filter(version=version, created_at__lte=event.created_at).values_list(
            "requested_by_id", flat=True
        )
    )
    if version.submitted_by_id is not None:
        ids.add(version.submitted_by_id)
    return list(User.objects.filter(pk__in=ids, is_active=True))


def webhook_owners(about: About) -> list[Any]:
    """Who made the subscription, and the ML engineers of its team: who can mend it."""
    sub = about.subscription
    if sub is None:
        return []
    people = list(_with_role(about, Role.ML_ENGINEER))
    if sub.created_by is not None:
        people.append(sub.created_by)
    return people


# --- the table -----------------------------------------------------------------------------

KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind(
            key="review_requested",
            actions=("review.requested", "review.rerequested"),
            label="a version of my team waits for my review",
            email=True,
            recipients=eligible_reviewers,
            subject="Review requested: {model} {version}",
            body="{actor} asked for a review of {model} {version}. You may sign it off.",
            anchor="#signoff",
        ),
        # One mail per act: a rejection or request for changes writes signoff.<decision>
        # (and version.rejected), then objection.opened; only the objection is a kind.
        Kind(
            key="changes_requested",
            actions=("objection.opened",),
            label="a reviewer asks for changes to, or rejects, a version of my team",
            email=True,
            recipients=submitter_and_engineers,
            subject="{model} {version}: {decision} by {actor}",
            body="{actor} signed {model} {version} off as {decision}: {asked}",
            anchor="#conversation",
        ),
        Kind(
            key="version_approved",
            actions=("version.approved",),
            label="a version of my team is approved and ready to promote",
            email=True,
            recipients=promoters,
            subject="Approved, ready to promote: {model} {version}",
            body="{model} {version} has every approval its review policy asks for. "
            "The version page checks every gate before promoting.",
            anchor="#promote",
        ),
        Kind(
            key="production_changed",
            actions=("version.promoted", "version.rolled_back"),
            label="a version of my team goes into production (promoted or rolled back)",
            email=True,
            recipients=whole_team,
            subject="In production: {model} {version}",
            body="{actor} put {model} {version} in production. Reason: {reason}",
        ),
        # Off by default: a busy conversation would mail everyone at every line; the inbox
        # has each one.
        Kind(
            key="comment_posted",
            actions=("comment.posted",),
            label="someone writes in a review conversation I take part in",
            email=False,
            recipients=conversation,
            subject="{actor} commented on {model} {version}",
            body="{actor} wrote on {model} {version}: {comment}",
            anchor="#conversation",
        ),
        Kind(
            key="webhook_disabled",
            actions=("webhook.disabled",),
            label="a webhook of my team is disabled",
            email=True,
            recipients=webhook_owners,
            subject="Webhook disabled: {url}",
            body="The webhook to {url} no longer receives events. {reason}",
        ),
        # --- monitoring findings -----------------------------------------------------------
        # The monitoring issue declares its kind(s) here when it lands (its finding actions,
        # the team's risk officers and engineers); nothing else changes.
    )
}

BY_ACTION: dict[str, list[Kind]] = {}
for _kind in KINDS.values():
    for _action in _kind.actions:
        BY_ACTION.setdefault(_action, []).append(_kind)


def email_choices() -> list[tuple[Kind, str]]:
    """The profile page's choices, in the table's order."""
    return [(kind, kind.label) for kind in KINDS.values()]


# --- fan-out -------------------------------------------------------------------------------


def about_event(event: AuditEvent) -> About:
    """Look up the model, version and subscription an event names."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    model = (
        RegisteredModel.objects.select_related("owner_team").filter(name=event.model_name).first()
        if event.model_name
        else None
    )
    version = None
    if model is not None and isinstance(payload.get("version"), str):
        version = (
            ModelVersion.objects.select_related("model", "submitted_by")
            .defer("metrics", "params", "tags")
            .filter(model=model, version=payload["version"])
            .first()
        )
    subscription = None
    sub_id = payload.get("subscription_id")
    if sub_id is None and event.object_type == "events.subscription":
        sub_id = event.object_id
    if sub_id is not None and str(sub_id).isdigit():
        subscription = (
            Subscription.objects.select_related("team", "model__owner_team", "created_by")
            .filter(pk=int(sub_id))
            .first()
        )
    return About(event=event, model=model, version=version, subscription=subscription)


def _may_see(user: Actor, about: About) -> bool:
    """Never tell someone about a model they may not see; a webhook's news goes only to
    people who may manage it."""
    if about.subscription is not None and not can_manage_subscription(user, about.subscription):
        return False
    if about.model is not None:
        return person_sees_model(user, about.model)
    return about.subscription is not None


def recipients(kind: Kind, about: About) -> list[Any]:
    """Who receives ``kind`` of this event: its recipients, once each, without the actor and
    without anyone who may not see what it is about."""
    seen: dict[int, Any] = {}
    for user in kind.recipients(about):
        if user.pk in seen or user.pk == about.event.actor_id or not user.is_active:
            continue
        seen[user.pk] = user
    return [user for user in seen.values() if _may_see(user, about)]


def fan_out(events: list[AuditEvent]) -> int:
    """Create the notifications of ``events`` (in the dispatcher's transaction), and send the
    e-mails owed once it commits; how many it offered (any made before, by a dispatch that
    read the same events, stay as they are: the unique constraint ignores the new ones)."""
    rows: list[Notification] = []
    for event in events:
        kinds = BY_ACTION.get(event.action)
        if not kinds:
            continue
        about = about_event(event)
        for kind in kinds:
            subject, body = kind.text(about)
            link = kind.link(about)
            for person in recipients(kind, about):
                rows.append(
                    Notification(
                        recipient=person,
                        kind=kind.key,
                        event=event,
                        subject=subject,
                        body=body,
                        link=link,
                    )
                )
    if not rows:
        return 0
    wants = _email_wanted({(n.recipient_id, n.kind) for n in rows})
    for row in rows:
        row.email_wanted = bool(row.recipient.email) and wants[(row.recipient_id, row.kind)]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    owed = Notification.objects.filter(
        event__in=[e.pk for e in events], email_wanted=True, emailed_at__isnull=True
    ).values_list("pk", flat=True)
    queue.email_on_commit(list(owed))
    return len(rows)


def _email_wanted(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], bool]:
    """Each (person, kind)'s choice, or the kind's default, in one query."""
    chosen = {
        (user_id, kind): email
        for user_id, kind, email in EmailChoice.objects.filter(
            user__in={user_id for user_id, _ in pairs}
        ).values_list("user_id", "kind", "email")
    }
    return {pair: chosen.get(pair, KINDS[pair[1]].email) for pair in pairs}


def email_wanted_by(user: Actor) -> dict[str, bool]:
    """A person's e-mail choice for every kind (their own or the kind's default)."""
    chosen = dict(EmailChoice.objects.filter(user=user).values_list("kind", "email"))
    return {key: chosen.get(key, kind.email) for key, kind in KINDS.items()}


# --- the inbox and the choices: a person's own notifications ------------------------------

# The header counts unread notifications up to this many (the dashboard's cap, ``99+``).
UNREAD_CAP = 99


def notifications_of(user: Actor) -> Any:
    """A person's notifications, newest first (their inbox)."""
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")


def unread_count(user: Actor, *, cap: int = UNREAD_CAP) -> int:
    """How many of a person's notifications are unread, counted up to ``cap + 1``."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    # At most cap + 1 ids off the (recipient, read_at) index; no COUNT over a person's all.
    return len(unread.values_list("pk", flat=True)[: cap + 1])


def notifications_mark_read(*, actor: Actor, ids: Iterable[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them, or ``ids`` among them); how many.
    Not audited: what a person has read changes nothing anyone may do."""
    unread = Notification.objects.filter(recipient=actor, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def email_choices_set(*, actor: Actor, wanted: Iterable[str]) -> dict[str, bool]:
    """Save which kinds the actor wants by e-mail (``wanted``: kind keys; every other kind
    is inbox only); the choices now. Not audited: preferences change what a person is told,
    not what anyone may do, and the chain records governance acts."""
    keys = set(wanted)
    unknown = keys - KINDS.keys()
    if unknown:
        raise InvalidInput.for_field("email", f"Unknown notification kind {sorted(unknown)[0]!r}.")
    with transaction.atomic():
        for key in KINDS:
            EmailChoice.objects.update_or_create(
                user=actor, kind=key, defaults={"email": key in keys}
            )
    return email_wanted_by(actor)
