"""Accounts: who is asking (the client address), password checks that count towards the
lockout, and the audit events of every change to people, groups, team membership,
passwords and the tokens a password change revokes.

The model-signal receivers below are the one deliberate exception to the house rule against
logic in signals: the requirement is that *every* path (admin, ``createsuperuser``,
``changepassword``, a shell, a service) leaves a chain event, and only a signal sees them
all. They record; they decide nothing, except that a changed password revokes the
person's API tokens, which must also hold from any path. Services and admin pages that
record a fuller event of their own say so with ``recorded_elsewhere()``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Max, Sum
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from .audit.record import audit_record
from .errors import Locked
from .models import ApiToken, Team
from .types import Actor

USER_AGENT_CHARS = 200
USERNAME_CHARS = 150
# User fields whose change grants or removes power; each change is an audit event.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "is_active")

_actor: ContextVar[Any] = ContextVar("gatehouse_accounts_actor", default=None)
_elsewhere: ContextVar[bool] = ContextVar("gatehouse_accounts_recorded_elsewhere", default=False)


@contextmanager
def acting(actor: Actor) -> Iterator[None]:
    """Attribute the account events recorded inside the block to ``actor``."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def recorded_elsewhere() -> Iterator[None]:
    """The caller records its own event for the account changes made inside the block."""
    token = _elsewhere.set(True)
    try:
        yield
    finally:
        _elsewhere.reset(token)


# --- who is asking -------------------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer, or behind GATEHOUSE_NUM_PROXIES proxies the N-th
    X-Forwarded-For entry from the right (DRF's rule, which axes uses too)."""
    # get_ident reads only request.META, which a plain Django request has as well.
    ident = BaseThrottle().get_ident(request)  # type: ignore[arg-type]
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        # Not an address (a proxy misconfigured): count under the peer, never the header.
        return request.META.get("REMOTE_ADDR") or None


def attempt_payload(request: HttpRequest, username: str) -> dict[str, Any]:
    """What the audit log keeps of an attempt: the name tried, address, agent; no secret."""
    return {
        "username": (username or "")[:USERNAME_CHARS],
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_CHARS],
        "path": request.path[:200],
    }


# --- lockout -------------------------------------------------------------------------------


class LockoutBackend(AxesStandaloneBackend):
    """axes' lockout check, first in AUTHENTICATION_BACKENDS.

    A password check that code makes without a request (the test client's ``login``, a
    shell) is held to the account's lock under no address, instead of axes' error. Every
    check a client can reach passes its request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        return super().authenticate(
            request if request is not None else HttpRequest(), username, password, **kwargs
        )


def _limits() -> list[int]:
    """The failure limit of each lockout parameter, in AXES_LOCKOUT_PARAMETERS order."""
    return [
        settings.GATEHOUSE_LOGIN_IP_FAILURE_LIMIT
        if parameter == "ip_address"
        else settings.AXES_FAILURE_LIMIT
        for parameter in settings.AXES_LOCKOUT_PARAMETERS
    ]


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler, with a limit of its own for a client address.

    axes compares one failure count with one limit. This count is the worst of the
    account's and the address's, each on the account's scale: an address reaches the
    account limit only when it reaches GATEHOUSE_LOGIN_IP_FAILURE_LIMIT.
    """

    def counts(self, request, credentials: dict | None = None) -> list[tuple[int, int, Any]]:
        """(failures, their limit, last attempt) for the account and for the address."""
        attempts_list = self.get_user_attempts(request, credentials)
        counts = []
        for attempts, limit in zip(attempts_list, _limits(), strict=True):
            counted = attempts.aggregate(n=Sum("failures_since_start"), last=Max("attempt_time"))
            counts.append((counted["n"] or 0, limit, counted["last"]))
        return counts

    def get_failures(self, request, credentials: dict | None = None) -> int:
        account_limit = settings.AXES_FAILURE_LIMIT
        return max(
            (
                failures * account_limit // limit
                for failures, limit, _ in self.counts(request, credentials)
            ),
            default=0,
        )


def lockout_remaining(request: HttpRequest, username: str) -> timedelta | None:
    """How much longer the lockout this request meets lasts, or None when it is not locked."""
    credentials = {"username": username}
    if not AxesProxyHandler.is_locked(request, credentials):
        return None
    cooloff: timedelta = settings.AXES_COOLOFF_TIME
    handler: LockoutHandler = AxesProxyHandler.get_implementation()
    ends = [
        last + cooloff
        for failures, limit, last in handler.counts(request, credentials)
        if failures >= limit
    ]
    if not ends:
        return cooloff
    return max(max(ends) - timezone.now(), timedelta(seconds=1))


def lockout_message(remaining: timedelta, what: str = "This account") -> str:
    """The words every surface uses for a lockout, with the time left in minutes."""
    minutes = max(1, -(-int(remaining.total_seconds()) // 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        f"{what} is temporarily locked after too many failed password attempts. "
        f"Try again in {minutes} {unit}."
    )


def locked_error(request: HttpRequest, username: str, what: str = "This account") -> Locked:
    """The domain error for a locked account, with the seconds until it opens again."""
    remaining = lockout_remaining(request, username) or settings.AXES_COOLOFF_TIME
    message = lockout_message(remaining, what)
    return Locked(
        message,
        retry_after=max(1, int(remaining.total_seconds())),
        errors={"password": [message]},
    )


def password_check(
    request: HttpRequest | None, *, username: str, password: str, own_audit: bool = False
):
    """``authenticate`` through the lockout: the user, or None for a wrong password.

    Raises Locked when the account or the address is locked (even for the right password).
    Failures count towards the same lockout as the login page. ``own_audit``: the caller
    records the failure itself (a sign-off names the version); otherwise it is recorded as
    a failed login.
    """
    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    if request is None:
        # Services called from code (demo data, tests) still count towards the account lock.
        request = HttpRequest()
    request.gatehouse_own_audit = own_audit  # type: ignore[union-attr]  # read by LockoutHandler
    user = authenticate(request, username=username, password=password)
    if user is None and getattr(request, "axes_locked_out", False):
        raise locked_error(request, username)
    return user


def audit_now(**fields: Any) -> None:
    """Record an event in a transaction of its own, committed even if the request then fails."""
    with transaction.atomic():
        audit_record(**fields)


def login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    """Record a failed or locked-out password check (web login, admin login, token endpoint)."""
    if getattr(request, "gatehouse_own_audit", False):
        return
    request = request if request is not None else HttpRequest()
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")
    locked = bool(getattr(request, "axes_locked_out", False))
    audit_now(
        actor=None,
        action="auth.locked_out" if locked else "auth.login_failed",
        object_type="auth.user",
        object_id=username[:100],
        payload=attempt_payload(request, username)
        | {"failures": getattr(request, "axes_failures_since_start", None)},
    )


# --- account changes from any path -----------------------------------------------------------


def _record(**fields: Any) -> None:
    # Inside the change's transaction when there is one (admin, services); a bare ORM save in
    # autocommit has none, so the event then commits right after the change.
    with transaction.atomic():
        audit_record(actor=_actor.get(), **fields)


def _label(obj) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Team):
        return obj.slug
    if isinstance(obj, Group):
        return obj.name
    return obj.get_username()


def user_pre_save(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    """Remember the stored password hash and privileges to compare after the save."""
    instance._gatehouse_before = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", *PRIVILEGE_FIELDS} & set(update_fields):
        return  # e.g. last_login on every login: nothing watched changes
    instance._gatehouse_before = (
        sender.objects.filter(pk=instance.pk).values("password", *PRIVILEGE_FIELDS).first()
    )


def user_post_save(
    sender, instance, created: bool, raw: bool = False, update_fields=None, **kwargs
) -> None:
    """Record a new account, a password change (revoking tokens) and privilege changes."""
    if raw:
        return
    username = instance.get_username()
    if created:
        if not _elsewhere.get():
            _record(
                action="user.created",
                obj=instance,
                object_type="auth.user",
                payload={"user": username, "password_usable": instance.has_usable_password()}
                | {name: getattr(instance, name) for name in PRIVILEGE_FIELDS},
            )
        return
    before = getattr(instance, "_gatehouse_before", None)
    instance._gatehouse_before = None
    if not before:
        return
    changes = {
        name: {"from": before[name], "to": getattr(instance, name)}
        for name in PRIVILEGE_FIELDS
        if before[name] != getattr(instance, name)
    }
    # check_password() re-hashes an outdated hash with the same password and saves only the
    # password with no raw password pending: that is an upgrade, not a change.
    rehash = instance._password is None and update_fields is not None
    password_changed = before["password"] != instance.password and not rehash
    if not _elsewhere.get():
        if changes:
            _record(
                action="user.privileges_changed",
                obj=instance,
                object_type="auth.user",
                payload={"user": username, "changes": changes},
            )
        if password_changed:
            _record(
                action="user.password_changed",
                obj=instance,
                object_type="auth.user",
                payload={"user": username, "password_usable": instance.has_usable_password()},
            )
    if password_changed:
        tokens_revoke_all(user=instance, reason="password changed")


def tokens_revoke_all(*, user: Actor, reason: str) -> int:
    """Revoke every active token of ``user``, one audit event each; returns how many."""
    with transaction.atomic():
        now = timezone.now()
        tokens = list(
            ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        )
        for token in tokens:
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=now)
            audit_record(
                actor=_actor.get(),
                action="token.revoked",
                obj=token,
                payload={"user": user.get_username(), "prefix": token.prefix, "reason": reason},
            )
    return len(tokens)


def user_post_delete(sender, instance, **kwargs) -> None:
    if not _elsewhere.get():
        _record(
            action="user.deleted",
            object_type="auth.user",
            object_id=str(instance.pk),
            payload={"user": instance.get_username()},
        )


def group_post_save(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """A new or renamed group: role names are group names, so a rename grants or removes."""
    if raw or _elsewhere.get():
        return
    _record(
        action="group.created" if created else "group.changed",
        obj=instance,
        object_type="auth.group",
        payload={"group": instance.name},
    )


def group_post_delete(sender, instance, **kwargs) -> None:
    if not _elsewhere.get():
        _record(
            action="group.deleted",
            object_type="auth.group",
            object_id=str(instance.pk),
            payload={"group": instance.name},
        )


def _relations() -> dict[type, tuple[str, str, str]]:
    """Each watched many-to-many table: its action, and the payload keys of its two sides."""
    user_model = get_user_model()
    return {
        user_model.groups.through: ("user.groups_changed", "users", "groups"),
        user_model.user_permissions.through: ("user.permissions_changed", "users", "permissions"),
        Group.permissions.through: ("group.permissions_changed", "groups", "permissions"),
        Team.members.through: ("team.members_changed", "teams", "users"),
    }


def membership_changed(sender, instance, action: str, reverse: bool, model, pk_set, **kwargs):
    """Record additions to and removals from groups, permissions and teams, either side."""
    if _elsewhere.get():
        return
    if action == "pre_clear":
        # post_clear names no rows: remember them now.
        instance._gatehouse_cleared = _cleared_members(sender, instance, reverse, model)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    name, owner_key, member_key = _relations()[sender]
    if action == "post_clear":
        members = getattr(instance, "_gatehouse_cleared", [])
    else:
        members = list(model.objects.filter(pk__in=pk_set or ()))
    if not members:
        return
    labels = sorted(_label(m) for m in members)
    change = {"post_add": "added", "post_remove": "removed", "post_clear": "removed"}[action]
    keys = (member_key, owner_key) if reverse else (owner_key, member_key)
    _record(
        action=name,
        obj=instance,
        payload={"change": change, keys[0]: [_label(instance)], keys[1]: labels},
    )


def _cleared_members(sender, instance, reverse: bool, model) -> list:
    """The rows on the other side of ``instance`` in the ``sender`` table, before a clear."""
    through_fields = [f for f in sender._meta.fields if f.is_relation]
    own = next(f for f in through_fields if f.related_model is type(instance))
    other = next(f for f in through_fields if f is not own and f.related_model is model)
    ids = sender.objects.filter(**{own.name: instance}).values_list(f"{other.name}_id", flat=True)
    return list(model.objects.filter(pk__in=list(ids)))


def connect() -> None:
    """Wire the receivers; called once from the registry app's ``ready()``."""
    # axes (earlier in INSTALLED_APPS) connected its handler first, so this receiver sees
    # whether the attempt locked the account.
    from django.contrib.auth.signals import user_login_failed as login_failed_signal
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

    user_model = get_user_model()
    login_failed_signal.connect(login_failed, dispatch_uid="gatehouse.login_failed")
    pre_save.connect(user_pre_save, sender=user_model, dispatch_uid="gatehouse.user_pre")
    post_save.connect(user_post_save, sender=user_model, dispatch_uid="gatehouse.user_post")
    post_delete.connect(user_post_delete, sender=user_model, dispatch_uid="gatehouse.user_del")
    post_save.connect(group_post_save, sender=Group, dispatch_uid="gatehouse.group_post")
    post_delete.connect(group_post_delete, sender=Group, dispatch_uid="gatehouse.group_del")
    for through in _relations():
        m2m_changed.connect(
            membership_changed, sender=through, dispatch_uid=f"gatehouse.m2m.{through.__name__}"
        )


class LockoutMessageMixin:
    """A login form that tells a locked account so, and for how long."""

    # Given by the authentication form this is mixed into.
    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()  # type: ignore[misc]  # the form class it is mixed into
        except forms.ValidationError:
            # The axes backend refused the attempt, or this failure reached the limit.
            if self.request is None or not getattr(self.request, "axes_locked_out", False):
                raise
            self.locked = locked_error(self.request, self.cleaned_data.get("username", ""))
            raise forms.ValidationError(self.locked.message, code="locked") from None
