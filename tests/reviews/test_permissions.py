"""Each access rule is one predicate: the table below pins who may do what, every service
refuses exactly the people its predicate refuses, and the version page shows exactly the
actions the predicates allow (an outsider sees no page at all)."""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from django.test import Client

from explain import kinds
from explain import services as explain_services
from explain.permissions import can_request_reports
from registry import permissions as registry_permissions
from registry.errors import DomainError, NotAllowed
from registry.models import RegisteredModel
from reviews import permissions, services
from reviews.models import Decision
from tests.builders import PASSWORD, fresh

ROLES = ("engineer", "reviewer", "risk_officer", "auditor", "admin_user", "outsider", "ci_user")

# Who may do what to a version of the engineers' team's model, whatever its status.
EXPECTED = {
    #               view   request sign   override approve promote rollback reports
    "engineer": (True, True, False, False, False, False, False, True),
    "reviewer": (True, False, True, False, True, False, False, True),
    "risk_officer": (True, False, True, True, True, True, True, True),
    "auditor": (True, False, False, False, True, False, False, False),
    "admin_user": (True, True, False, False, True, True, True, True),
    "outsider": (False, False, False, False, True, False, False, False),
    "ci_user": (False, False, False, False, False, False, False, False),
}


def _predicates(user, version) -> tuple[bool, ...]:
    return (
        registry_permissions.can_view_model(user, version.model),
        permissions.can_request_review(user, version),
        permissions.can_sign(user, version),
        permissions.can_override(user),
        permissions.can_approve(user, version),
        permissions.can_promote(user, version),
        permissions.can_rollback(user, version),
        can_request_reports(user, version),
    )


@pytest.mark.parametrize("role", ROLES)
def test_the_predicates_say_who_may_do_what(role, request, submitted):
    user = request.getfixturevalue(role)

    assert _predicates(user, submitted) == EXPECTED[role]


def test_visibility_is_one_rule_for_lists_and_single_models(
    request, model, other_model, ci, auditor
):
    """``registry.permissions.visible_models`` and ``can_view_model`` read the same rule."""
    user, token, _ = ci
    people = [request.getfixturevalue(r) for r in ROLES if r != "ci_user"]
    for person, tok in [*((p, None) for p in people), (user, token), (user, None)]:
        listed = set(registry_permissions.visible_models(person, tok))
        single = {
            m
            for m in RegisteredModel.objects.all()
            if registry_permissions.can_view_model(person, m, tok)
        }
        assert listed == single, person
    assert set(registry_permissions.visible_models(auditor)) == {model, other_model}
    assert set(registry_permissions.visible_models(user, token)) == {model}


class _Undo(Exception):
    pass


def _refused(call) -> bool:
    """Whether the service refuses the caller (NotAllowed); whatever it did is undone."""
    try:
        with transaction.atomic():
            call()
            raise _Undo
    except NotAllowed:
        return True
    except (_Undo, DomainError):
        return False


@pytest.mark.parametrize("role", ROLES)
def test_every_service_refuses_exactly_whom_its_predicate_refuses(role, request, approved):
    user = request.getfixturevalue(role)
    calls = {
        # Access is checked before the status: an approved version tells who may request.
        "request": lambda: services.review_request(actor=user, version=approved),
        "sign": lambda: services.signoff_record(
            actor=user,
            version=approved,
            decision=Decision.CHANGES_REQUESTED,
            comment="one more run",
            password=PASSWORD,
        ),
        "promote": lambda: services.version_promote(actor=user, version=approved, replaces=""),
        "rollback": lambda: services.version_rollback(
            actor=user, version=approved, reason="back", replaces=""
        ),
        "reports": lambda: explain_services.report_request(
            actor=user, version=approved, kind=kinds.PERFORMANCE
        ),
    }
    allowed = {
        "request": permissions.can_request_review(user, approved),
        "sign": permissions.can_sign(user, approved),
        "promote": permissions.can_promote(user, approved),
        "rollback": permissions.can_rollback(user, approved),
        "reports": can_request_reports(user, approved),
    }

    assert {name: not _refused(call) for name, call in calls.items()} == allowed


# The forms the version page may show, by the id of each form.
FORMS = {
    "request_review": 'id="review"',
    "sign": 'id="signoff"',
    "promote": 'id="promote"',
    "rollback": 'id="rollback"',
    "explain": 'id="explain_row"',
}
# What each role is offered on a version in review.
IN_REVIEW_FORMS = {
    "engineer": {"explain"},
    "reviewer": {"sign", "explain"},
    "risk_officer": {"sign", "promote", "explain"},
    "auditor": set(),
    "admin_user": {"promote", "explain"},
}
APPROVE_CHOICE = re.compile(r'<input type="radio" name="decision" value="approved"')


def _page(user, version):
    client = Client()
    client.force_login(user)
    return client.get(f"/models/{version.model.name}/versions/{version.version}/")


@pytest.mark.parametrize("role", ROLES)
def test_the_version_page_shows_exactly_the_actions_the_predicates_allow(
    role, request, submitted, engineer
):
    user = request.getfixturevalue(role)
    services.review_request(actor=engineer, version=submitted)
    version = fresh(submitted)

    response = _page(user, version)

    if not registry_permissions.can_view_model(user, version.model):
        assert response.status_code == 404
        return
    html = response.content.decode()
    actions = permissions.version_actions(
        user, version, fairness_verdict=response.context["fairness"]["verdict"]
    )
    shown = {name for name, marker in FORMS.items() if marker in html}
    assert shown == {name for name in FORMS if actions[name]}
    assert shown == IN_REVIEW_FORMS[role]
    assert bool(APPROVE_CHOICE.search(html)) == (actions["sign"] and actions["approve"])


@pytest.mark.parametrize("role", ROLES)
def test_the_request_review_form_shows_for_the_engineers_and_admins_only(role, request, submitted):
    user = request.getfixturevalue(role)
    response = _page(user, submitted)

    if role in ("outsider", "ci_user"):
        assert response.status_code == 404
        return
    assert ('id="review"' in response.content.decode()) == (role in ("engineer", "admin_user"))
    assert ('id="signoff"' in response.content.decode()) is False
