"""Registering candidate versions through the API: storage, idempotency, validation, scopes."""

from __future__ import annotations

import io
import pickle

import pandas as pd
import pytest

from registry import services
from registry.models import AuditEvent, EvaluationDataset, ModelFile, ModelVersion
from tests.builders import Candidate, client_for, post_version, sha


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def test_ci_registers_a_version_with_its_evaluation_data(ci_client, model, ci, _media_root):
    candidate = Candidate()
    response = post_version(ci_client, model.name, candidate, key="build-1")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == "1.0.0"
    assert body["status"] == "registered"
    assert body["submitted_by"] == "ci-credit"
    assert body["url"] == "/api/v1/models/credit-default/versions/1.0.0/"
    assert body["reports_url"].endswith("/versions/1.0.0/reports/")
    assert response["Location"] == body["url"]

    version = ModelVersion.objects.get(model=model, version="1.0.0")
    assert version.metrics == {"accuracy": 0.81, "manual_review_rate": 0.2}
    assert version.code_commit == "0123456789abcdef0123456789abcdef01234567"
    data = EvaluationDataset.objects.get(version=version)
    assert data.sha256 == sha(candidate.csv())
    assert data.row_count == 400
    assert data.protected == {
        "sex": {"privileged": ["male"]},
        "age_group": {"privileged": ["middle"]},
    }
    assert data.file.read() == candidate.csv()
    event = AuditEvent.objects.get(action="version.registered")
    assert event.actor_name == "ci-credit"
    assert event.payload["evaluation_data_sha256"] == data.sha256
    assert event.model_name == "credit-default"


def test_same_key_and_content_returns_the_same_version(ci_client, model):
    candidate = Candidate()
    first = post_version(ci_client, model.name, candidate, key="build-7")
    again = post_version(ci_client, model.name, candidate, key="build-7")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["content_sha256"] == first.json()["content_sha256"]
    assert ModelVersion.objects.filter(model=model).count() == 1
    assert AuditEvent.objects.filter(action="version.registered").count() == 1


def test_same_version_with_different_content_is_a_conflict(ci_client, model):
    assert post_version(ci_client, model.name, Candidate(), key="k1").status_code == 201
    changed = Candidate(overrides={"metrics": {"accuracy": 0.99}})

    response = post_version(ci_client, model.name, changed, key="k2")

    assert response.status_code == 409
    assert "metadata.version" in response.json()["errors"]
    assert ModelVersion.objects.get(model=model).metrics["accuracy"] == 0.81


def test_reusing_a_key_for_another_version_is_a_conflict(ci_client, model):
    assert post_version(ci_client, model.name, Candidate(), key="k1").status_code == 201

    response = post_version(ci_client, model.name, Candidate(version="2.0.0"), key="k1")

    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["errors"]
    assert not ModelVersion.objects.filter(version="2.0.0").exists()


BAD_COLUMNS = [
    ({"label": "nope"}, "metadata.columns.label"),
    ({"prediction": "nope"}, "metadata.columns.prediction"),
    ({"score": "nope"}, "metadata.columns.score"),
    ({"features": ["income", "nope"]}, "metadata.columns.features"),
    ({"protected": {"nope": {"privileged": ["x"]}}}, "metadata.columns.protected.nope"),
    (
        {"protected": {"sex": {"privileged": ["martian"]}}},
        "metadata.columns.protected.sex.privileged",
    ),
    (
        {"protected": {"sex": {"privileged": ["male", "female"]}}},
        "metadata.columns.protected.sex.privileged",
    ),
    ({"protected": {"sex": {"privileged": []}}}, "metadata.columns.protected.sex.privileged"),
    ({"protected": {}}, "metadata.columns.protected"),
    ({"favorable_label": "yes"}, "metadata.columns.favorable_label"),
    ({"label": "income"}, "metadata.columns.label"),
    ({"score": "income"}, "metadata.columns.score"),
]


@pytest.mark.parametrize(("columns", "field"), BAD_COLUMNS)
def test_column_errors_name_the_field_and_store_nothing(
    ci_client, model, columns, field, _media_root
):
    response = post_version(ci_client, model.name, Candidate(column_overrides=columns))

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not ModelVersion.objects.exists()
    assert not EvaluationDataset.objects.exists()
    assert not AuditEvent.objects.filter(action="version.registered").exists()
    assert stored_files(_media_root) == []


BAD_METADATA = [
    ({"artifact_sha256": "abc"}, "metadata.artifact_sha256"),
    ({"training_data_sha256": "Z" * 64}, "metadata.training_data_sha256"),
    ({"code_commit": "not-a-commit"}, "metadata.code_commit"),
    ({"version": "../etc"}, "metadata.version"),
    ({"metrics": {"accuracy": "high"}}, "metadata.metrics"),
    ({"artifact_uri": ""}, "metadata.artifact_uri"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_METADATA)
def test_metadata_errors_name_the_field(ci_client, model, overrides, field):
    response = post_version(ci_client, model.name, Candidate(overrides=overrides))

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not ModelVersion.objects.exists()


def test_missing_metadata_fields_are_named(ci_client, model):
    candidate = Candidate()
    body = candidate.multipart()
    body["metadata"] = '{"version": "1.0.0"}'
    response = ci_client.post(f"/api/v1/models/{model.name}/versions/", body, format="multipart")

    errors = response.json()["errors"]
    assert response.status_code == 400
    for name in ("artifact_uri", "artifact_sha256", "code_commit", "columns"):
        assert f"metadata.{name}" in errors


def test_metadata_must_be_json(ci_client, model):
    body = Candidate().multipart()
    body["metadata"] = "{not json"
    response = ci_client.post(f"/api/v1/models/{model.name}/versions/", body, format="multipart")

    assert response.status_code == 400
    assert "metadata" in response.json()["errors"]


def test_evaluation_data_is_required(ci_client, model):
    body = Candidate().multipart()
    del body["evaluation_data"]
    response = ci_client.post(f"/api/v1/models/{model.name}/versions/", body, format="multipart")

    assert response.status_code == 400
    assert "evaluation_data" in response.json()["errors"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda f: f.assign(repaid=f["repaid"].astype(float).mask(f.index == 3)),
            "metadata.columns.label",
        ),
        (lambda f: f.assign(approved=f.index % 3), "metadata.columns.prediction"),
        (lambda f: f.assign(sex=f["sex"].mask(f.index == 5)), "metadata.columns.protected.sex"),
        (lambda f: f.assign(sex="male"), "metadata.columns.protected.sex"),
        (lambda f: f.assign(score=f["score"] * 3), "metadata.columns.score"),
        (lambda f: f.assign(repaid=1), "metadata.columns.label"),
        (
            lambda f: f.assign(repaid=f["repaid"].map({1: "yes", 0: "no"})),
            "metadata.columns.prediction",
        ),
    ],
    ids=[
        "missing-label",
        "non-binary-prediction",
        "missing-protected",
        "one-group",
        "score-range",
        "one-class-label",
        "prediction-not-label-classes",
    ],
)
def test_data_errors_name_the_column(ci_client, model, mutate, field):
    candidate = Candidate()
    candidate.frame = mutate(candidate.frame)
    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not ModelVersion.objects.exists()


def test_unreadable_and_empty_files_are_refused(ci_client, model):
    candidate = Candidate()
    candidate.frame = candidate.frame.iloc[0:0]
    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400
    assert "evaluation_data" in response.json()["errors"]


def test_parquet_is_accepted(ci_client, model, tmp_path):
    candidate = Candidate()
    path = tmp_path / "eval.parquet"
    candidate.frame.to_parquet(path)
    body = candidate.multipart()
    fh = path.open("rb")
    body["evaluation_data"] = fh
    response = ci_client.post(f"/api/v1/models/{model.name}/versions/", body, format="multipart")
    fh.close()

    assert response.status_code == 201, response.json()
    assert EvaluationDataset.objects.get().format == "parquet"


def test_a_pickled_model_is_refused_and_nothing_stored(ci_client, model, _media_root):
    candidate = Candidate(model_bytes=pickle.dumps({"a": 1}), model_name="model.pkl")
    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400
    assert "skops" in response.json()["errors"]["model"][0]
    assert not ModelVersion.objects.exists()
    assert not ModelFile.objects.exists()
    assert stored_files(_media_root) == []


def test_a_skops_model_is_stored_with_its_digest(ci_client, model):
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = Candidate().frame
    estimator = LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"])
    candidate = Candidate(model_bytes=dumps(estimator))
    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 201, response.json()
    stored = ModelFile.objects.get()
    assert stored.sha256 == sha(candidate.model_bytes)
    assert stored.format == "skops"
    assert "LogisticRegression" in stored.estimator
    assert response.json()["model_file"]["sha256"] == stored.sha256


def test_model_digest_must_match_the_artifact(ci_client, model):
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    frame = Candidate().frame
    estimator = LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"])
    candidate = Candidate(model_bytes=dumps(estimator), overrides={"artifact_sha256": "c" * 64})
    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400
    assert "metadata.artifact_sha256" in response.json()["errors"]
    assert not ModelVersion.objects.exists()


def test_uploads_over_the_limit_get_413(ci_client, model, settings, _media_root):
    settings.GATEHOUSE_MAX_UPLOAD_BYTES = 1000
    response = post_version(ci_client, model.name, Candidate())

    assert response.status_code == 413
    assert not ModelVersion.objects.exists()
    assert stored_files(_media_root) == []


def test_a_token_for_one_model_cannot_register_for_another(ci_client, other_model):
    response = post_version(ci_client, other_model.name, Candidate())

    assert response.status_code == 404
    assert not ModelVersion.objects.exists()


def test_a_team_scoped_token_registers_for_the_teams_models(model, team):
    issued = services.ci_account_create(actor=None, name="ci-team", teams=[team])
    response = post_version(client_for(secret=issued.secret), model.name, Candidate())

    assert response.status_code == 201


def test_revoked_tokens_are_refused(ci_client, ci, model):
    services.token_revoke(actor=ci[0], token=ci[1])
    response = post_version(ci_client, model.name, Candidate())

    assert response.status_code == 401
    assert not ModelVersion.objects.exists()


def test_engineers_of_the_team_register_others_cannot(model, engineer, reviewer, auditor, outsider):
    assert post_version(client_for(engineer), model.name, Candidate()).status_code == 201
    assert post_version(client_for(reviewer), model.name, Candidate(version="2")).status_code == 403
    assert post_version(client_for(auditor), model.name, Candidate(version="3")).status_code == 403
    assert post_version(client_for(outsider), model.name, Candidate(version="4")).status_code == 404
    assert post_version(client_for(), model.name, Candidate(version="5")).status_code == 401
    assert list(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0"]


def test_versions_are_listed_and_read(ci_client, model, engineer, outsider):
    post_version(ci_client, model.name, Candidate())
    post_version(ci_client, model.name, Candidate(version="1.1.0"))
    client = client_for(engineer)

    listing = client.get(f"/api/v1/models/{model.name}/versions/").json()
    detail = client.get(f"/api/v1/models/{model.name}/versions/1.1.0/").json()

    assert [v["version"] for v in listing["results"]] == ["1.1.0", "1.0.0"]
    assert detail["evaluation_data"]["row_count"] == 400
    assert detail["evaluation_data"]["features"] == ["income", "debt_ratio"]
    assert client.get(f"/api/v1/models/{model.name}/versions/9.9/").status_code == 404
    outsider_client = client_for(outsider)
    assert outsider_client.get(f"/api/v1/models/{model.name}/versions/").status_code == 404
    assert outsider_client.get(f"/api/v1/models/{model.name}/versions/1.1.0/").status_code == 404


def test_a_model_file_bomb_is_refused_and_nothing_stored(ci_client, model, _media_root):
    from tests.skops_files import skops_bomb

    frame = Candidate().frame
    data = (frame[["income", "debt_ratio"]].to_numpy(), frame["repaid"].to_numpy())
    bomb = skops_bomb(data, references=100, member_mb=8)
    assert len(bomb) < 150_000
    response = post_version(ci_client, model.name, Candidate(model_bytes=bomb))

    assert response.status_code == 400, response.json()
    assert "more than one object" in response.json()["errors"]["model"][0]
    assert not ModelVersion.objects.exists()
    assert not ModelFile.objects.exists()
    assert stored_files(_media_root) == []


def test_a_model_file_over_the_memory_limit_is_refused(ci_client, model, settings, _media_root):
    from tests.skops_files import skops_with_schema

    frame = Candidate().frame
    data = (frame[["income", "debt_ratio"]].to_numpy(), frame["repaid"].to_numpy())

    def pad(attributes):
        attributes["padding_"] = [{} for _ in range(2_000_000)]
        return {}

    settings.GATEHOUSE_MODEL_MEMORY_MB = 100
    response = post_version(
        ci_client, model.name, Candidate(model_bytes=skops_with_schema(data, pad))
    )

    assert response.status_code == 400, response.json()
    assert "needs more than 100 MB of memory" in response.json()["errors"]["model"][0]
    assert not ModelVersion.objects.exists()
    assert stored_files(_media_root) == []


def _post_csv(client, model_name: str, body: bytes, **columns):
    request = Candidate(column_overrides=columns).multipart()
    request["evaluation_data"] = io.BytesIO(body)
    request["evaluation_data"].name = "evaluation.csv"
    return client.post(f"/api/v1/models/{model_name}/versions/", request, format="multipart")


# Columns added to the candidate's real header (7 columns).
WIDE_HEADERS = [
    # 1,500 repeated names: pandas renames them (a.1, a.2, ...) in quadratic time.
    ("".join(",a" for _ in range(1500)), "Column names must be unique; repeated: 'a'"),
    ("".join(f",c{i}" for i in range(1994)), "has 2,001 columns; at most 2,000"),
    # A 10 MB header line: pandas ran for 17+ minutes on one.
    ("".join(f",c{i}" for i in range(1_200_000)), "header line is longer than 256 KB"),
]


@pytest.mark.parametrize(("extra", "message"), WIDE_HEADERS, ids=["repeated", "wide", "long"])
def test_csv_headers_are_capped_before_pandas_reads_them(
    ci_client, model, extra, message, settings, tmp_path, _media_root
):
    # Uploads over 5 MB go to a temporary file; it must be gone after the refusal too.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-temp")
    (tmp_path / "upload-temp").mkdir()
    header, rows = Candidate().csv().split(b"\n", 1)
    response = _post_csv(ci_client, model.name, header + extra.encode() + b"\n" + rows)

    assert response.status_code == 400, response.json()
    assert message in response.json()["errors"]["evaluation_data"][0]
    assert not ModelVersion.objects.exists()
    assert stored_files(_media_root) == []
    assert list((tmp_path / "upload-temp").iterdir()) == []


def test_a_header_of_2000_columns_is_accepted(ci_client, model):
    frame = Candidate().frame
    extra = pd.DataFrame(0, index=frame.index, columns=[f"f{i}" for i in range(1993)])
    candidate = Candidate(frame=pd.concat([frame, extra], axis=1))
    assert candidate.frame.shape[1] == 2000

    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 201, response.json()


def test_parquet_columns_are_capped_from_the_metadata(ci_client, model, tmp_path, monkeypatch):
    frame = Candidate().frame
    wide = pd.concat(
        [frame, pd.DataFrame(0, index=frame.index, columns=[f"f{i}" for i in range(1994)])], axis=1
    )
    path = tmp_path / "eval.parquet"
    wide.to_parquet(path)
    read = []
    monkeypatch.setattr(pd, "read_parquet", lambda *a, **k: read.append(1))
    body = Candidate().multipart()
    with path.open("rb") as fh:
        body["evaluation_data"] = fh
        response = ci_client.post(
            f"/api/v1/models/{model.name}/versions/", body, format="multipart"
        )

    assert response.status_code == 400, response.json()
    assert "2,001 columns; at most 2,000" in response.json()["errors"]["evaluation_data"][0]
    assert read == []  # refused from the footer, before any column was decoded
    assert not ModelVersion.objects.exists()


def test_label_and_prediction_errors_say_what_is_wrong(ci_client, model):
    one_class = Candidate()
    one_class.frame = one_class.frame.assign(repaid=1)
    words = Candidate()
    words.frame = words.frame.assign(repaid=words.frame["repaid"].map({1: "yes", 0: "no"}))

    label_error = post_version(ci_client, model.name, one_class).json()["errors"]
    prediction_error = post_version(ci_client, model.name, words).json()["errors"]

    assert label_error["metadata.columns.label"] == [
        "Column 'repaid' must hold both classes; it has only 1."
    ]
    assert prediction_error["metadata.columns.prediction"] == [
        "Column 'approved' has values that are not classes of 'repaid': 0, 1 (classes: no, yes)."
    ]
    assert not ModelVersion.objects.exists()


def test_a_prediction_of_one_class_is_accepted(ci_client, model):
    candidate = Candidate()
    candidate.frame = candidate.frame.assign(approved=1)

    assert post_version(ci_client, model.name, candidate).status_code == 201
