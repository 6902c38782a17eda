"""SHAP at its row cap: the sample is drawn without calling the model, the values are exactly
bare TreeExplainer's on the sampled rows, and the proxy measures say which rows they read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.ensemble import GradientBoostingClassifier

from explain.engines.explainability import shap_report
from explain.engines.explainability.sampling import PROXY_MIN_ROWS

ROWS = 6000


class CountingGBC(GradientBoostingClassifier):
    """A gradient-boosting model that records how many rows each ``predict_proba`` call read."""

    calls: list[int]

    def predict_proba(self, X):  # type: ignore[no-untyped-def]
        self.calls.append(len(X))
        return super().predict_proba(X)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    group = rng.integers(0, 2, ROWS)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=ROWS),
            "proxy": group + rng.normal(scale=0.2, size=ROWS),
            "b": rng.normal(size=ROWS),
        }
    )
    y = (2 * X["a"] + X["proxy"] + rng.normal(size=ROWS) > 0.5).astype(int).to_numpy()
    return X, y, {"group": group}


@pytest.fixture(scope="module")
def model(data) -> CountingGBC:
    X, y, _ = data
    fitted = CountingGBC(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
    fitted.calls = []
    return fitted


def test_sample_is_drawn_without_predicting_every_row(model, data) -> None:
    X, _, protected = data
    model.calls.clear()
    report = shap_report(model, X, protected=protected, privileged={"group": [1]}, max_rows=500)
    assert report.result["sample"]["explained_rows"] == 500
    assert ROWS not in model.calls  # no predict_proba over all rows
    assert "the model is not called" in report.result["sample"]["strategy"]


def test_values_are_bare_tree_explainer_on_the_sampled_rows(model, data) -> None:
    X, _, protected = data
    report = shap_report(model, X, protected=protected, privileged={"group": [1]}, max_rows=500)
    rows = report.result["sample"]["row_indices"]
    bare = shap.TreeExplainer(model)
    expected = np.asarray(bare.shap_values(X.iloc[rows]))
    np.testing.assert_array_equal(report.values, expected)
    assert report.base_value == float(np.ravel(bare.expected_value)[0])
    pd.testing.assert_frame_equal(report.X_sample, X.iloc[rows])


def test_sample_depends_on_data_and_seed_only(model, data) -> None:
    X, y, protected = data
    other = GradientBoostingClassifier(n_estimators=5, max_depth=1, random_state=1).fit(X, y)
    kwargs = {"protected": protected, "privileged": {"group": [1]}, "max_rows": 500}
    first = shap_report(model, X, **kwargs).result["sample"]
    assert shap_report(other, X, **kwargs).result["sample"] == first
    reseeded = shap_report(model, X, seed=1, **kwargs).result["sample"]
    assert reseeded["row_indices"] != first["row_indices"]
    assert [s["sampled"] for s in reseeded["strata"]] == [s["sampled"] for s in first["strata"]]


def test_proxy_measures_read_a_bounded_sample_and_say_so(model, data) -> None:
    X, _, protected = data
    kwargs = {"protected": protected, "privileged": {"group": [1]}}
    small = shap_report(model, X, max_rows=300, **kwargs).result["proxies"]
    assert small["rows"] == PROXY_MIN_ROWS
    assert small["rows_description"].startswith(f"computed on {PROXY_MIN_ROWS} of {ROWS} rows")
    assert small["associations"]["group"]["proxy"]["abs_correlation"] > 0.9
    assert small["associations"]["group"]["b"]["nmi"] < 0.05
    assert any(w["feature"] == "proxy" for w in small["warnings"])

    large = shap_report(model, X, max_rows=3000, **kwargs).result["proxies"]
    assert large["rows"] == 3000  # the explained rows themselves

    every = shap_report(model, X, max_rows=ROWS, **kwargs).result["proxies"]
    assert (
        every["rows"] == ROWS and every["rows_description"] == f"computed on {ROWS} of {ROWS} rows"
    )


def test_membership_reads_whole_floats_and_missing_values_as_before(model, data) -> None:
    X, _, _ = data
    values = np.where(np.arange(ROWS) % 3 == 0, 1.0, 0.0)
    values[::7] = np.nan
    report = shap_report(model, X, protected={"g": values}, privileged={"g": ["1"]}, max_rows=ROWS)
    counts = report.result["groups"]["g"]["rows"]
    privileged = int(((np.arange(ROWS) % 3 == 0) & (np.arange(ROWS) % 7 != 0)).sum())
    assert counts == {"privileged": privileged, "unprivileged": ROWS - privileged}


@pytest.mark.parametrize(
    "values",
    [
        np.arange(ROWS) % 4,
        (np.arange(ROWS) % 4).astype(np.uint8),
        (np.arange(ROWS) % 4).astype(float),
        (np.arange(ROWS) % 4).astype(str),
        np.arange(ROWS) % 4 == 1,
    ],
    ids=["int64", "uint8", "float", "text", "bool"],
)
def test_membership_matches_the_text_of_each_value(model, data, values) -> None:
    X, _, _ = data
    privileged = {"g": ["1", "01", "True", "3.0", "99999999999999999999"]}
    report = shap_report(model, X, protected={"g": values}, privileged=privileged, max_rows=ROWS)
    text = pd.Series(values).astype(str)
    if values.dtype.kind == "f":
        text = pd.Series(values).astype("Int64").astype(str)
    expected = int(text.isin(privileged["g"]).sum())
    assert report.result["groups"]["g"]["rows"]["privileged"] == expected
