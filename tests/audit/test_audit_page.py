"""The audit log page: who sees which events, filters, keyset pages, and the chain check."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.models import AuditChainHead, AuditEvent
from tests.builders import record, web

pytestmark = pytest.mark.django_db


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="seq">(\d+)</td>', html)]


@pytest.fixture
def two_models(model, other_model, engineer):
    """Events of our model, of another team's model, and of no model."""
    record(3, model_name=model.name, action="model.noted", actor=engineer)
    record(2, model_name=other_model.name, action="model.noted")
    return model, other_model


# --- who sees what -------------------------------------------------------------------------


def test_a_team_member_sees_only_the_events_of_the_models_they_may_see(two_models, reviewer):
    html = web(reviewer).get("/audit/").content.decode()

    shown = set(AuditEvent.objects.filter(seq__in=seqs(html)).values_list("model_name", flat=True))
    assert shown == {"credit-default"}
    assert len(seqs(html)) == AuditEvent.objects.filter(model_name="credit-default").count()


def test_an_outsider_sees_no_event_of_our_model(two_models, outsider):
    html = web(outsider).get("/audit/").content.decode()

    assert "credit-default" not in html
    assert seqs(html)  # but the events of their own team's model
    shown = set(AuditEvent.objects.filter(seq__in=seqs(html)).values_list("model_name", flat=True))
    assert shown == {"churn"}
    assert "Verify chain now" not in html
    assert "export.csv" not in html


def test_an_outsider_filtering_on_our_model_gets_nothing(two_models, outsider):
    html = web(outsider).get("/audit/?model=credit-default").content.decode()

    assert seqs(html) == []


def test_an_auditor_sees_every_event(two_models, auditor):
    html = web(auditor).get("/audit/").content.decode()

    newest = list(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[:50])
    assert seqs(html) == newest
    assert "Verify chain now" in html
    assert "/audit/export.csv" in html and "/audit/export.jsonl" in html


def test_the_page_needs_a_login(db):
    response = Client().get("/audit/")

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_everyone_logged_in_has_the_audit_link(reviewer):
    html = web(reviewer).get("/models/").content.decode()

    assert '<a href="/audit/">Audit</a>' in html


# --- filters -------------------------------------------------------------------------------


def test_filters_by_model_actor_and_action(two_models, auditor, engineer):
    record(1, model_name="credit-default", action="version.registered", actor=engineer)
    client = web(auditor)

    by_model = seqs(client.get("/audit/?model=churn").content.decode())
    by_actor = seqs(client.get("/audit/?actor=eng&action=model.noted").content.decode())
    by_prefix = seqs(client.get("/audit/?action=version.").content.decode())

    assert by_model == list(
        AuditEvent.objects.filter(model_name="churn").order_by("-seq").values_list("seq", flat=True)
    )
    assert by_actor == list(
        AuditEvent.objects.filter(actor_name="eng", action="model.noted")
        .order_by("-seq")
        .values_list("seq", flat=True)
    )
    assert by_actor and len(by_actor) == 3
    assert by_prefix == list(
        AuditEvent.objects.filter(action__startswith="version.")
        .order_by("-seq")
        .values_list("seq", flat=True)
    )


def test_filters_by_date_range(two_models, auditor):
    today = timezone.localdate()
    client = web(auditor)

    everything = seqs(client.get(f"/audit/?from={today}&to={today}").content.decode())
    tomorrow = seqs(client.get(f"/audit/?from={today + timedelta(days=1)}").content.decode())
    until_yesterday = seqs(client.get(f"/audit/?to={today - timedelta(days=1)}").content.decode())

    assert everything == list(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True))
    assert tomorrow == []
    assert until_yesterday == []


def test_filters_accept_a_date_and_time(two_models, auditor):
    cut = AuditEvent.objects.get(seq=5).created_at
    html = web(auditor).get("/audit/", {"to": cut.isoformat()}).content.decode()

    assert max(seqs(html)) == 5


def test_a_bad_date_is_an_error_next_to_its_field(two_models, auditor):
    response = web(auditor).get("/audit/?from=31/12/2025&to=soon")
    html = response.content.decode()

    assert response.status_code == 400
    assert re.search(r'id="from-error">Enter a date \(YYYY-MM-DD\)', html)
    assert re.search(r'id="to-error">Enter a date', html)
    assert seqs(html) == []


def test_an_end_before_the_start_is_an_error_on_to(two_models, auditor):
    response = web(auditor).get("/audit/?from=2026-02-02&to=2026-02-01")

    assert response.status_code == 400
    assert 'id="to-error">Must not be before' in response.content.decode()


def test_the_payload_is_compact_and_long_ones_expand(model, auditor):
    record(1, model_name=model.name, note="x" * 300)
    html = web(auditor).get("/audit/").content.decode()

    assert "<details><summary><code>{&quot;i&quot;:0,&quot;note&quot;:&quot;xxx" in html
    assert "&quot;note&quot;: &quot;xxxx" in html  # the pretty, expanded form


# --- keyset pages --------------------------------------------------------------------------


def test_pages_walk_the_log_by_sequence_number(db, auditor):
    record(120, model_name="m")
    top = AuditChainHead.objects.get().seq
    client = web(auditor)

    first = client.get("/audit/").content.decode()
    assert seqs(first) == list(range(top, top - 50, -1))
    older = re.search(r'href="\?before=(\d+)" rel="next"', first)
    assert older and int(older.group(1)) == top - 49
    assert 'rel="prev"' not in first

    second = client.get(f"/audit/?before={top - 49}").content.decode()
    assert seqs(second) == list(range(top - 50, top - 100, -1))
    assert re.search(rf'href="\?after={top - 50}" rel="prev"', second)

    back = client.get(f"/audit/?after={top - 50}").content.decode()
    assert seqs(back) == seqs(first)

    last = client.get(f"/audit/?before={top - 99}").content.decode()
    assert seqs(last) == list(range(top - 100, 0, -1))
    assert 'rel="next"' not in last


def test_pages_keep_the_filters(db, auditor):
    record(60, model_name="m", action="a.one")
    record(60, model_name="m", action="a.two")
    html = web(auditor).get("/audit/?action=a.one").content.decode()

    assert re.search(r'href="\?action=a.one&amp;before=\d+" rel="next"', html)


def test_a_page_never_counts_or_offsets(db, auditor, django_assert_max_num_queries):
    record(120, model_name="m")
    client = web(auditor)
    client.get("/audit/")  # warm the session

    with CaptureQueriesContext(connection) as captured, django_assert_max_num_queries(12):
        response = client.get("/audit/?before=60&action=test.event")

    assert response.status_code == 200
    sql = " ".join(q["sql"].upper() for q in captured.captured_queries)
    assert "OFFSET" not in sql
    assert "COUNT(" not in sql
    assert "LIMIT 51" in sql


# --- the chain -----------------------------------------------------------------------------


def test_the_head_is_shown(two_models, reviewer):
    head = AuditChainHead.objects.get()
    html = web(reviewer).get("/audit/").content.decode()

    assert f"<strong>#{head.seq}</strong>" in html
    assert head.hash in html


def test_an_auditor_verifies_the_chain_and_the_check_is_recorded(two_models, auditor):
    before = AuditChainHead.objects.get().seq
    response = web(auditor).post("/audit/verify/", follow=True)
    html = response.content.decode()

    assert f"Chain verified: {before:,} events intact up to #{before}" in html
    assert "events/s" in html
    check = AuditEvent.objects.get(action="audit.verified")
    assert (check.actor_name, check.seq) == ("aud", before + 1)
    assert check.payload["ok"] is True
    assert check.payload["checked"] == before


def test_a_broken_chain_is_reported(two_models, admin_user, monkeypatch):
    from registry.audit import services
    from registry.audit.chain import ChainBreak, ChainReport

    monkeypatch.setattr(
        services,
        "audit_verify",
        lambda: ChainReport(3, 3, "x" * 64, ChainBreak(4, "content does not match its hash")),
    )
    html = web(admin_user).post("/audit/verify/", follow=True).content.decode()

    assert "Chain BROKEN at event #4: content does not match its hash" in html
    assert AuditEvent.objects.get(action="audit.verified").payload["ok"] is False


@pytest.mark.parametrize("who", ["reviewer", "outsider", "engineer"])
def test_only_auditors_and_admins_verify(two_models, who, request):
    response = web(request.getfixturevalue(who)).post("/audit/verify/")

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="audit.verified").exists()
