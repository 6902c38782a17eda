"""The audit services check their own access: called directly, with no view in front, they
refuse everyone but auditors and admins and record nothing for them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from registry.audit import services
from registry.audit.filters import AuditFilters
from registry.errors import NotAllowed
from registry.models import AuditEvent
from registry.permissions import can_export_audit, can_verify_chain, require
from tests.builders import record, streamed

REFUSED = ["outsider", "engineer", "reviewer", "risk_officer"]
ALLOWED = ["auditor", "admin_user"]


@pytest.mark.parametrize("who", REFUSED)
def test_export_refuses_all_but_auditors_and_admins(db, who, request):
    record(3, model_name="m")
    actor = request.getfixturevalue(who)

    with pytest.raises(NotAllowed, match="Only auditors and admins export"):
        services.audit_export(actor=actor, fmt="csv", filters=AuditFilters(), via="api")
    with pytest.raises(NotAllowed):
        services.audit_export_record(actor=actor, fmt="csv", filters=AuditFilters(), via="web")

    assert not AuditEvent.objects.filter(action="audit.exported").exists()


@pytest.mark.parametrize("who", REFUSED)
def test_chain_verify_refuses_all_but_auditors_and_admins(db, who, request):
    actor = request.getfixturevalue(who)

    with pytest.raises(NotAllowed, match="Only auditors and admins verify the chain"):
        services.audit_chain_verify(actor=actor)

    assert not AuditEvent.objects.filter(action="audit.verified").exists()


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_no_one_and_anonymous_are_refused(db, actor):
    with pytest.raises(NotAllowed):
        services.audit_chain_verify(actor=actor)
    with pytest.raises(NotAllowed):
        services.audit_export(actor=actor, fmt="jsonl", filters=AuditFilters(), via="api")


@pytest.mark.parametrize("who", ALLOWED)
def test_auditors_and_admins_export_and_verify(db, who, request):
    actor = request.getfixturevalue(who)
    record(3, model_name="m")

    export = services.audit_export(
        actor=actor, fmt="jsonl", filters=AuditFilters(model="m"), via="api"
    )
    lines = b"".join(export.chunks).decode().splitlines()
    verification = services.audit_chain_verify(actor=actor)

    assert export.content_type.startswith("application/x-ndjson")
    assert export.filename.startswith("audit-m-") and export.filename.endswith(".jsonl")
    assert len(lines) == 4  # the three events, then the export's own, recorded first
    assert '"action":"audit.exported"' in lines[-1]
    assert verification.report.ok
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor_name == actor.get_username()
    assert exported.payload == {"format": "jsonl", "filters": {"model": "m"}, "via": "api"}
    assert AuditEvent.objects.get(action="audit.verified").payload["ok"] is True


def test_an_unknown_format_is_refused_before_anything_is_recorded(db, auditor):
    from registry.errors import InvalidInput

    with pytest.raises(InvalidInput, match="format"):
        services.audit_export(actor=auditor, fmt="xlsx", filters=AuditFilters(), via="api")

    assert not AuditEvent.objects.filter(action="audit.exported").exists()


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("auditor", True),
        ("admin_user", True),
        ("outsider", False),
        ("engineer", False),
        ("reviewer", False),
        ("risk_officer", False),
        ("ci", False),
    ],
)
def test_the_audit_predicates(db, who, allowed, request):
    user = request.getfixturevalue(who)
    user = user[0] if who == "ci" else user  # the CI fixture: (user, token, secret)

    assert can_export_audit(user) is allowed
    assert can_verify_chain(user) is allowed


def test_require_raises_not_allowed_with_the_message():
    require(True, "never shown")
    with pytest.raises(NotAllowed, match="Nope"):
        require(False, "Nope.")


def test_the_page_export_still_streams_through_the_service(db, auditor):
    from django.test import Client

    record(2, model_name="m")
    client = Client()
    client.force_login(auditor)

    body = streamed(client.get("/audit/export.jsonl?model=m")).decode()

    assert len(body.splitlines()) == 3  # with the export's own event
    assert AuditEvent.objects.get(action="audit.exported").payload["via"] == "web"


@pytest.mark.parametrize("who", [*REFUSED, None])
def test_the_chain_head_is_for_auditors_and_admins_only(db, who, request):
    actor = request.getfixturevalue(who) if who else AnonymousUser()

    with pytest.raises(NotAllowed, match="Only auditors and admins read the chain head"):
        services.audit_head(actor=actor)


@pytest.mark.parametrize("who", ALLOWED)
def test_auditors_and_admins_read_the_chain_head(db, who, request):
    record(2)

    anchor = services.audit_head(actor=request.getfixturevalue(who))

    head = AuditEvent.objects.order_by("-seq").first()
    assert (anchor.seq, anchor.hash) == (head.seq, head.hash)
