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


def test_the_raw_event_is_kept_in_a_details_element(model, auditor):
    record(1, model_name=model.name, note="x" * 300)
    html = web(auditor).get("/audit/").content.decode()

    assert '<details class="payload"><summary><code>test.event</code>' in html
    assert "&quot;note&quot;: &quot;xxxx" in html  # the pretty, expanded form


# --- events as sentences -------------------------------------------------------------------


def sentences(html: str) -> list[str]:
    return re.findall(r'<p class="sentence">(.*?)</p>', html)


def test_a_promotion_reads_as_a_sentence_linked_to_the_model_and_versions(
    model, reviewer, risk_officer
):
    record(
        1,
        model_name=model.name,
        action="version.promoted",
        actor=risk_officer,
        version="1.1.0",
        replaced="1.0.0",
    )
    html = web(reviewer).get("/audit/").content.decode()

    base = "/models/credit-default/"
    assert sentences(html)[0] == (
        f'{risk_officer.username} promoted <a href="{base}">credit-default</a> '
        f'<a href="{base}versions/1.1.0/">1.1.0</a>, replacing '
        f'<a href="{base}versions/1.0.0/">1.0.0</a>'
    )


def test_a_signoff_names_the_signers_role_and_meaning(model, reviewer, risk_officer):
    record(
        1,
        model_name=model.name,
        action="signoff.fairness_override",
        actor=risk_officer,
        version="1.1.0",
        role="risk_officer",
        decision="fairness_override",
    )
    html = web(reviewer).get("/audit/").content.decode()

    assert sentences(html)[0].startswith(f"{risk_officer.username} (Risk officer) signed off ")
    assert sentences(html)[0].endswith(
        "1.1.0</a>: fairness override (inconclusive verdict accepted)"
    )


def test_payload_html_is_escaped_and_never_linked_outside_the_url_patterns(model, auditor):
    record(1, model_name=model.name, action="version.registered", version="<b>1</b>/x")
    html = web(auditor).get("/audit/").content.decode()

    assert "<b>1</b>" not in html
    assert sentences(html)[0].endswith(
        '<a href="/models/credit-default/">credit-default</a> &lt;b&gt;1&lt;/b&gt;/x'
    )


def test_an_auditor_sees_every_models_sentences_linked(two_models, auditor):
    html = web(auditor).get("/audit/").content.decode()

    linked = set(re.findall(r'<a href="/models/([\w-]+)/">', " ".join(sentences(html))))
    assert linked == {"credit-default", "churn"}
    assert len(sentences(html)) == len(seqs(html))


def test_an_undescribed_action_reads_as_its_description(two_models, outsider):
    html = web(outsider).get("/audit/").content.decode()

    notes = [s for s in sentences(html) if ": A test note about a model — " in s]
    assert len(notes) == 2  # churn's, linked; none of credit-default's
    assert all(s.endswith('— <a href="/models/churn/">churn</a>') for s in notes)
    assert "credit-default" not in html


# --- the last check, lasting ---------------------------------------------------------------


def test_the_last_verification_stays_on_the_page(two_models, auditor, reviewer):
    from registry.audit.services import audit_chain_verify

    assert "The chain has not been verified yet." in web(reviewer).get("/audit/").content.decode()
    checked = AuditChainHead.objects.get().seq
    audit_chain_verify(actor=auditor)
    record(5, model_name="credit-default")  # later events push the check off the first page

    html = web(reviewer).get("/audit/").content.decode()
    assert f"by aud: {checked} events intact up to #{checked} " in re.sub(r"\s+", " ", html)
    check = AuditEvent.objects.get(action="audit.verified")
    assert f"(event #{check.seq})" in html


def test_the_page_reads_the_last_check_and_a_page_in_as_many_queries_as_events_grow(
    two_models, auditor
):
    from registry.audit.services import audit_chain_verify

    client = web(auditor)
    client.get("/audit/")  # warm the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/audit/").status_code == 200
        return len(captured.captured_queries)

    audit_chain_verify(actor=auditor)
    few = queries()
    record(300, model_name="credit-default")
    audit_chain_verify(actor=auditor)
    record(300, model_name="churn")
    assert queries() == few


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


def test_every_phrase_is_of_a_declared_action():
    from registry.audit.actions import ACTIONS
    from registry.audit.sentences import PHRASES

    assert [key for key in PHRASES if key not in ACTIONS] == []
