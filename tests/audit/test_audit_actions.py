"""The audit vocabulary: every action the code records is declared once, with a description;
an undeclared one is refused before anything is written; each family's declared members match
the choices they are built from; the audit page filters by the declared actions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.contrib import admin
from django.db import transaction

from registry import accounts
from registry.admin import AuditedAdmin
from registry.audit import actions
from registry.audit.actions import ACTIONS
from registry.audit.record import audit_record
from registry.models import AuditChainHead, AuditEvent, VersionStatus
from reviews.models import Decision, ProductionEvent
from tests.builders import record, web

ROOT = Path(__file__).resolve().parents[2]
APPS = ("registry", "explain", "reviews", "events")
# The functions that hand their ``action=`` on to audit_record (audit_event builds one for
# audit_record_many).
RECORDERS = {"audit_record", "audit_event", "audit_now", "_record"}
ACTION_TEXT = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
# Call sites whose action comes from a table, each checked by its own test below.
TABLES = {("registry/accounts.py", "name")}


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _action_sites() -> list[tuple[str, ast.expr, ast.AST]]:
    """Each ``action=`` given to a recorder in the apps' code: (where, value, enclosing def)."""
    sites = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for call in ast.walk(function):
                    if not isinstance(call, ast.Call) or _call_name(call) not in RECORDERS:
                        continue
                    for keyword in call.keywords:
                        if keyword.arg == "action":
                            where = f"{path.relative_to(ROOT)}:{call.lineno}"
                            sites.append((where, keyword.value, function))
    return sites


def _fstring_prefix(value: ast.JoinedStr) -> str:
    first = value.values[0]
    return first.value if isinstance(first, ast.Constant) else ""


def _possible_actions(where: str, value: ast.expr, function: ast.AST) -> list[str]:
    """The literal actions a call site can record; f-strings are checked by family below."""
    if isinstance(value, ast.Constant):
        return [value.value]
    if isinstance(value, ast.IfExp):
        return [
            *_possible_actions(where, value.body, function),
            *_possible_actions(where, value.orelse, function),
        ]
    if isinstance(value, ast.Name):
        # A variable set from literals in the same function (explain's sweep), or from a
        # table checked on its own (accounts._relations, see below).
        found = [
            node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ACTION_TEXT.match(node.value)
            and node.value.split(".")[0] in {a.key.split(".")[0] for a in ACTIONS}
        ]
        table = (where.split(":")[0], value.id) in TABLES
        assert found or table, f"{where}: cannot tell which actions {value.id!r} records"
        return found
    if isinstance(value, ast.JoinedStr):
        return []
    raise AssertionError(f"{where}: cannot tell which action {ast.unparse(value)} records")


def test_every_action_the_code_records_is_declared():
    sites = _action_sites()
    assert len(sites) >= 30  # the walk found the call sites

    undeclared = [
        f"{where}: {action}"
        for where, value, function in sites
        for action in _possible_actions(where, value, function)
        if action not in ACTIONS
    ]
    assert undeclared == []


def test_every_action_built_from_a_value_belongs_to_a_declared_family():
    patterns = {family.pattern.split("{")[0] for family in ACTIONS.families.values()}
    built = [
        (where, value) for where, value, _ in _action_sites() if isinstance(value, ast.JoinedStr)
    ]

    assert len(built) == 5
    assert [
        f"{where}: {ast.unparse(value)}"
        for where, value in built
        if _fstring_prefix(value) not in patterns
    ] == []


def test_each_family_lists_exactly_the_choices_it_is_built_from():
    assert set(actions.SIGNOFF.members) == set(Decision.values)
    assert set(actions.PRODUCTION.members) == set(ProductionEvent.Action.values)
    audited = {
        model._meta.model_name
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, AuditedAdmin)
    }
    assert set(actions.ADMIN_MODELS) == audited
    assert set(actions.ADMIN.members) == {
        f"{model}.{change}" for model in audited for change in ("added", "changed", "deleted")
    }


def test_the_version_status_family_lists_the_statuses_a_person_sets():
    """reviews.services._set_status records ``version.<status>`` when given an actor."""
    tree = ast.parse((ROOT / "reviews" / "services.py").read_text())
    with_actor = {
        ast.unparse(call.args[1]).removeprefix("VersionStatus.")
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and _call_name(call) == "_set_status"
        and any(keyword.arg == "actor" for keyword in call.keywords)
    }

    assert {VersionStatus[name].value for name in with_actor} == set(actions.VERSION_STATUS.members)


def test_the_membership_actions_are_declared():
    undeclared = [name for name, _, _ in accounts._relations().values() if name not in ACTIONS]

    assert undeclared == []


def test_every_declared_action_says_what_it_means():
    for action in ACTIONS:
        assert ACTION_TEXT.match(action.key), action.key
        assert action.description.strip(), action.key
        assert "{}" not in action.description, action.key


def test_an_action_is_declared_once():
    with pytest.raises(ValueError, match="already declared"):
        ACTIONS.add("version.registered", "again")


def test_an_undeclared_action_is_refused_and_nothing_is_written(db):
    head = AuditChainHead.objects.get()

    refused = pytest.raises(ValueError, match=r"undeclared audit action 'version\.frobnicated'")
    with refused, transaction.atomic():
        audit_record(actor=None, action="version.frobnicated", payload={})

    assert AuditChainHead.objects.get().seq == head.seq
    assert not AuditEvent.objects.filter(action="version.frobnicated").exists()


# --- the audit page's action filter ----------------------------------------------------------


def test_the_action_filter_offers_declared_actions_with_no_events_yet(db, auditor):
    assert not AuditEvent.objects.filter(action="bundle.exported").exists()

    html = web(auditor).get("/audit/").content.decode()

    assert (
        '<option value="bundle.exported" label="A version&#x27;s audit bundle was exported">'
        in html
    )
    for action in ACTIONS:
        assert f'<option value="{action.key}"' in html


def test_an_action_seen_only_long_ago_is_still_offered_and_filters(db, auditor):
    record(1, model_name="m", action="policy.created")
    record(2000, model_name="m")  # the newest 2,000 events are all test.event

    client = web(auditor)
    html = client.get("/audit/").content.decode()
    filtered = client.get("/audit/?action=policy.created").content.decode()

    assert '<option value="policy.created" label="A review policy was created">' in html
    assert filtered.count("<code>policy.created</code>") == 1
    assert "test.event</code>" not in filtered
