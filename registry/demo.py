"""Demo data: synthetic credit applicants with a planted, known disparity, and the
"credit-default" model with three versions registered through the same service as the API.

The planted bias: historical training labels under-record repayment by women (30% of
their repaid loans recorded as defaults), and version 1.0.0 can see ``occupation_score``, a
proxy for sex. So 1.0.0 approves women markedly less often than men with the same finances
(disparate impact about 0.58); 0.9.0 and 1.1.0 leave the proxy out and train on the
corrected labels, and pass.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from . import services
from .models import RegisteredModel, ServiceAccount, Team
from .roles import Role

FEATURES = [
    "income",
    "debt_ratio",
    "credit_history_years",
    "late_payments",
    "employment_years",
    "loan_amount",
    "occupation_score",
]
PROTECTED = {"sex": {"privileged": ["male"]}, "age_group": {"privileged": ["25-40", "40-60"]}}
# version, sees the proxy, trained on the biased labels, trees (of the boosted models)
DEMO_VERSIONS = [
    ("0.9.0", False, False, 30),  # the initial release, promoted by the demo's own reviewers
    ("1.0.0", True, True, 0),  # the biased candidate: its fairness report fails on sex
    ("1.1.0", False, False, 80),  # the fixed candidate, waiting for review
]
DEMO_USERS = [
    # username, roles, teams
    ("admin", [Role.ADMIN], ["credit-risk"]),
    ("mlengineer", [Role.ML_ENGINEER], ["credit-risk"]),
    ("reviewer", [Role.REVIEWER], ["credit-risk"]),
    ("riskofficer", [Role.RISK_OFFICER], ["credit-risk"]),
    ("auditor", [Role.AUDITOR], []),
    ("outsider", [Role.ML_ENGINEER], ["marketing"]),
]


def synthetic_applicants(n: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Applicants with true repayment outcomes and historically biased recorded labels."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["male", "female"]), n, p=[0.55, 0.45])
    age_group = rng.choice(np.array(["<25", "25-40", "40-60", "60+"]), n, p=[0.15, 0.4, 0.3, 0.15])
    female = sex == "female"
    income = rng.lognormal(10.6, 0.45, n).round(0)
    debt_ratio = rng.beta(2, 5, n).round(3)
    age_years = {"<25": 3, "25-40": 9, "40-60": 18, "60+": 25}
    credit_history_years = np.array([age_years[a] for a in age_group]) * rng.uniform(0.5, 1.3, n)
    late_payments = rng.poisson(0.3 + 2.0 * debt_ratio)
    employment_years = np.clip(credit_history_years * rng.uniform(0.4, 1.1, n), 0, None)
    loan_amount = (income * rng.uniform(0.1, 0.6, n)).round(-2)
    occupation_score = np.where(female, 0.3, 0.7) + rng.normal(0, 0.1, n)

    logit = (
        1.4
        + 2.8 * (np.log(income) - 10.6)
        - 5.0 * debt_ratio
        - 0.9 * late_payments
        + 0.01 * credit_history_years
        - 1.5 * (loan_amount / income - 0.35)
    )
    repaid = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    # The historical record: 30% of women's repaid loans were written down as defaults.
    recorded = np.where(female & (repaid == 1) & (rng.random(n) < 0.3), 0, repaid)
    return pd.DataFrame(
        {
            "applicant_id": np.arange(1, n + 1),
            "sex": sex,
            "age_group": age_group,
            "income": income,
            "debt_ratio": debt_ratio,
            "credit_history_years": credit_history_years.round(1),
            "late_payments": late_payments,
            "employment_years": employment_years.round(1),
            "loan_amount": loan_amount,
            "occupation_score": occupation_score.round(3),
            "repaid": repaid,
            "recorded_repaid": recorded,
        }
    )


@dataclass(frozen=True)
class DemoCandidate:
    """What CI would post for one trained candidate."""

    metadata: dict
    evaluation_csv: bytes
    model_bytes: bytes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def train_candidate(
    version: str, *, use_proxy: bool, biased_labels: bool, trees: int = 80, seed: int = 7
) -> DemoCandidate:
    """Train a candidate on synthetic data and package it as CI would."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skops.io import dumps

    train = synthetic_applicants(20000, seed=seed)
    evaluation = synthetic_applicants(20000, seed=seed + 1000)
    features = FEATURES if use_proxy else [f for f in FEATURES if f != "occupation_score"]
    target = "recorded_repaid" if biased_labels else "repaid"
    if use_proxy:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    else:
        estimator = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=seed)
    estimator.fit(train[features], train[target])

    scores = estimator.predict_proba(evaluation[features])[:, 1]
    eval_frame = evaluation[["applicant_id", "sex", "age_group", *features]].copy()
    eval_frame["repaid"] = evaluation["repaid"]
    eval_frame["approved"] = (scores >= 0.5).astype(int)
    eval_frame["score"] = scores.round(6)
    evaluation_csv = eval_frame.to_csv(index=False).encode()
    model_bytes = dumps(estimator)
    training_csv = train.to_csv(index=False).encode()

    accuracy = float((eval_frame["approved"] == eval_frame["repaid"]).mean())
    metadata = {
        "version": version,
        "artifact_uri": f"s3://models/credit-default/{version}/model.skops",
        "artifact_sha256": _sha(model_bytes),
        "code_commit": hashlib.sha1(f"credit-default {version}".encode()).hexdigest(),  # noqa: S324
        "training_data_uri": f"s3://datasets/credit/applicants-{seed}.csv",
        "training_data_sha256": _sha(training_csv),
        "metrics": {
            "train_accuracy": round(
                float((estimator.predict(train[features]) == train[target]).mean()), 4
            ),
            "eval_accuracy": round(accuracy, 4),
            "manual_review_rate": round(float(((scores > 0.35) & (scores < 0.65)).mean()), 4),
        },
        "params": {"estimator": type(estimator).__name__, "features": len(features)},
        "tags": {"pipeline": "nightly", "dataset": "synthetic-applicants"},
        "columns": {
            "label": "repaid",
            "prediction": "approved",
            "score": "score",
            "favorable_label": 1,
            "protected": PROTECTED,
            "features": features,
        },
    }
    return DemoCandidate(metadata, evaluation_csv, model_bytes)


def passwords_file() -> Path:
    return settings.DATA_DIR / "demo-users.txt"


def demo_users() -> dict[str, str]:
    """Demo usernames and passwords, generated once per data folder."""
    path = passwords_file()
    if path.exists():
        return dict(line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)
    users = {name: f"demo-{secrets.token_urlsafe(9)}" for name, _, _ in DEMO_USERS}
    path.write_text("".join(f"{name}\t{pw}\n" for name, pw in users.items()))
    path.chmod(0o600)
    return users


DEMO_MODELS = {"credit-default"}
DEMO_TEAMS = {"credit-risk", "marketing"}
LOCAL_BROKERS = ("filesystem://", "memory://")


def embedded_setup() -> bool:
    """Whether this is the laptop setup: SQLite inside the data folder and a broker in-process
    or in a local folder, nothing another person could be relying on."""
    if connection.vendor != "sqlite" or not settings.CELERY_BROKER_URL.startswith(LOCAL_BROKERS):
        return False
    if connection.is_in_memory_db():  # type: ignore[attr-defined]  # SQLite's (vendor above)
        return True
    return Path(connection.settings_dict["NAME"]).resolve().is_relative_to(settings.DATA_DIR)


def foreign_data() -> str:
    """What in the database the demo did not create (empty when nothing): a user, team or
    model outside the demo's, or any user while this data folder has no demo passwords file
    (someone else's database, whatever the names)."""
    users = get_user_model().objects.values_list("username", flat=True)
    known = {name for name, _, _ in DEMO_USERS} | {"ci-credit"}
    found = [
        *(f"user {u!r}" for u in users.exclude(username__in=known)[:3]),
        *(
            f"team {t!r}"
            for t in Team.objects.exclude(slug__in=DEMO_TEAMS).values_list("slug", flat=True)[:3]
        ),
        *(
            f"model {m!r}"
            for m in RegisteredModel.objects.exclude(name__in=DEMO_MODELS).values_list(
                "name", flat=True
            )[:3]
        ),
    ]
    if not found and users.exists() and not passwords_file().exists():
        found.append(f"users, but no {passwords_file().name} in {settings.DATA_DIR}")
    return ", ".join(found)


def seed_refusal() -> str:
    """Why demo data may not be seeded here (empty when it may). The demo creates a superuser,
    prints passwords and a token and writes the audit chain, so it needs all of: GATEHOUSE_DEMO=1,
    no HTTPS production settings, DEBUG on or the embedded setup, and no one else's data."""
    if not settings.DEMO_MODE:
        return "Demo data is refused unless GATEHOUSE_DEMO=1 (never in production)."
    if (
        settings.SECURE_SSL_REDIRECT
        or settings.SECURE_HSTS_SECONDS
        or settings.SESSION_COOKIE_SECURE
    ):
        return (
            "Demo data is refused: HTTPS production settings are on (DJANGO_SECURE_SSL_REDIRECT, "
            "DJANGO_SECURE_HSTS_SECONDS or DJANGO_SECURE_COOKIES)."
        )
    if not settings.DEBUG and not embedded_setup():
        return (
            "Demo data is refused: DEBUG is off and this is not the embedded setup (SQLite in "
            "GATEHOUSE_DATA_DIR and the folder broker), so it looks like production. Use the "
            "embedded setup, or DJANGO_DEBUG=1 on a development database."
        )
    found = foreign_data()
    if found:
        return f"Demo data is refused: the database holds data the demo did not create ({found})."
    return ""


def seed(*, stdout=None) -> dict[str, str]:
    """Create demo teams, users, the credit-default model with objectives and a CI account
    (``version_registrations`` gives its versions). Safe to run again: it skips what exists."""
    user_model = get_user_model()
    passwords = demo_users()
    with transaction.atomic():
        teams = {}
        for slug, name in (("credit-risk", "Credit risk"), ("marketing", "Marketing analytics")):
            teams[slug] = Team.objects.filter(slug=slug).first() or services.team_create(
                actor=None, slug=slug, name=name
            )
        for username, roles, team_slugs in DEMO_USERS:
            if user_model.objects.filter(username=username).exists():
                continue
            user = user_model(username=username, email=f"{username}@example.invalid")
            user.set_password(passwords[username])
            user.is_staff = user.is_superuser = username == "admin"
            user.save()
            services.user_assign_roles(
                actor=None, user=user, roles=list(roles), teams=[teams[t] for t in team_slugs]
            )
    engineer = user_model.objects.get(username="mlengineer")
    model = RegisteredModel.objects.filter(name="credit-default").first()
    if model is None:
        model = services.model_create(
            actor=engineer,
            name="credit-default",
            title="Credit default risk",
            owner_team=teams["credit-risk"],
            risk_tier="high",
            description="Predicts whether a consumer-loan applicant will repay.",
            intended_use="Pre-screen consumer loan applications; a person decides borderline cases.",
        )
        services.objective_create(
            actor=engineer,
            model=model,
            title="Reduce manual review load by 20%",
            description="Fewer borderline applications sent to underwriters.",
            kpis=[
                {
                    "name": "Manual review rate",
                    "metric_key": "manual_review_rate",
                    "comparator": "<=",
                    "target": 0.3,
                    "unit": "share",
                    "blocking": True,
                },
                {
                    "name": "Accuracy",
                    "metric_key": "accuracy",
                    "comparator": ">=",
                    "target": 0.7,
                    "unit": "",
                    "blocking": True,
                },
            ],
        )
        services.objective_create(
            actor=engineer,
            model=model,
            title="Lend fairly",
            description="Approval rates must not disadvantage protected groups.",
            kpis=[
                {
                    "name": "Disparate impact by sex",
                    "metric_key": "fairness.sex.disparate_impact",
                    "comparator": ">=",
                    "target": 0.8,
                    "unit": "ratio",
                    "blocking": True,
                },
                {
                    "name": "Recall of repayers",
                    "metric_key": "recall",
                    "comparator": ">=",
                    "target": 0.75,
                    "unit": "",
                    "blocking": False,
                },
            ],
        )
    account = ServiceAccount.objects.filter(user__username="ci-credit").first()
    if account is None:
        issued = services.ci_account_create(actor=None, name="ci-credit", models=[model])
        passwords["ci-credit (API token)"] = issued.secret
        with passwords_file().open("a") as fh:
            fh.write(f"ci-credit (API token)\t{issued.secret}\n")
    return passwords


def version_registrations() -> Iterator[dict[str, Any]]:
    """The demo versions not registered yet, one at a time, as CI posts them: the arguments of
    ``explain.services.version_register``, which registers a version and queues its reports."""
    model = RegisteredModel.objects.get(name="credit-default")
    ci_user = ServiceAccount.objects.get(user__username="ci-credit").user
    token = ci_user.api_tokens.filter(revoked_at__isnull=True).first()
    for version, use_proxy, biased, trees in DEMO_VERSIONS:
        if model.versions.filter(version=version).exists():
            continue
        candidate = train_candidate(version, use_proxy=use_proxy, biased_labels=biased, trees=trees)
        yield {
            "actor": ci_user,
            "token": token,
            "model": model,
            "metadata": candidate.metadata,
            "evaluation_file": io.BytesIO(candidate.evaluation_csv),
            "evaluation_filename": "evaluation.csv",
            "model_file": io.BytesIO(candidate.model_bytes),
            "model_filename": "model.skops",
            "idempotency_key": f"demo-{version}",
        }
