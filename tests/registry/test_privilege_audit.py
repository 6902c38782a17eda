"""Every change to people, groups, team membership, passwords and tokens is a chain event,
whatever path made it: the admin, management commands, the ORM, or a service."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client

from registry import services
from registry.audit.chain import audit_verify
from registry.models import ApiToken, AuditEvent
from registry.roles import Role
from tests.builders import PASSWORD, make_user

NEW_PASSWORD = "a-new-and-long-passphrase-42"


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def actions_since(seq: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("action", flat=True)
    )


def last_seq() -> int:
    event = AuditEvent.objects.order_by("-seq").first()
    return event.seq if event else 0


def hashes_in_log(user) -> bool:
    return user.password in json.dumps([e.payload for e in AuditEvent.objects.all()])


# --- passwords -----------------------------------------------------------------------------


def test_an_admin_password_reset_is_an_event_by_that_admin_and_revokes_tokens(
    admin_client, reviewer
):
    issued = services.token_issue(actor=reviewer, user=reviewer, name="laptop")
    before = last_seq()

    response = admin_client.post(
        f"/admin/auth/user/{reviewer.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    reviewer.refresh_from_db()
    assert reviewer.check_password(NEW_PASSWORD)
    assert actions_since(before) == ["user.password_changed", "token.revoked"]
    changed = AuditEvent.objects.get(action="user.password_changed")
    assert (changed.actor_name, changed.object_id) == ("root", str(reviewer.pk))
    assert changed.payload == {"user": "rev", "password_usable": True}
    revoked = AuditEvent.objects.get(action="token.revoked")
    assert revoked.actor_name == "root"
    assert revoked.payload == {
        "user": "rev",
        "prefix": issued.token.prefix,
        "reason": "password changed",
    }
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    assert not hashes_in_log(reviewer)
    assert audit_verify().ok


def test_set_password_and_save_is_an_event_and_revokes_tokens(reviewer):
    issued = services.token_issue(actor=reviewer, user=reviewer, name="laptop")
    before = last_seq()

    reviewer.set_password(NEW_PASSWORD)
    reviewer.save()

    assert actions_since(before) == ["user.password_changed", "token.revoked"]
    assert AuditEvent.objects.get(action="user.password_changed").actor_name == "system"
    assert not ApiToken.objects.get(pk=issued.token.pk).is_active
    assert audit_verify().ok


def test_a_hash_upgrade_on_login_is_not_a_password_change(settings, reviewer):
    """check_password() re-hashes an outdated hash with the same password: no event, tokens stay."""
    issued = services.token_issue(actor=reviewer, user=reviewer, name="laptop")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    user = get_user_model().objects.get(pk=reviewer.pk)
    old_hash = user.password
    before = last_seq()

    assert user.check_password(PASSWORD)

    user.refresh_from_db()
    assert user.password != old_hash and user.password.startswith("pbkdf2_")
    assert actions_since(before) == []
    assert ApiToken.objects.get(pk=issued.token.pk).is_active


def test_createsuperuser_is_an_event_that_names_the_privileges(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", NEW_PASSWORD)
    before = last_seq()

    call_command("createsuperuser", "--noinput", username="boss", email="boss@example.org")

    assert actions_since(before) == ["user.created"]
    event = AuditEvent.objects.get(action="user.created", payload__user="boss")
    assert event.payload == {
        "user": "boss",
        "password_usable": True,
        "is_superuser": True,
        "is_staff": True,
        "is_active": True,
    }
    assert not hashes_in_log(get_user_model().objects.get(username="boss"))
    assert audit_verify().ok


# --- privileges, groups, permissions, teams ---------------------------------------------------


def test_granting_superuser_through_the_orm_is_an_event(reviewer):
    before = last_seq()

    reviewer.is_superuser = True
    reviewer.is_staff = True
    reviewer.save()

    assert actions_since(before) == ["user.privileges_changed"]
    event = AuditEvent.objects.get(action="user.privileges_changed")
    assert event.payload == {
        "user": "rev",
        "changes": {
            "is_superuser": {"from": False, "to": True},
            "is_staff": {"from": False, "to": True},
        },
    }


def test_a_login_records_no_account_change(reviewer):
    before = last_seq()

    assert Client().login(username="rev", password=PASSWORD)

    assert actions_since(before) == []


def test_adding_to_a_group_through_the_orm_either_way_is_an_event(engineer):
    risk = Group.objects.get(name=Role.RISK_OFFICER.value)
    before = last_seq()

    engineer.groups.add(risk)
    risk.user_set.remove(engineer)
    engineer.groups.add(risk)
    engineer.groups.clear()

    assert actions_since(before) == ["user.groups_changed"] * 4
    payloads = [e.payload for e in AuditEvent.objects.filter(seq__gt=before).order_by("seq")]
    assert payloads == [
        {"change": "added", "users": ["eng"], "groups": ["risk_officer"]},
        {"change": "removed", "users": ["eng"], "groups": ["risk_officer"]},
        {"change": "added", "users": ["eng"], "groups": ["risk_officer"]},
        {"change": "removed", "users": ["eng"], "groups": ["ml_engineer", "risk_officer"]},
    ]
    assert audit_verify().ok


def test_group_permissions_and_team_members_changed_through_the_orm_are_events(team, reviewer):
    auditors = Group.objects.get(name=Role.AUDITOR.value)
    perm = Permission.objects.get(codename="change_user")
    outsider = make_user("olga", [])
    before = last_seq()

    auditors.permissions.add(perm)
    team.members.add(outsider)
    reviewer.user_permissions.add(perm)

    assert actions_since(before) == [
        "group.permissions_changed",
        "team.members_changed",
        "user.permissions_changed",
    ]
    payloads = [e.payload for e in AuditEvent.objects.filter(seq__gt=before).order_by("seq")]
    assert payloads[0] == {
        "change": "added",
        "groups": ["auditor"],
        "permissions": ["auth.change_user"],
    }
    assert payloads[1] == {"change": "added", "teams": ["credit-risk"], "users": ["olga"]}


def test_renaming_a_group_is_an_event(db):
    group = Group.objects.create(name="helpers")
    before = last_seq()

    group.name = Role.REVIEWER.value + "s"
    group.save()

    assert actions_since(before) == ["group.changed"]
    assert AuditEvent.objects.get(action="group.created").payload == {"group": "helpers"}


def test_a_service_that_records_its_own_event_gets_no_duplicate(team, db):
    user = get_user_model().objects.create_user("newbie", password=PASSWORD)
    before = last_seq()

    services.user_assign_roles(actor=None, user=user, roles=[Role.REVIEWER.value], teams=[team])

    assert actions_since(before) == ["user.roles_assigned"]


def test_adding_a_user_to_a_group_in_the_admin_is_one_event_by_that_admin(admin_client, engineer):
    risk = Group.objects.get(name=Role.RISK_OFFICER.value)
    groups = [str(g.pk) for g in engineer.groups.all()] + [str(risk.pk)]
    before = last_seq()

    response = admin_client.post(
        f"/admin/auth/user/{engineer.pk}/change/",
        {
            "username": "eng",
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "is_superuser": "on",
            "groups": groups,
            "user_permissions": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "last_login_0": "",
            "last_login_1": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    engineer.refresh_from_db()
    assert engineer.is_superuser and engineer.groups.filter(pk=risk.pk).exists()
    assert actions_since(before) == ["admin.user.changed"]
    event = AuditEvent.objects.get(action="admin.user.changed")
    assert event.actor_name == "root"
    assert event.payload["fields"]["groups"] == ["ml_engineer", "risk_officer"]
    assert event.payload["fields"]["is_superuser"] == "True"
    assert audit_verify().ok


def test_adding_a_user_in_the_admin_never_logs_the_password(admin_client):
    before = last_seq()

    response = admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "fresh",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert actions_since(before) == ["admin.user.added"]
    fields = AuditEvent.objects.get(action="admin.user.added").payload["fields"]
    assert fields["password1"] == fields["password2"] == "(set)"
    assert NEW_PASSWORD not in json.dumps(fields)


def test_changing_group_permissions_in_the_admin_is_an_event(admin_client):
    group = Group.objects.get(name=Role.AUDITOR.value)
    perm = Permission.objects.get(codename="change_user")
    before = last_seq()

    response = admin_client.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": "auditor", "permissions": [str(perm.pk)]},
    )

    assert response.status_code == 302
    assert actions_since(before) == ["admin.group.changed"]
    event = AuditEvent.objects.get(action="admin.group.changed")
    assert event.payload["fields"]["permissions"] == [str(perm)]
