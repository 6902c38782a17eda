"""Explainability engine: explainer choice, importance, proxies, sampling, determinism, plots."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lime.lime_tabular import LimeTabularExplainer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from explain.engines.explainability import lime_report, shap_plots, shap_report
from explain.engines.explainability.sampling import _allocate

N = 2000
PRIVILEGED = {"sex": [1]}


def canonical_hash(result: dict[str, Any]) -> str:
    """Hash of canonical JSON; fails on NaN, so it also proves the dict is clean JSON."""
    text = json.dumps(result, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """The label follows ``decisive``; ``proxy`` is sex plus a little noise and also counts."""
    rng = np.random.default_rng(42)
    sex = rng.integers(0, 2, N)
    X = pd.DataFrame(
        {
            "decisive": rng.normal(size=N),
            "proxy": sex + rng.normal(scale=0.1, size=N),
            "noise_a": rng.normal(size=N),
            "noise_b": rng.uniform(size=N),
            "count": rng.integers(0, 4, N),
        }
    )
    logit = 4 * X["decisive"] + 1.5 * (X["proxy"] - 0.5)
    y = (logit + rng.logistic(scale=0.3, size=N) > 0).astype(int).to_numpy()
    return X, y, {"sex": sex}


@pytest.fixture(scope="module")
def gbc(data) -> GradientBoostingClassifier:
    X, y, _ = data
    return GradientBoostingClassifier(n_estimators=40, max_depth=2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def gbc_report(gbc, data):
    X, _, protected = data
    return shap_report(gbc, X, protected=protected, privileged=PRIVILEGED, max_rows=600)


@pytest.fixture(scope="module")
def permutation_model(data) -> Pipeline:
    X, y, _ = data
    return Pipeline([("pca", PCA(n_components=5)), ("lr", LogisticRegression())]).fit(X, y)


def test_decisive_feature_ranks_first(gbc_report) -> None:
    ranking = gbc_report.result["global_importance"]
    assert ranking[0]["feature"] == "decisive"
    assert [r["rank"] for r in ranking] == [1, 2, 3, 4, 5]
    values = [r["mean_abs_shap"] for r in ranking]
    assert values == sorted(values, reverse=True)
    assert sum(r["share"] for r in ranking) == pytest.approx(1.0)


def test_proxy_column_is_flagged(gbc_report) -> None:
    warnings = gbc_report.result["proxies"]["warnings"]
    assert [(w["feature"], w["attribute"]) for w in warnings] == [("proxy", "sex")]
    warning = warnings[0]
    assert warning["nmi"] > 0.8
    assert warning["abs_correlation"] > 0.9
    assert warning["rank"] == 2
    assert "proxy" in warning["message"]
    associations = gbc_report.result["proxies"]["associations"]["sex"]
    for feature in ("decisive", "noise_a", "noise_b", "count"):
        assert associations[feature]["nmi"] < 0.05
        assert associations[feature]["abs_correlation"] < 0.1


def test_per_group_importance_and_difference(gbc_report, data) -> None:
    _, _, protected = data
    groups = gbc_report.result["groups"]["sex"]
    rows = np.array(gbc_report.result["sample"]["row_indices"])
    privileged = protected["sex"][rows] == 1
    assert groups["rows"] == {
        "privileged": int(privileged.sum()),
        "unprivileged": int((~privileged).sum()),
    }
    expected = np.abs(gbc_report.values[~privileged]).mean(axis=0) - np.abs(
        gbc_report.values[privileged]
    ).mean(axis=0)
    by_feature = {d["feature"]: d["difference"] for d in groups["difference"]}
    for i, feature in enumerate(gbc_report.result["features"]):
        assert by_feature[feature] == pytest.approx(expected[i], abs=1e-9)
    assert groups["privileged_values"] == ["1"]


def test_values_add_up_to_the_stated_output(gbc_report, gbc, data) -> None:
    X, _, _ = data
    result = gbc_report.result
    assert result["output"] == "log_odds"
    assert result["positive_class"] == 1
    rows = result["sample"]["row_indices"]
    explained = gbc_report.values.sum(axis=1) + gbc_report.base_value
    np.testing.assert_allclose(explained, gbc.decision_function(X.iloc[rows]), atol=1e-6)
    assert list(gbc_report.X_sample.index) == rows


@pytest.mark.parametrize(
    ("make", "explainer", "output"),
    [
        (lambda: GradientBoostingClassifier(n_estimators=10, random_state=0), "Tree", "log_odds"),
        (
            lambda: HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=8, random_state=0),
            "Tree",
            "log_odds",
        ),
        (lambda: RandomForestClassifier(n_estimators=5, random_state=0), "Tree", "probability"),
        (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), "Tree", "probability"),
        (lambda: LogisticRegression(), "Linear", "log_odds"),
        (
            lambda: Pipeline([("s", StandardScaler()), ("lr", LogisticRegression())]),
            "Linear",
            "log_odds",
        ),
        (
            lambda: Pipeline([("pca", PCA(n_components=5)), ("lr", LogisticRegression())]),
            "Permutation",
            "probability",
        ),
    ],
    ids=["gb", "hgb", "rf", "tree", "logistic", "scaled-logistic", "pca-pipeline"],
)
def test_explainer_is_chosen_by_model_type(data, make, explainer: str, output: str) -> None:
    X, y, protected = data
    model = make().fit(X, y)
    report = shap_report(
        model, X, protected=protected, privileged=PRIVILEGED, max_rows=30, background_rows=20
    )
    assert report.result["explainer"] == f"{explainer}Explainer"
    assert report.result["output"] == output
    rows = report.result["sample"]["row_indices"]
    if output == "probability":
        expected = model.predict_proba(X.iloc[rows])[:, 1]
    else:
        expected = model.decision_function(X.iloc[rows])
    np.testing.assert_allclose(report.values.sum(axis=1) + report.base_value, expected, atol=1e-6)


def test_categorical_hist_gradient_boosting_falls_back_to_permutation(data) -> None:
    X, y, protected = data
    model = HistGradientBoostingClassifier(
        max_iter=5, categorical_features=[4], random_state=0
    ).fit(X, y)
    report = shap_report(
        model, X, protected=protected, privileged=PRIVILEGED, max_rows=4, background_rows=10
    )
    assert report.result["explainer"] == "PermutationExplainer"
    assert "no exact explainer" in report.result["explainer_reason"]


def test_negative_class_mirrors_the_positive_one(gbc, gbc_report, data) -> None:
    X, _, protected = data
    mirrored = shap_report(
        gbc, X, protected=protected, privileged=PRIVILEGED, max_rows=600, positive_class="0"
    )
    assert mirrored.result["positive_class"] == 0
    np.testing.assert_allclose(mirrored.values, -gbc_report.values)
    assert mirrored.base_value == pytest.approx(-gbc_report.base_value)


def test_sample_cap_is_honoured_and_stratified(gbc_report, data) -> None:
    _, _, protected = data
    sample = gbc_report.result["sample"]
    rows = np.array(sample["row_indices"])
    assert sample["total_rows"] == N and sample["max_rows"] == 600
    assert sample["explained_rows"] == len(rows) == 600 == len(gbc_report.values)
    assert np.all(np.diff(rows) > 0) and rows.min() >= 0 and rows.max() < N

    privileged = protected["sex"] == 1
    total_sampled = 0
    for stratum in sample["strata"]:
        in_stratum = privileged == (stratum["groups"]["sex"] == "privileged")
        assert stratum["rows"] == int(in_stratum.sum())
        assert stratum["sampled"] == int(in_stratum[rows].sum())
        assert abs(stratum["sampled"] - 600 * stratum["rows"] / N) <= 1
        total_sampled += stratum["sampled"]
    assert total_sampled == 600 and len(sample["strata"]) == 2


def test_small_strata_keep_at_least_one_row() -> None:
    quota = _allocate(np.array([1000, 995, 5]), 100)
    assert quota.tolist() == [50, 49, 1]
    assert _allocate(np.array([3, 3]), 10).tolist() == [3, 3]


def test_all_rows_are_explained_under_the_cap(data) -> None:
    X, y, protected = data
    model = LogisticRegression().fit(X, y)
    report = shap_report(model, X, protected=protected, privileged=PRIVILEGED, max_rows=N)
    assert report.result["sample"]["strategy"] == "all rows"
    assert report.result["sample"]["row_indices"] == list(range(N))


def test_shap_result_is_deterministic(gbc, gbc_report, permutation_model, data) -> None:
    X, _, protected = data
    again = shap_report(gbc, X, protected=protected, privileged=PRIVILEGED, max_rows=600)
    assert canonical_hash(again.result) == canonical_hash(gbc_report.result)

    def permutation() -> str:
        report = shap_report(
            permutation_model,
            X,
            protected=protected,
            privileged=PRIVILEGED,
            max_rows=20,
            background_rows=20,
            seed=3,
        )
        return canonical_hash(report.result)

    np.random.seed(123)
    first = permutation()
    after = np.random.random()
    np.random.seed(123)
    assert permutation() == first
    assert np.random.random() == after  # the caller's global RNG is left as it was


def test_lime_auto_selection(gbc, data) -> None:
    X, _, protected = data
    result = lime_report(
        gbc, X, protected=protected, privileged=PRIVILEGED, num_samples=500, per_group=2
    )
    proba = gbc.predict_proba(X)[:, 1]
    borderline = set(np.argsort(np.abs(proba - 0.5), kind="stable")[:5].tolist())
    rows = {r["row"]: r for r in result["rows"]}
    assert borderline <= set(rows)
    assert all("borderline" in rows[r]["reasons"] for r in borderline)
    for group in ("privileged", "unprivileged"):
        picked = [r for r in rows.values() if f"sex: {group}" in r["reasons"]]
        assert len(picked) == 2 and all(r["groups"]["sex"] == group for r in picked)
    for row in result["rows"]:
        assert row["predicted_probability"] == pytest.approx(proba[row["row"]])
        weights = [abs(f["weight"]) for f in row["features"]]
        assert weights == sorted(weights, reverse=True)
        for feature in row["features"]:
            assert feature["feature"] in feature["condition"]
    assert result["rows"][0]["features"][0]["feature"] == "decisive"


def test_lime_explains_exactly_the_requested_rows(gbc, data) -> None:
    X, _, protected = data
    result = lime_report(
        gbc, X, protected=protected, privileged=PRIVILEGED, rows=[17, 3], num_samples=300
    )
    assert [r["row"] for r in result["rows"]] == [17, 3]
    assert result["selection"] == {"mode": "requested"}
    with pytest.raises(ValueError, match="out of range"):
        lime_report(gbc, X, protected=protected, privileged=PRIVILEGED, rows=[N])


def test_lime_is_deterministic_and_independent_of_other_rows(gbc, data) -> None:
    X, _, protected = data
    kwargs = {"protected": protected, "privileged": PRIVILEGED, "num_samples": 300}
    first = lime_report(gbc, X, rows=[5, 9, 11], **kwargs)
    assert canonical_hash(lime_report(gbc, X, rows=[5, 9, 11], **kwargs)) == canonical_hash(first)
    alone = lime_report(gbc, X, rows=[11], **kwargs)
    assert alone["rows"][0] == first["rows"][2]

    # Same as building a new LimeTabularExplainer for the row.
    fresh = LimeTabularExplainer(
        X.to_numpy(float),
        mode="classification",
        feature_names=list(X.columns),
        class_names=["0", "1"],
        discretize_continuous=True,
        random_state=0,
    ).explain_instance(
        X.to_numpy(float)[11],
        lambda a: gbc.predict_proba(pd.DataFrame(a, columns=X.columns)),
        labels=(1,),
        num_features=8,
        num_samples=300,
    )
    expected = {text: weight for text, weight in fresh.as_list(label=1)}
    assert {f["condition"]: f["weight"] for f in alone["rows"][0]["features"]} == pytest.approx(
        expected
    )


def test_plots_are_valid_svg(gbc_report) -> None:
    plots = shap_plots(gbc_report)
    assert set(plots) == {"shap_importance.svg", "shap_beeswarm.svg"}
    for svg in plots.values():
        root = ET.fromstring(svg)  # noqa: S314 - our own output
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"decisive" in plots["shap_importance.svg"]
    assert b"<image" in plots["shap_beeswarm.svg"]  # the dots are rasterised, the axes not
    assert shap_plots(gbc_report) == plots


# The narrowest the version page shows a plot: a 390 px phone less the page's and the
# card's margins, padding and borders (the browser journey measures it).
PHONE_PLOT_CSS_PX = 342


def test_plots_keep_their_labels_legible_on_a_phone_and_their_dots_sharp(gbc_report) -> None:
    """Each plot is 4.5 in wide, shown at that width (432 CSS px) or shrunk to the card: its
    smallest text stays at 11 CSS px or more even on a phone; the beeswarm's dots are drawn
    at two device pixels per CSS pixel; the files stay small."""
    for name, svg in shap_plots(gbc_report).items():
        root = ET.fromstring(svg)  # noqa: S314 - our own output
        assert root.get("width") == "324pt", name  # 4.5 in: 432 CSS px
        view_width = float(root.get("viewBox", "").split()[2])
        css_px = 96 / 72 * 324  # the plot's own width in CSS px
        shown = min(css_px, PHONE_PLOT_CSS_PX)
        fonts = [
            float(size)
            for size in re.findall(rb"font[^;\"]*?([\d.]+)px", svg)  # user units: 1 pt
        ]
        assert fonts, name
        smallest = min(fonts) * 96 / 72 * shown / css_px * 324 / view_width
        assert smallest >= 11, (name, smallest)
        assert len(svg) < 100_000, (name, len(svg))
    beeswarm = ET.fromstring(shap_plots(gbc_report)["shap_beeswarm.svg"])  # noqa: S314
    image = beeswarm.find(".//{http://www.w3.org/2000/svg}image")
    assert image is not None
    png = base64.b64decode(image.get("{http://www.w3.org/1999/xlink}href", "").split(",", 1)[1])
    pixels = struct.unpack(">II", png[16:24])  # the PNG's IHDR: width, height
    drawn = (float(image.get("width", "0")), float(image.get("height", "0")))  # in pt
    for px, pt in zip(pixels, drawn, strict=True):
        assert px == pytest.approx(pt * 96 / 72 * 2, abs=2)  # 192 dpi


def test_non_numeric_feature_is_refused(gbc, data) -> None:
    X, _, protected = data
    bad = X.assign(city=["a"] * N)
    with pytest.raises(ValueError, match="not numeric: city"):
        shap_report(gbc, bad, protected=protected, privileged=PRIVILEGED)
    with pytest.raises(ValueError, match="not numeric: city"):
        lime_report(gbc, bad, protected=protected, privileged=PRIVILEGED)


def test_protected_attribute_needs_privileged_values(gbc, data) -> None:
    X, _, protected = data
    with pytest.raises(ValueError, match="No privileged values"):
        shap_report(gbc, X, protected=protected, privileged={})
