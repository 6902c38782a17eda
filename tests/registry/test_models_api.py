"""The models and objectives API: creating, reading, editing, filters, access and audit;
and exchanging a password for a personal API token."""

from __future__ import annotations

import hashlib

import pytest
from django.core.cache import cache
from django.test import Client

from registry.errors import NotAllowed
from registry.models import KPI, ApiToken, AuditEvent, Objective, RegisteredModel
from registry.permissions import can_set_risk_tier
from registry.roles import Role
from reviews import services as review_services
from tests.builders import PASSWORD, client_for, make_user

MODELS = "/api/v1/models/"
TOKEN = "/api/v1/auth/token/"

NEW_MODEL = {
    "name": "fraud-score",
    "title": "Fraud score",
    "owner_team": "credit-risk",
    "risk_tier": "high",
    "description": "Flags suspicious applications.",
    "intended_use": "Queue applications for a fraud analyst.",
}

OBJECTIVE = {
    "title": "Cut manual review",
    "description": "Fewer borderline cases for underwriters.",
    "kpis": [
        {
            "name": "Manual review rate",
            "metric_key": "manual_review_rate",
            "comparator": "<=",
            "target": 0.3,
            "unit": "share",
            "blocking": True,
        },
        {"name": "Accuracy", "metric_key": "accuracy", "comparator": ">=", "target": 0.7},
    ],
}


@pytest.fixture(autouse=True)
def _fresh_throttle(db):
    """The token endpoint is rate-limited per client address; each test starts afresh."""
    cache.clear()
    yield
    cache.clear()


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def actions_since(seq: int) -> list[str]:
    return list(AuditEvent.objects.filter(seq__gt=seq).values_list("action", flat=True))


def kpi_spec(**changes) -> dict:
    return {**OBJECTIVE["kpis"][0], **changes}


# --- creating ------------------------------------------------------------------------------


def test_an_engineer_creates_a_model_for_their_team(engineer, team):
    before = last_seq()
    response = client_for(engineer).post(MODELS, NEW_MODEL, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "fraud-score"
    assert body["owner_team"] == "credit-risk"
    assert body["risk_tier"] == "high"
    assert body["created_by"] == "eng"
    assert body["url"] == "/api/v1/models/fraud-score/"
    assert body["versions_url"] == "/api/v1/models/fraud-score/versions/"
    stored = RegisteredModel.objects.get(name="fraud-score")
    assert stored.owner_team == team
    assert stored.created_by == engineer
    assert stored.intended_use == NEW_MODEL["intended_use"]
    assert actions_since(before) == ["model.created"]
    [event] = events("model.created")
    assert event.actor_name == "eng"
    assert event.model_name == "fraud-score"
    assert event.object_type == "registry.registeredmodel"
    assert event.object_id == str(stored.pk)
    assert event.payload == NEW_MODEL


def test_defaults_are_recorded_in_the_audit_payload(engineer):
    response = client_for(engineer).post(
        MODELS, {"name": "tiny", "title": "Tiny", "owner_team": "credit-risk"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["risk_tier"] == "limited"
    [event] = events("model.created")
    assert event.payload == {
        "name": "tiny",
        "title": "Tiny",
        "owner_team": "credit-risk",
        "description": "",
        "risk_tier": "limited",
        "intended_use": "",
    }


def test_an_admin_creates_a_model_for_any_team(admin_user, other_team):
    body = {**NEW_MODEL, "owner_team": "marketing"}
    response = client_for(admin_user).post(MODELS, body, format="json")

    assert response.status_code == 201
    assert RegisteredModel.objects.get(name="fraud-score").owner_team == other_team
    assert events("model.created")[0].actor_name == "adm"


def test_an_engineer_cannot_create_a_model_below_the_default_tier(engineer):
    before = last_seq()
    body = {**NEW_MODEL, "risk_tier": "minimal"}
    response = client_for(engineer).post(MODELS, body, format="json")

    assert response.status_code == 403, response.json()
    assert "risk_tier" in response.json()["errors"]
    assert not RegisteredModel.objects.filter(name="fraud-score").exists()
    assert last_seq() == before


@pytest.mark.parametrize("who", ["admin", "engineer_and_risk_officer"])
def test_those_who_set_tiers_may_create_a_minimal_tier_model(who, team, other_team):
    if who == "admin":
        user, body = make_user("adm2", [Role.ADMIN]), {**NEW_MODEL, "owner_team": "marketing"}
    else:
        user, body = make_user("both", [Role.ML_ENGINEER, Role.RISK_OFFICER], [team]), NEW_MODEL
    response = client_for(user).post(MODELS, {**body, "risk_tier": "minimal"}, format="json")

    assert response.status_code == 201, response.json()
    assert RegisteredModel.objects.get(name="fraud-score").risk_tier == "minimal"


@pytest.mark.parametrize("who", ["reviewer", "auditor", "outsider", "ci"])
def test_others_cannot_create_models_for_the_team(who, request, team):
    if who == "ci":
        client = client_for(secret=request.getfixturevalue("ci")[2])
    else:
        client = client_for(request.getfixturevalue(who))
    before = AuditEvent.objects.count()

    response = client.post(MODELS, NEW_MODEL, format="json")

    assert response.status_code == 403, response.json()
    assert response.json()["code"] == "forbidden"
    assert not RegisteredModel.objects.filter(name="fraud-score").exists()
    assert AuditEvent.objects.count() == before


def test_an_outsider_creates_models_only_for_their_own_team(outsider, other_team):
    response = client_for(outsider).post(
        MODELS, {**NEW_MODEL, "owner_team": "marketing"}, format="json"
    )

    assert response.status_code == 201
    assert RegisteredModel.objects.get(name="fraud-score").owner_team == other_team


def test_anonymous_requests_get_401(model):
    anonymous = client_for()

    responses = [
        anonymous.get(MODELS),
        anonymous.post(MODELS, NEW_MODEL, format="json"),
        anonymous.get(f"{MODELS}{model.name}/"),
        anonymous.patch(f"{MODELS}{model.name}/", {"title": "x"}, format="json"),
        anonymous.get(f"{MODELS}{model.name}/objectives/"),
        anonymous.post(f"{MODELS}{model.name}/objectives/", OBJECTIVE, format="json"),
    ]

    assert [r.status_code for r in responses] == [401] * 6
    assert all(r.json()["code"] == "not_authenticated" for r in responses)
    assert responses[0]["WWW-Authenticate"].startswith("Bearer")
    assert RegisteredModel.objects.get().title == "Credit default"
    assert not Objective.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Not A Slug!"}, "name"),
        ({"name": ""}, "name"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"risk_tier": "extreme"}, "risk_tier"),
        ({"owner_team": "no-such-team"}, "owner_team"),
    ],
)
def test_invalid_models_are_refused_with_the_field_named(engineer, changes, field):
    response = client_for(engineer).post(MODELS, {**NEW_MODEL, **changes}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not RegisteredModel.objects.exists()
    assert not events("model.created")


def test_a_taken_name_is_refused(engineer, model):
    response = client_for(engineer).post(MODELS, {**NEW_MODEL, "name": model.name}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert RegisteredModel.objects.get().title == "Credit default"
    assert len(events("model.created")) == 1


# --- reading and filters -------------------------------------------------------------------


def test_list_shows_only_visible_models(
    model, other_model, engineer, outsider, auditor, admin_user
):
    def names(user) -> list[str]:
        body = client_for(user).get(MODELS).json()
        assert body["count"] == len(body["results"])
        return [m["name"] for m in body["results"]]

    assert names(engineer) == ["credit-default"]
    assert names(outsider) == ["churn"]
    assert names(auditor) == ["churn", "credit-default"]
    assert names(admin_user) == ["churn", "credit-default"]


def test_people_without_a_role_see_nothing(model, team, django_user_model):
    member = django_user_model.objects.create_user("norole", password=PASSWORD)
    team.members.add(member)

    assert client_for(member).get(MODELS).json()["results"] == []
    assert client_for(member).get(f"{MODELS}{model.name}/").status_code == 404


def test_ci_tokens_list_only_their_scope(model, other_model, ci):
    body = client_for(secret=ci[2]).get(MODELS).json()

    assert [m["name"] for m in body["results"]] == ["credit-default"]


def test_filters_by_team_and_risk_tier(model, other_model, auditor):
    client = client_for(auditor)

    def names(query: str) -> list[str]:
        return [m["name"] for m in client.get(f"{MODELS}?{query}").json()["results"]]

    assert names("team=credit-risk") == ["credit-default"]
    assert names("team=marketing") == ["churn"]
    assert names("risk_tier=high") == ["credit-default"]
    assert names("risk_tier=limited") == ["churn"]
    assert names("risk_tier=minimal") == []
    assert names("team=marketing&risk_tier=high") == []
    assert names("team=nobody") == []


def test_filters_never_widen_what_a_user_sees(model, other_model, engineer):
    client = client_for(engineer)

    assert client.get(f"{MODELS}?team=marketing").json()["results"] == []
    assert client.get(f"{MODELS}?risk_tier=limited").json()["results"] == []


def test_detail_shows_the_model(model, reviewer):
    response = client_for(reviewer).get(f"{MODELS}{model.name}/")

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Credit default"
    assert body["owner_team"] == "credit-risk"
    assert body["risk_tier"] == "high"
    assert body["created_by"] == "eng"


def test_an_outsider_cannot_tell_an_existing_model_from_a_missing_one(model, outsider):
    client = client_for(outsider)

    existing = client.get(f"{MODELS}credit-default/")
    missing = client.get(f"{MODELS}no-such-model/")

    assert existing.status_code == missing.status_code == 404
    assert existing.json() == {
        "detail": "No model named 'credit-default'.",
        "code": "not_found",
        "errors": {},
    }
    assert (
        missing.json()["detail"].replace("no-such-model", "credit-default")
        == (existing.json()["detail"])
    )
    assert {k: v for k, v in existing.json().items() if k != "detail"} == {
        k: v for k, v in missing.json().items() if k != "detail"
    }
    assert existing["Content-Type"] == missing["Content-Type"]


def test_outsiders_get_404_for_every_operation_and_change_nothing(model, outsider):
    client = client_for(outsider)
    base = f"{MODELS}{model.name}/"

    responses = [
        client.get(base),
        client.patch(base, {"title": "Hijacked"}, format="json"),
        client.get(f"{base}objectives/"),
        client.post(f"{base}objectives/", OBJECTIVE, format="json"),
    ]

    assert [r.status_code for r in responses] == [404] * 4
    assert all(r.json()["code"] == "not_found" for r in responses)
    assert RegisteredModel.objects.get(pk=model.pk).title == "Credit default"
    assert not Objective.objects.exists()
    assert not events("model.updated")


# --- editing -------------------------------------------------------------------------------


def test_an_engineer_edits_the_model_and_the_audit_records_from_and_to(model, engineer):
    before = last_seq()
    response = client_for(engineer).patch(
        f"{MODELS}{model.name}/",
        {"title": "Credit default v2", "intended_use": "Pre-screening", "description": ""},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "Credit default v2"
    model.refresh_from_db()
    assert (model.title, model.intended_use) == ("Credit default v2", "Pre-screening")
    assert actions_since(before) == ["model.updated"]
    [event] = events("model.updated")
    assert event.actor_name == "eng"
    assert event.model_name == "credit-default"
    # The description did not change, so it is not in the diff.
    assert event.payload == {
        "title": {"from": "Credit default", "to": "Credit default v2"},
        "intended_use": {"from": "", "to": "Pre-screening"},
    }


# --- the risk tier: the governed team never sets it ----------------------------------------


def test_the_owning_engineer_cannot_lower_the_risk_tier(model, engineer):
    before = last_seq()
    response = client_for(engineer).patch(
        f"{MODELS}{model.name}/", {"title": "Quiet", "risk_tier": "minimal"}, format="json"
    )

    assert response.status_code == 403, response.json()
    assert response.json()["code"] == "forbidden"
    assert "risk_tier" in response.json()["errors"]
    model.refresh_from_db()
    assert (model.title, model.risk_tier) == ("Credit default", "high")
    assert actions_since(before) == []
    # So the policy still asks for the risk officer and a SHAP report.
    policy = client_for(engineer).get(f"{MODELS}{model.name}/review-policy/").json()
    assert policy["require_shap_report"] is True
    assert "risk_officer" in policy["required_approvals"]


def test_resending_the_current_tier_with_an_edit_needs_no_tier_right(model, engineer):
    response = client_for(engineer).patch(
        f"{MODELS}{model.name}/", {"title": "Same tier", "risk_tier": "high"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert events("model.updated")[0].payload == {
        "title": {"from": "Credit default", "to": "Same tier"}
    }


@pytest.mark.parametrize(("who", "name"), [("risk_officer", "risk"), ("admin_user", "adm")])
def test_risk_officers_and_admins_set_the_risk_tier(model, who, name, request):
    client = client_for(request.getfixturevalue(who))
    before = last_seq()
    response = client.patch(f"{MODELS}{model.name}/", {"risk_tier": "minimal"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["risk_tier"] == "minimal"
    assert RegisteredModel.objects.get(pk=model.pk).risk_tier == "minimal"
    assert actions_since(before) == ["model.updated"]
    [event] = events("model.updated")
    assert event.actor_name == name
    assert event.payload == {"risk_tier": {"from": "high", "to": "minimal"}}


def test_a_risk_officer_sets_only_the_tier_not_the_description(model, risk_officer):
    response = client_for(risk_officer).patch(
        f"{MODELS}{model.name}/", {"risk_tier": "limited", "title": "Mine"}, format="json"
    )

    assert response.status_code == 403
    assert RegisteredModel.objects.get(pk=model.pk).risk_tier == "high"
    assert not events("model.updated")


@pytest.mark.parametrize("who", ["outsider", "risk_officer_elsewhere"])
def test_outsiders_cannot_learn_or_set_the_tier(model, who, request, other_team):
    if who == "outsider":
        user = request.getfixturevalue("outsider")
    else:
        user = make_user("risk2", [Role.RISK_OFFICER], [other_team])
    response = client_for(user).patch(
        f"{MODELS}{model.name}/", {"risk_tier": "minimal"}, format="json"
    )

    assert response.status_code == 404
    assert RegisteredModel.objects.get(pk=model.pk).risk_tier == "high"
    assert not events("model.updated")


def test_ci_tokens_cannot_set_the_tier(model, ci):
    response = client_for(secret=ci[2]).patch(
        f"{MODELS}{model.name}/", {"risk_tier": "minimal"}, format="json"
    )

    assert response.status_code == 403
    assert RegisteredModel.objects.get(pk=model.pk).risk_tier == "high"


def test_one_predicate_decides_the_tier_and_the_review_policy(
    model, engineer, risk_officer, admin_user, reviewer, outsider
):
    allowed = {
        u.username: can_set_risk_tier(u, model)
        for u in (engineer, risk_officer, admin_user, reviewer, outsider)
    }
    assert allowed == {"eng": False, "risk": True, "adm": True, "rev": False, "outsider": False}
    for user in (engineer, reviewer):
        with pytest.raises(NotAllowed):
            review_services.policy_update(actor=user, model=model, require_shap_report=False)
    policy = review_services.policy_update(
        actor=risk_officer, model=model, require_shap_report=False
    )
    assert policy.require_shap_report is False


def test_an_edit_that_changes_nothing_writes_no_event(model, engineer):
    response = client_for(engineer).patch(
        f"{MODELS}{model.name}/", {"title": "Credit default"}, format="json"
    )

    assert response.status_code == 200
    assert not events("model.updated")


def test_name_and_owner_team_cannot_be_changed(model, engineer, other_team):
    response = client_for(engineer).patch(
        f"{MODELS}{model.name}/", {"name": "renamed", "owner_team": "marketing"}, format="json"
    )

    model.refresh_from_db()
    assert response.status_code == 200
    assert (model.name, model.owner_team.slug) == ("credit-default", "credit-risk")
    assert not events("model.updated")


def test_an_admin_edits_any_model(model, admin_user):
    response = client_for(admin_user).patch(
        f"{MODELS}{model.name}/", {"intended_use": "Pre-screening"}, format="json"
    )

    assert response.status_code == 200
    [event] = events("model.updated")
    assert event.actor_name == "adm"
    assert event.payload == {"intended_use": {"from": "", "to": "Pre-screening"}}


@pytest.mark.parametrize("who", ["reviewer", "risk_officer", "auditor"])
def test_people_who_see_the_model_but_do_not_own_it_get_403(model, who, request):
    client = client_for(request.getfixturevalue(who))

    response = client.patch(f"{MODELS}{model.name}/", {"title": "Mine now"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert RegisteredModel.objects.get(pk=model.pk).title == "Credit default"
    assert not events("model.updated")


def test_ci_tokens_cannot_edit_the_model(model, ci):
    response = client_for(secret=ci[2]).patch(
        f"{MODELS}{model.name}/", {"title": "From CI"}, format="json"
    )

    assert response.status_code == 403
    assert RegisteredModel.objects.get(pk=model.pk).title == "Credit default"


@pytest.mark.parametrize(
    ("changes", "field"), [({"risk_tier": "extreme"}, "risk_tier"), ({"title": ""}, "title")]
)
def test_invalid_edits_name_the_field_and_change_nothing(model, engineer, changes, field):
    response = client_for(engineer).patch(f"{MODELS}{model.name}/", changes, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    model.refresh_from_db()
    assert (model.title, model.risk_tier) == ("Credit default", "high")
    assert not events("model.updated")


# --- objectives and KPIs -------------------------------------------------------------------


def test_an_engineer_adds_an_objective_with_kpis(model, engineer):
    before = last_seq()
    response = client_for(engineer).post(
        f"{MODELS}{model.name}/objectives/", OBJECTIVE, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["title"] == "Cut manual review"
    assert [(k["metric_key"], k["comparator"], k["target"]) for k in body["kpis"]] == [
        ("manual_review_rate", "<=", 0.3),
        ("accuracy", ">=", 0.7),
    ]
    objective = Objective.objects.get()
    assert objective.model == model
    assert body["id"] == objective.pk
    kpis = list(objective.kpis.all())
    assert [(k.name, k.unit, k.blocking) for k in kpis] == [
        ("Manual review rate", "share", True),
        ("Accuracy", "", True),
    ]
    assert kpis[0].is_met(0.25) and not kpis[0].is_met(0.35)
    assert kpis[1].is_met(0.7) and not kpis[1].is_met(0.69)
    assert actions_since(before) == ["objective.created"]
    [event] = events("objective.created")
    assert event.actor_name == "eng"
    assert event.model_name == "credit-default"
    assert event.object_id == str(objective.pk)
    assert event.payload["title"] == "Cut manual review"
    assert [k["metric_key"] for k in event.payload["kpis"]] == ["manual_review_rate", "accuracy"]
    assert event.payload["kpis"][0]["comparator"] == "<="


def test_objectives_are_listed_with_their_kpis(model, engineer, reviewer, auditor):
    client_for(engineer).post(f"{MODELS}{model.name}/objectives/", OBJECTIVE, format="json")
    second = {"title": "Lend fairly", "kpis": [kpi_spec(metric_key="fairness.sex.di", target=0.8)]}
    client_for(engineer).post(f"{MODELS}{model.name}/objectives/", second, format="json")

    for user in (engineer, reviewer, auditor):
        body = client_for(user).get(f"{MODELS}{model.name}/objectives/").json()
        assert [o["title"] for o in body] == ["Cut manual review", "Lend fairly"]
        assert [len(o["kpis"]) for o in body] == [2, 1]
        assert body[1]["kpis"][0]["metric_key"] == "fairness.sex.di"


def test_an_admin_adds_objectives(model, admin_user):
    response = client_for(admin_user).post(
        f"{MODELS}{model.name}/objectives/", OBJECTIVE, format="json"
    )

    assert response.status_code == 201
    assert events("objective.created")[0].actor_name == "adm"


BAD_KPIS = [
    ([kpi_spec(comparator="==")], "kpis.0.comparator"),
    ([kpi_spec(), kpi_spec(comparator="~")], "kpis.1.comparator"),
    ([kpi_spec(), kpi_spec(metric_key="has spaces")], "kpis.1.metric_key"),
    ([kpi_spec(target="lots")], "kpis.0.target"),
    ([kpi_spec(target="NaN")], "kpis.0.target"),
    ([kpi_spec(name="")], "kpis.0.name"),
    ([{k: v for k, v in kpi_spec().items() if k != "metric_key"}], "kpis.0.metric_key"),
    ([], "kpis"),
]


@pytest.mark.parametrize(("kpis", "field"), BAD_KPIS)
def test_bad_kpis_name_the_field_and_store_nothing(model, engineer, kpis, field):
    body = {**OBJECTIVE, "kpis": kpis}
    response = client_for(engineer).post(f"{MODELS}{model.name}/objectives/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Objective.objects.exists()
    assert not KPI.objects.exists()
    assert not events("objective.created")


def test_an_objective_without_kpis_is_refused(model, engineer):
    body = {"title": "Vague ambition"}
    response = client_for(engineer).post(f"{MODELS}{model.name}/objectives/", body, format="json")

    assert response.status_code == 400
    assert "kpis" in response.json()["errors"]
    assert not Objective.objects.exists()


def test_an_objective_needs_a_title(model, engineer):
    body = {**OBJECTIVE, "title": ""}
    response = client_for(engineer).post(f"{MODELS}{model.name}/objectives/", body, format="json")

    assert response.status_code == 400
    assert "title" in response.json()["errors"]
    assert not Objective.objects.exists()


@pytest.mark.parametrize("who", ["reviewer", "auditor"])
def test_only_owners_add_objectives(model, who, request):
    response = client_for(request.getfixturevalue(who)).post(
        f"{MODELS}{model.name}/objectives/", OBJECTIVE, format="json"
    )

    assert response.status_code == 403
    assert not Objective.objects.exists()
    assert not KPI.objects.exists()


# --- personal tokens -----------------------------------------------------------------------


def test_a_password_buys_a_token_that_acts_with_the_users_role(model, engineer):
    response = client_for().post(
        TOKEN, {"username": "eng", "password": PASSWORD, "name": "laptop"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    secret = body["token"]
    assert body["name"] == "laptop"
    assert secret.startswith(body["prefix"])
    stored = ApiToken.objects.get(user=engineer)
    assert stored.key_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.prefix, stored.name, stored.key_sha256}
    [event] = events("token.issued")
    assert event.actor_name == "eng"
    assert event.payload["prefix"] == body["prefix"]
    assert secret not in str(event.payload)

    bearer = client_for(secret=secret)
    assert [m["name"] for m in bearer.get(MODELS).json()["results"]] == ["credit-default"]
    edit = bearer.patch(f"{MODELS}{model.name}/", {"title": "Edited by token"}, format="json")
    assert edit.status_code == 200
    assert events("model.updated")[0].actor_name == "eng"
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_a_reviewers_token_carries_only_reviewer_rights(model, reviewer):
    secret = client_for().post(TOKEN, {"username": "rev", "password": PASSWORD}).json()["token"]
    bearer = client_for(secret=secret)

    assert bearer.get(f"{MODELS}{model.name}/").json()["name"] == "credit-default"
    assert bearer.patch(f"{MODELS}{model.name}/", {"title": "x"}, format="json").status_code == 403
    assert ApiToken.objects.get(user=reviewer).name == "API token"


def test_wrong_password_gets_no_token(engineer):
    response = client_for().post(TOKEN, {"username": "eng", "password": "wrong"}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"] == "Wrong username or password."
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()
    assert not events("token.issued")


def test_unknown_users_and_ci_accounts_get_the_same_refusal(ci):
    unknown = client_for().post(TOKEN, {"username": "ghost", "password": "x"}, format="json")
    ci_account = client_for().post(
        TOKEN, {"username": "ci-credit", "password": "guess"}, format="json"
    )

    assert unknown.status_code == ci_account.status_code == 403
    assert unknown.json() == ci_account.json()
    assert ApiToken.objects.count() == 1  # only the CI account's own token


def test_a_missing_password_is_named(engineer):
    response = client_for().post(TOKEN, {"username": "eng"}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_an_unknown_bearer_token_is_refused(model):
    response = client_for(secret="gh_not-a-real-token").get(MODELS)

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked token."


def test_token_guessing_is_throttled(engineer, settings):
    # The per-client rate limit, apart from the account lockout (tests/registry/
    # test_login_protection.py), which would otherwise answer first.
    settings.AXES_FAILURE_LIMIT = 1000
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"].split("/")[0])
    client = client_for()
    codes = [
        client.post(TOKEN, {"username": "eng", "password": f"guess-{i}"}, format="json").status_code
        for i in range(limit + 1)
    ]

    assert codes[:limit] == [403] * limit
    assert codes[limit] == 429
    right = client.post(TOKEN, {"username": "eng", "password": PASSWORD}, format="json")
    assert right.status_code == 429
    assert not ApiToken.objects.exists()


def test_tokens_from_the_api_are_listed_on_the_profile_page(engineer):
    body = (
        client_for()
        .post(
            TOKEN, {"username": "eng", "password": PASSWORD, "name": "deploy script"}, format="json"
        )
        .json()
    )
    web = Client()
    web.force_login(engineer)

    page = web.get("/profile/").content.decode()

    assert "deploy script" in page
    assert f"{body['prefix']}…" in page
    assert body["token"] not in page


def test_page_numbers_past_the_databases_integers_are_clamped(model, other_model, auditor):
    huge = 10**30
    client = client_for(auditor)

    beyond = client.get(f"{MODELS}?limit=1&offset={huge}")
    capped = client.get(f"{MODELS}?limit={huge}")

    assert beyond.status_code == 200
    assert beyond.json()["count"] == 2
    assert beyond.json()["results"] == []
    assert capped.status_code == 200
    assert [m["name"] for m in capped.json()["results"]] == ["churn", "credit-default"]
