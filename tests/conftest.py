"""Shared fixtures: people in every role, an outsider, a CI account, and candidate uploads."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from explain import services as explain_services
from registry import services
from registry.models import RegisteredModel, Team
from registry.roles import Role

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test stores uploads in its own folder, so file assertions are exact."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


def make_user(username: str, roles: list[Role], teams: list[Team] = ()):
    """A person with roles and team memberships, created through the service."""
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    services.user_assign_roles(
        actor=None, user=user, roles=[r.value for r in roles], teams=list(teams)
    )
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def team(db) -> Team:
    return services.team_create(actor=None, slug="credit-risk", name="Credit risk")


@pytest.fixture
def other_team(db) -> Team:
    return services.team_create(actor=None, slug="marketing", name="Marketing")


@pytest.fixture
def engineer(team):
    return make_user("eng", [Role.ML_ENGINEER], [team])


@pytest.fixture
def reviewer(team):
    return make_user("rev", [Role.REVIEWER], [team])


@pytest.fixture
def risk_officer(team):
    return make_user("risk", [Role.RISK_OFFICER], [team])


@pytest.fixture
def auditor(db):
    return make_user("aud", [Role.AUDITOR])


@pytest.fixture
def admin_user(db):
    return make_user("adm", [Role.ADMIN])


@pytest.fixture
def outsider(other_team):
    """An ML engineer of another team: must never learn our models exist."""
    return make_user("outsider", [Role.ML_ENGINEER], [other_team])


@pytest.fixture
def model(engineer, team) -> RegisteredModel:
    return services.model_create(
        actor=engineer,
        name="credit-default",
        title="Credit default",
        owner_team=team,
        risk_tier="high",
    )


@pytest.fixture
def other_model(admin_user, other_team) -> RegisteredModel:
    return services.model_create(
        actor=admin_user, name="churn", title="Churn", owner_team=other_team
    )


@pytest.fixture
def ci(model):
    """A CI account whose token is scoped to ``model``; returns (user, token, secret)."""
    issued = services.ci_account_create(actor=None, name="ci-credit", models=[model])
    return issued.token.user, issued.token, issued.secret


def client_for(user=None, secret: str | None = None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    elif user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def ci_client(ci) -> APIClient:
    return client_for(secret=ci[2])


def evaluation_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small evaluation set: binary label and prediction, scores, two protected columns."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], n)
    age = rng.choice(["young", "middle", "old"], n)
    income = rng.normal(50, 10, n).round(2)
    debt = rng.uniform(0, 1, n).round(3)
    score = 1 / (1 + np.exp(-(0.08 * (income - 50) - 2 * (debt - 0.5) + (sex == "male") * 0.4)))
    return pd.DataFrame(
        {
            "sex": sex,
            "age_group": age,
            "income": income,
            "debt_ratio": debt,
            "repaid": (rng.random(n) < score).astype(int),
            "approved": (score >= 0.5).astype(int),
            "score": score.round(5),
        }
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Candidate:
    """A version submission as CI sends it; mutate fields to make it wrong."""

    version: str = "1.0.0"
    frame: pd.DataFrame = field(default_factory=evaluation_frame)
    overrides: dict[str, Any] = field(default_factory=dict)
    column_overrides: dict[str, Any] = field(default_factory=dict)
    model_bytes: bytes | None = None
    model_name: str = "model.skops"

    def metadata(self) -> dict[str, Any]:
        columns = {
            "label": "repaid",
            "prediction": "approved",
            "score": "score",
            "favorable_label": 1,
            "protected": {"sex": {"privileged": ["male"]}, "age_group": {"privileged": ["middle"]}},
            "features": ["income", "debt_ratio"],
            **self.column_overrides,
        }
        return {
            "version": self.version,
            "artifact_uri": f"s3://models/credit/{self.version}.skops",
            "artifact_sha256": sha(self.model_bytes) if self.model_bytes else "a" * 64,
            "code_commit": "0123456789abcdef0123456789abcdef01234567",
            "training_data_uri": "s3://data/train.csv",
            "training_data_sha256": "b" * 64,
            "metrics": {"accuracy": 0.81, "manual_review_rate": 0.2},
            "params": {"max_depth": 3},
            "tags": {"branch": "main"},
            "columns": columns,
            **self.overrides,
        }

    def csv(self) -> bytes:
        return self.frame.to_csv(index=False).encode()

    def multipart(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "metadata": json.dumps(self.metadata()),
            "evaluation_data": _named(self.csv(), "evaluation.csv"),
        }
        if self.model_bytes is not None:
            body["model"] = _named(self.model_bytes, self.model_name)
        return body

    def register(self, *, actor, model, token=None, key: str = ""):
        """Register through the service CI's endpoint calls, which queues the reports."""
        return explain_services.version_register(
            actor=actor,
            token=token,
            model=model,
            metadata=self.metadata(),
            evaluation_file=io.BytesIO(self.csv()),
            model_file=io.BytesIO(self.model_bytes) if self.model_bytes else None,
            model_filename=self.model_name,
            idempotency_key=key,
        )


def _named(data: bytes, name: str) -> io.BytesIO:
    fh = io.BytesIO(data)
    fh.name = name
    return fh


def post_version(client: APIClient, model_name: str, candidate: Candidate, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"/api/v1/models/{model_name}/versions/",
        candidate.multipart(),
        format="multipart",
        **headers,
    )
