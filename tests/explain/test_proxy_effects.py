"""The SHAP report estimates, without retraining, what neutralising each flagged proxy would do:
on data where a feature is a pure proxy for sex and drives the decisions, shuffling it moves
disparate impact toward 1; the estimate is the same for the same input, reads the fairness
engine's own numbers, and costs one predict of the proxy rows per feature (and one for the
decisions as they are)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explain.engines.explainability import shap_report
from explain.engines.fairness import fairness_report

ROWS = 3000


class CountingLR(LogisticRegression):
    """A logistic regression that records how many rows each ``predict`` call read."""

    calls: list[int]

    def predict(self, X):  # type: ignore[no-untyped-def]
        self.calls.append(len(X))
        return super().predict(X)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    sex = rng.choice(np.array(["male", "female"]), ROWS, p=[0.55, 0.45])
    X = pd.DataFrame(
        {
            "income": rng.normal(size=ROWS),
            # Nothing but sex, blurred a little: a pure proxy.
            "occupation_score": np.where(sex == "male", 0.7, 0.3) + rng.normal(0, 0.05, ROWS),
            "debt": rng.normal(size=ROWS),
        }
    )
    y = (X["income"] + 6 * (X["occupation_score"] - 0.5) + rng.normal(0, 0.5, ROWS) > 0).astype(int)
    return X, y.to_numpy(), sex


@pytest.fixture(scope="module")
def model(data) -> CountingLR:
    X, y, _ = data
    fitted = CountingLR(max_iter=500).fit(X, y)
    fitted.calls = []
    return fitted


def effects_of(model, X, sex, **kwargs) -> list[dict]:
    report = shap_report(
        model, X, protected={"sex": sex}, privileged={"sex": ["male"]}, positive_class=1, **kwargs
    )
    return report.result["proxies"]["effects"]


def test_neutralising_a_pure_proxy_moves_disparate_impact_toward_one(model, data):
    X, _, sex = data
    effects = effects_of(model, X, sex)

    by_metric = {e["metric"]: e for e in effects}
    assert set(by_metric) == {"disparate_impact", "statistical_parity_difference"}
    di = by_metric["disparate_impact"]
    assert di.keys() >= {"feature", "protected", "metric", "observed", "estimated", "method"}
    assert (di["feature"], di["protected"], di["method"]) == (
        "occupation_score",
        "sex",
        "permutation",
    )
    assert (di["unprivileged"], di["privileged"], di["rows"]) == (["female"], ["male"], 2000)
    assert di["observed"] < 0.6  # the proxy drives the decisions apart
    assert abs(di["estimated"] - 1) < abs(di["observed"] - 1) / 3
    spd = by_metric["statistical_parity_difference"]
    assert abs(spd["estimated"]) < abs(spd["observed"]) / 3
    # Only the flagged proxy is neutralised.
    assert {e["feature"] for e in effects} == {"occupation_score"}


def test_the_observed_numbers_are_the_fairness_engines_on_the_models_decisions(model, data):
    X, _, sex = data
    effects = effects_of(model, X, sex, max_rows=ROWS)  # every row, so no sample to redraw

    decisions = model.predict(X)
    report = fairness_report(
        {"sex": sex, "label": decisions, "decision": decisions},
        label="label",
        prediction="decision",
        favorable_label=1,
        protected={"sex": {"privileged": ["male"]}},
        bootstrap_samples=0,
    )
    metrics = report["attributes"]["sex"]["comparisons"][0]["metrics"]
    for effect in effects:
        assert effect["rows"] == ROWS
        assert effect["observed"] == pytest.approx(metrics[effect["metric"]]["value"], abs=1e-12)


def test_the_same_input_gives_the_same_estimate(model, data):
    X, _, sex = data

    assert effects_of(model, X, sex) == effects_of(model, X, sex)
    assert effects_of(model, X, sex, seed=1) != effects_of(model, X, sex)


def test_it_costs_one_predict_of_the_proxy_rows_per_feature_and_one_more(model, data):
    X, _, sex = data
    model.calls.clear()
    effects_of(model, X, sex, max_rows=500)

    # 500 rows explained; the proxy measures, and so the estimate, read 2,000 of the 3,000.
    assert model.calls == [2000, 2000]


def test_without_a_flagged_proxy_there_is_no_estimate(data):
    X, y, sex = data
    fair = LogisticRegression(max_iter=500).fit(X[["income", "debt"]], y)

    assert effects_of(fair, X[["income", "debt"]], sex) == []
