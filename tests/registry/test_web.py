"""Server-rendered pages: login, what each person sees, tokens on the profile page, CSRF,
and the Django admin (read-only records, audited writes)."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from registry import services
from registry.models import ApiToken, AuditEvent, ModelVersion, Team
from tests.builders import PASSWORD, Candidate, client_for


def browser(user=None, **kwargs) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def text(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    without_tags = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", html, flags=re.S)
    return " ".join(unescape(without_tags).split())


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.fixture
def objective(model, engineer):
    return services.objective_create(
        actor=engineer,
        model=model,
        title="Cut manual review",
        description="Fewer borderline cases.",
        kpis=[
            {
                "name": "Manual review rate",
                "metric_key": "manual_review_rate",
                "comparator": "<=",
                "target": 0.3,
                "unit": "share",
            },
            {
                "name": "Recall",
                "metric_key": "recall",
                "comparator": ">=",
                "target": 0.75,
                "blocking": False,
            },
        ],
    )


@pytest.fixture
def version(model, ci) -> ModelVersion:
    return Candidate().register(actor=ci[0], model=model, token=ci[1]).version


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.invalid", PASSWORD)


# --- logging in and out --------------------------------------------------------------------


def test_the_login_page_logs_people_in(engineer):
    client = Client()
    form = page(client, "/login/")
    assert 'name="username"' in form
    assert 'name="password"' in form
    assert "csrfmiddlewaretoken" in form

    response = client.post("/login/", {"username": "eng", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(engineer.pk)
    home = client.get("/")
    assert home.status_code == 200
    assert home.wsgi_request.user == engineer


def test_a_wrong_password_does_not_log_in(engineer):
    client = Client()
    response = client.post("/login/", {"username": "eng", "password": "wrong"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_login_follows_next(engineer, model):
    client = Client()
    response = client.post(
        "/login/?next=/models/credit-default/",
        {"username": "eng", "password": PASSWORD, "next": "/models/credit-default/"},
    )

    assert response["Location"] == "/models/credit-default/"


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/models/",
        "/profile/",
        "/models/credit-default/",
        "/models/credit-default/versions/1.0.0/",
    ],
)
def test_anonymous_visitors_are_sent_to_login(model, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_logout_is_post_only(engineer):
    client = browser(engineer)

    assert client.get("/logout/").status_code == 405
    assert client.session["_auth_user_id"] == str(engineer.pk)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


# --- what people see -----------------------------------------------------------------------


def test_the_model_list_shows_only_the_models_a_person_may_see(
    model, other_model, engineer, outsider, auditor
):
    url = reverse("model-list")
    ours, theirs, everything = (text(page(browser(u), url)) for u in (engineer, outsider, auditor))

    assert "credit-default" in ours
    assert "churn" not in ours
    assert "churn" in theirs
    assert "credit-default" not in theirs
    assert "Credit default" not in theirs
    assert "credit-default" in everything
    assert "churn" in everything


def test_the_model_list_can_keep_only_models_in_production(
    model, other_model, version, engineer, outsider, auditor
):
    url = reverse("model-list") + "?stage=production"
    assert [m.name for m in browser(auditor).get(url).context["models"]] == []

    ModelVersion.objects.filter(pk=version.pk).update(status="production")
    ours, theirs, everything = (browser(u).get(url) for u in (engineer, outsider, auditor))

    assert [m.name for m in ours.context["models"]] == ["credit-default"]
    assert [m.name for m in everything.context["models"]] == ["credit-default"]
    assert list(theirs.context["models"]) == []  # churn has nothing in production
    assert "credit-default" not in theirs.content.decode()
    assert "Models in production" in text(ours.content.decode())


def test_the_dashboard_leaks_nothing_to_outsiders(model, version, outsider):
    html = page(browser(outsider), reverse("home"))

    assert "credit-default" not in html
    assert "Credit default" not in html
    assert version.content_sha256 not in html


def test_a_person_without_a_role_sees_no_models(model, team, django_user_model):
    member = django_user_model.objects.create_user("norole", password=PASSWORD)
    team.members.add(member)
    client = browser(member)

    listing = client.get(reverse("model-list"))

    assert "credit-default" not in listing.content.decode()
    assert list(listing.context["models"]) == []
    assert client.get(reverse("model-detail", args=["credit-default"])).status_code == 404


def test_the_model_page_shows_objectives_kpis_and_versions(model, objective, version, reviewer):
    html = page(browser(reviewer), reverse("model-detail", args=["credit-default"]))
    words = text(html)

    assert "Credit default" in words
    assert "Credit risk" in words
    assert "Cut manual review" in words
    assert "Fewer borderline cases." in words
    assert "Manual review rate manual_review_rate <= 0.3 share yes" in words
    assert "Recall recall >= 0.75 no" in words
    assert f'href="{reverse("version-detail", args=["credit-default", "1.0.0"])}"' in html


def test_the_model_page_says_when_there_is_nothing_yet(model, engineer):
    words = text(page(browser(engineer), reverse("model-detail", args=["credit-default"])))

    assert "No objectives yet." in words
    assert "No versions registered yet." in words


def test_the_version_page_shows_digests_metrics_and_columns(model, version, auditor):
    html = page(browser(auditor), reverse("version-detail", args=["credit-default", "1.0.0"]))
    words = text(html)
    data = version.evaluation_data

    for digest in (
        version.artifact_sha256,
        version.training_data_sha256,
        version.content_sha256,
        data.sha256,
        version.code_commit,
    ):
        assert digest in words
    assert version.artifact_uri in words
    assert version.training_data_uri in words
    assert "400 rows" in words
    assert "accuracy 0.81" in words
    assert "manual_review_rate 0.2" in words
    assert "label repaid" in words
    assert "prediction approved" in words
    assert "score score" in words
    assert "sex (privileged male)" in words
    assert "age_group (privileged middle)" in words
    assert "income, debt_ratio" in words


def test_outsiders_get_404_on_model_and_version_pages(model, version, outsider):
    client = browser(outsider)

    for url in (
        reverse("model-detail", args=["credit-default"]),
        reverse("version-detail", args=["credit-default", "1.0.0"]),
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert version.content_sha256 not in response.content.decode()
    assert client.get(reverse("model-detail", args=["no-such-model"])).status_code == 404


def test_a_missing_version_is_404(model, engineer):
    url = reverse("version-detail", args=["credit-default", "9.9.9"])

    assert browser(engineer).get(url).status_code == 404


# --- personal tokens on the profile page ---------------------------------------------------


def test_the_profile_page_shows_roles_and_teams(engineer):
    html = page(browser(engineer), "/profile/")

    assert "ml_engineer" in html
    assert "Credit risk" in html
    assert "No tokens." in html


def test_a_personal_token_is_shown_once_and_only_its_hash_is_stored(engineer, model):
    client = browser(engineer)

    response = client.post("/profile/tokens/", {"name": "laptop script"})

    assert response.status_code == 200
    html = response.content.decode()
    secret = re.search(r'id="new-secret" readonly value="([^"]+)"', html).group(1)
    token = ApiToken.objects.get(user=engineer)
    assert token.name == "laptop script"
    assert token.key_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:10]
    assert secret not in (token.name, token.prefix, token.key_sha256)
    assert "Copy it now" in html
    event = AuditEvent.objects.get(action="token.issued")
    assert event.actor_name == "eng"
    assert event.payload == {
        "user": "eng",
        "name": "laptop script",
        "prefix": token.prefix,
        "models": [],
        "teams": [],
        "expires_at": event.payload["expires_at"],
    }
    # A personal token lives GATEHOUSE_TOKEN_DAYS (90) days unless its owner picks another.
    assert abs(token.expires_at - token.created_at - timedelta(days=90)) < timedelta(seconds=5)
    assert parse_datetime(event.payload["expires_at"]) == token.expires_at.replace(
        microsecond=token.expires_at.microsecond // 1000 * 1000
    )

    again = page(client, "/profile/")
    assert secret not in again
    assert f"{token.prefix}…" in again
    assert "laptop script" in again

    api = client_for(secret=secret).get("/api/v1/models/")
    assert [m["name"] for m in api.json()["results"]] == ["credit-default"]


def test_a_token_without_a_name_gets_a_default_name(engineer):
    browser(engineer).post("/profile/tokens/", {"name": "   "})

    assert ApiToken.objects.get(user=engineer).name == "Personal token"


def test_revoking_a_personal_token(engineer, model):
    client = browser(engineer)
    html = client.post("/profile/tokens/", {"name": "laptop"}).content.decode()
    secret = re.search(r'id="new-secret" readonly value="([^"]+)"', html).group(1)
    token = ApiToken.objects.get(user=engineer)

    response = client.post(f"/profile/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="token.revoked")
    assert event.actor_name == "eng"
    assert event.payload == {"user": "eng", "prefix": token.prefix}
    assert client_for(secret=secret).get("/api/v1/models/").status_code == 401
    profile = page(client, "/profile/")
    assert "revoked" in profile
    assert f"/profile/tokens/{token.pk}/revoke/" not in profile


def test_nobody_revokes_someone_elses_token(engineer, reviewer):
    issued = services.token_issue(actor=engineer, user=engineer, name="mine")
    client = browser(reviewer)

    response = client.post(f"/profile/tokens/{issued.token.pk}/revoke/")

    assert response.status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None
    assert not AuditEvent.objects.filter(action="token.revoked").exists()


def test_token_endpoints_are_post_only(engineer):
    issued = services.token_issue(actor=engineer, user=engineer, name="mine")
    client = browser(engineer)

    assert client.get("/profile/tokens/").status_code == 405
    assert client.get(f"/profile/tokens/{issued.token.pk}/revoke/").status_code == 405
    assert ApiToken.objects.count() == 1
    assert ApiToken.objects.get().revoked_at is None


def test_csrf_is_enforced_on_the_profile_forms(engineer):
    client = browser(engineer, enforce_csrf_checks=True)

    refused = client.post("/profile/tokens/", {"name": "forged"})

    assert refused.status_code == 403
    assert not ApiToken.objects.exists()
    html = page(client, "/profile/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    accepted = client.post("/profile/tokens/", {"name": "real", "csrfmiddlewaretoken": csrf})
    assert accepted.status_code == 200
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["real"]


def test_csrf_is_enforced_on_logout_and_revoke(engineer):
    issued = services.token_issue(actor=engineer, user=engineer, name="mine")
    client = browser(engineer, enforce_csrf_checks=True)

    assert client.post(f"/profile/tokens/{issued.token.pk}/revoke/").status_code == 403
    assert client.post("/logout/").status_code == 403
    assert client.session["_auth_user_id"] == str(engineer.pk)
    assert ApiToken.objects.get().revoked_at is None


# --- the admin -----------------------------------------------------------------------------


def test_a_superuser_sees_the_admin_index(superuser):
    html = page(browser(superuser), "/admin/")

    assert "Site administration" in html
    for path in ("registry/team/", "registry/modelversion/", "registry/auditevent/"):
        assert f"/admin/{path}" in html


def test_people_without_staff_status_are_kept_out_of_the_admin(admin_user):
    response = browser(admin_user).get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("record", ["modelversion", "auditevent"])
def test_versions_and_audit_events_are_read_only_in_the_admin(superuser, version, record):
    client = browser(superuser)
    obj = version if record == "modelversion" else AuditEvent.objects.get(seq=1)
    before = AuditEvent.objects.count()

    listing = page(client, f"/admin/registry/{record}/")
    detail = page(client, f"/admin/registry/{record}/{obj.pk}/change/")

    assert f"/admin/registry/{record}/add/" not in listing
    assert 'name="_save"' not in detail
    assert client.get(f"/admin/registry/{record}/add/").status_code == 403
    assert client.post(f"/admin/registry/{record}/{obj.pk}/change/", {}).status_code == 403
    assert (
        client.post(f"/admin/registry/{record}/{obj.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.count() == before
    version.refresh_from_db()
    assert version.status == "registered"


def test_adding_a_team_in_the_admin_is_audited(superuser):
    response = browser(superuser).post(
        "/admin/registry/team/add/", {"slug": "fraud", "name": "Fraud", "members": []}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    team = Team.objects.get(slug="fraud")
    event = AuditEvent.objects.get(action="admin.team.added")
    assert event.actor_name == "root"
    assert event.object_id == str(team.pk)
    assert event.payload["fields"]["slug"] == "fraud"
    assert event.payload["fields"]["name"] == "Fraud"


def test_changing_a_team_in_the_admin_is_audited(superuser, team, engineer):
    response = browser(superuser).post(
        f"/admin/registry/team/{team.pk}/change/",
        {"slug": "credit-risk", "name": "Credit risk & fraud", "members": [engineer.pk]},
    )

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.name == "Credit risk & fraud"
    event = AuditEvent.objects.get(action="admin.team.changed")
    assert event.actor_name == "root"
    assert event.payload == {"fields": {"name": "Credit risk & fraud"}}


def test_a_membership_change_in_the_admin_records_the_new_members(
    superuser, team, engineer, outsider
):
    browser(superuser).post(
        f"/admin/registry/team/{team.pk}/change/",
        {"slug": "credit-risk", "name": "Credit risk", "members": [engineer.pk, outsider.pk]},
    )

    assert set(team.members.values_list("username", flat=True)) == {"eng", "outsider"}
    fields = AuditEvent.objects.get(action="admin.team.changed").payload["fields"]
    assert "outsider" in fields["members"]
    assert "eng" in fields["members"]


def test_editing_a_kpi_target_in_the_admin_is_audited(superuser, objective):
    kpis = list(objective.kpis.all())
    form = {
        "model": objective.model_id,
        "title": objective.title,
        "description": objective.description,
        "kpis-TOTAL_FORMS": "2",
        "kpis-INITIAL_FORMS": "2",
        "kpis-MIN_NUM_FORMS": "0",
        "kpis-MAX_NUM_FORMS": "1000",
    }
    for i, kpi in enumerate(kpis):
        form.update(
            {
                f"kpis-{i}-id": kpi.pk,
                f"kpis-{i}-objective": objective.pk,
                f"kpis-{i}-name": kpi.name,
                f"kpis-{i}-metric_key": kpi.metric_key,
                f"kpis-{i}-comparator": kpi.comparator,
                f"kpis-{i}-target": kpi.target,
                f"kpis-{i}-unit": kpi.unit,
                f"kpis-{i}-blocking": "on" if kpi.blocking else "",
            }
        )
    form["kpis-0-target"] = "0.9"

    response = browser(superuser).post(f"/admin/registry/objective/{objective.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    kpis[0].refresh_from_db()
    assert kpis[0].target == 0.9
    recorded = [
        e.payload for e in AuditEvent.objects.filter(action__startswith="admin.").order_by("seq")
    ]
    assert any("0.9" in str(payload) for payload in recorded), recorded
