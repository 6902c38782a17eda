"""Fairness engine: AIF360 parity, hand-checked values, edge cases, bootstrap and verdicts."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from aif360.algorithms.preprocessing import Reweighing
from aif360.datasets import BinaryLabelDataset
from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric

from explain.engines.fairness import (
    FAIL,
    INCONCLUSIVE,
    METRICS,
    PASS,
    FairnessPolicy,
    fairness_report,
    kpi_values,
    metric_verdict,
    worst,
)

TOL = 1e-9
SEX = {"sex": {"privileged": [1]}}
RACE = {"race": {"privileged": [0]}}


def make_data(seed: int, n: int = 3000) -> pd.DataFrame:
    """Seeded data with a 2-group and a 4-group attribute, labels, scores and predictions."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n)
    race = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    y = (rng.random(n) < 0.3 + 0.1 * sex + 0.05 * (race == 0)).astype(int)
    score = np.clip(0.55 * rng.random(n) + 0.3 * y + 0.08 * sex, 0, 1)
    return pd.DataFrame({"sex": sex, "race": race, "y": y, "s": score, "p": (score >= 0.5) * 1})


def report(df: pd.DataFrame, protected: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("bootstrap_samples", 200)
    kwargs.setdefault("favorable_label", 1)
    return fairness_report(df, label="y", prediction="p", protected=protected, **kwargs)


def aif_metric(
    df: pd.DataFrame,
    attrs: list[str],
    privileged: list[dict[str, float]],
    unprivileged: list[dict[str, float]],
) -> ClassificationMetric:
    """AIF360's ClassificationMetric on numerically encoded columns y (truth) and p (pred)."""
    truth = BinaryLabelDataset(
        df=df[[*attrs, "y"]].astype(float),
        label_names=["y"],
        protected_attribute_names=attrs,
        favorable_label=1,
        unfavorable_label=0,
    )
    pred = truth.copy(deepcopy=True)
    pred.labels = df[["p"]].to_numpy(dtype=float)
    return ClassificationMetric(
        truth, pred, unprivileged_groups=unprivileged, privileged_groups=privileged
    )


def assert_same(ours: float | None, theirs: float) -> None:
    if not math.isfinite(theirs):
        assert ours is None
    else:
        assert ours is not None
        assert abs(ours - theirs) <= TOL, (ours, theirs)


def assert_comparison(comparison: dict[str, Any], metric: ClassificationMetric) -> None:
    values = {k: v["value"] for k, v in comparison["metrics"].items()}
    assert_same(values["statistical_parity_difference"], metric.statistical_parity_difference())
    assert_same(values["disparate_impact"], metric.disparate_impact())
    assert_same(values["equal_opportunity_difference"], metric.equal_opportunity_difference())
    assert_same(values["average_odds_difference"], metric.average_odds_difference())
    data = BinaryLabelDatasetMetric(
        metric.dataset,
        unprivileged_groups=metric.unprivileged_groups,
        privileged_groups=metric.privileged_groups,
    )
    bias = comparison["data_bias"]
    assert_same(bias["statistical_parity_difference"], data.statistical_parity_difference())
    assert_same(bias["disparate_impact"], data.disparate_impact())


def assert_group_rates(group: dict[str, Any], metric: ClassificationMetric) -> None:
    assert group["count"] == metric.num_instances(privileged=True)
    assert_same(group["base_rate"], metric.base_rate(privileged=True))
    assert_same(group["selection_rate"], metric.selection_rate(privileged=True))
    assert_same(group["tpr"], metric.true_positive_rate(privileged=True))
    assert_same(group["fpr"], metric.false_positive_rate(privileged=True))
    assert_same(group["precision"], metric.precision(privileged=True))
    assert_same(group["accuracy"], metric.accuracy(privileged=True))


def strict_json(result: dict[str, Any]) -> None:
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attributes_match_aif360(seed: int) -> None:
    df = make_data(seed)
    result = report(df, {**SEX, **RACE}, bootstrap_samples=0)
    strict_json(result)

    sex = result["attributes"]["sex"]
    assert [c["kind"] for c in sex["comparisons"]] == ["aggregate"]
    assert_comparison(sex["comparisons"][0], aif_metric(df, ["sex"], [{"sex": 1}], [{"sex": 0}]))

    race = result["attributes"]["race"]
    assert [c["unprivileged"] for c in race["comparisons"]] == [[1, 2, 3], [1], [2], [3]]
    aggregate = aif_metric(df, ["race"], [{"race": 0}], [{"race": v} for v in (1, 2, 3)])
    assert_comparison(race["comparisons"][0], aggregate)
    for comparison in race["comparisons"][1:]:
        (g,) = comparison["unprivileged"]
        assert_comparison(comparison, aif_metric(df, ["race"], [{"race": 0}], [{"race": g}]))
    for group in race["groups"]:
        g = group["value"]
        others = [{"race": v} for v in range(4) if v != g]
        assert_group_rates(group, aif_metric(df, ["race"], [{"race": g}], others))

    assert_same(result["theil_index"], aggregate.theil_index())


@pytest.mark.parametrize("seed", [3, 4])
def test_intersection_matches_aif360(seed: int) -> None:
    df = make_data(seed)
    result = report(df, {**SEX, **RACE}, bootstrap_samples=0)
    section = result["intersections"]["sex&race"]
    assert section["privileged"] == [[1, 0]]
    assert len(section["groups"]) == 8
    assert len(section["comparisons"]) == 1 + 7
    combos = [(s, r) for s in (0, 1) for r in range(4)]
    unpriv = [{"sex": s, "race": r} for s, r in combos if (s, r) != (1, 0)]
    aggregate = aif_metric(df, ["sex", "race"], [{"sex": 1, "race": 0}], unpriv)
    assert_comparison(section["comparisons"][0], aggregate)
    for comparison in section["comparisons"][1:]:
        ((s, r),) = comparison["unprivileged"]
        one = aif_metric(df, ["sex", "race"], [{"sex": 1, "race": 0}], [{"sex": s, "race": r}])
        assert_comparison(comparison, one)


def test_string_attributes_and_labels_match_aif360() -> None:
    df = make_data(5)
    names = np.array(["white", "black", "asian", "other"])
    text = pd.DataFrame(
        {
            "gender": np.where(df["sex"] == 1, "m", "f"),
            "ethnicity": names[df["race"]],
            "outcome": np.where(df["y"] == 1, "approved", "denied"),
            "decision": np.where(df["p"] == 1, "approved", "denied"),
        }
    )
    protected = {
        "gender": {"privileged": ["m"]},
        "ethnicity": {"privileged": ["white", "asian"]},
    }
    result = fairness_report(
        text,
        label="outcome",
        prediction="decision",
        favorable_label="approved",
        protected=protected,
        bootstrap_samples=0,
    )
    strict_json(result)
    ethnicity = result["attributes"]["ethnicity"]
    assert sorted(ethnicity["privileged"]) == ["asian", "white"]
    # Encode for AIF360 ourselves: race codes 0=white, 2=asian are privileged.
    expected = aif_metric(df, ["race"], [{"race": 0}, {"race": 2}], [{"race": 1}, {"race": 3}])
    assert_comparison(ethnicity["comparisons"][0], expected)
    pair = result["intersections"]["gender&ethnicity"]
    privileged = [{"sex": 1, "race": 0}, {"sex": 1, "race": 2}]
    unpriv = [
        {"sex": s, "race": r} for s in (0, 1) for r in range(4) if not (s == 1 and r in (0, 2))
    ]
    assert_comparison(pair["comparisons"][0], aif_metric(df, ["sex", "race"], privileged, unpriv))


def tiny_data() -> pd.DataFrame:
    rows = [
        ("A", 1, 1), ("A", 1, 0), ("A", 0, 1), ("A", 0, 0),
        ("B", 1, 1), ("B", 1, 1), ("B", 0, 0), ("B", 0, 0),
        ("C", 1, 0), ("C", 0, 0),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["g", "y", "p"])


def test_hand_computed_values() -> None:
    result = report(tiny_data(), {"g": {"privileged": ["A"]}}, bootstrap_samples=50)
    strict_json(result)
    section = result["attributes"]["g"]
    groups = {g["value"]: g for g in section["groups"]}
    assert groups["A"] == {
        "value": "A",
        "privileged": True,
        "count": 4,
        "base_rate": 0.5,
        "selection_rate": 0.5,
        "tpr": 0.5,
        "fpr": 0.5,
        "precision": 0.5,
        "accuracy": 0.5,
    }
    assert groups["B"]["tpr"] == 1.0 and groups["B"]["fpr"] == 0.0
    assert groups["C"]["selection_rate"] == 0.0
    assert groups["C"]["precision"] is None  # 0/0; AIF360 would report 0.0

    def values(comparison: dict[str, Any]) -> list[float | None]:
        return [comparison["metrics"][m]["value"] for m in METRICS]

    aggregate, b, c = section["comparisons"]
    assert values(aggregate) == pytest.approx([-1 / 6, 2 / 3, 1 / 6, -1 / 6], abs=TOL)
    assert values(b) == pytest.approx([0.0, 1.0, 0.5, 0.0], abs=TOL)
    assert values(c) == pytest.approx([-0.5, 0.0, -0.5, -0.5], abs=TOL)
    assert aggregate["data_bias"] == {"statistical_parity_difference": 0.0, "disparate_impact": 1.0}
    mu = 0.9
    theil = (7 * (1 / mu) * math.log(1 / mu) + (2 / mu) * math.log(2 / mu)) / 10
    assert result["theil_index"] == pytest.approx(theil, abs=TOL)
    # Every group is under the minimum size of 30.
    assert section["verdict"] == INCONCLUSIVE
    assert result["verdict"] == INCONCLUSIVE


def test_empty_and_tiny_groups_are_inconclusive() -> None:
    df = make_data(6, n=2000)
    df.loc[df.index[:5], "race"] = 9  # a five-row group
    df.loc[df.index[:5], "p"] = 0
    protected = {"sex": {"privileged": [1]}, "race": {"privileged": [0, 7]}}  # 7 never occurs
    result = report(df, protected)
    strict_json(result)
    race = result["attributes"]["race"]
    assert any("7" in w for w in result["warnings"])
    groups = {g["value"]: g for g in race["groups"]}
    assert groups[7]["count"] == 0 and groups[7]["selection_rate"] is None
    tiny = next(c for c in race["comparisons"] if c["unprivileged"] == [9])
    assert tiny["unprivileged_count"] == 5
    assert tiny["metrics"]["disparate_impact"]["value"] == 0.0  # far outside the band ...
    assert tiny["verdict"] == INCONCLUSIVE  # ... but the group is too small to judge
    assert race["verdict"] in (INCONCLUSIVE, FAIL)

    absent = report(df, {"sex": {"privileged": [5]}})
    strict_json(absent)
    sex = absent["attributes"]["sex"]
    assert sex["comparisons"][0]["metrics"]["disparate_impact"]["value"] is None
    assert sex["verdict"] == INCONCLUSIVE
    assert absent["verdict"] == INCONCLUSIVE


def test_single_class_label() -> None:
    df = make_data(7, n=1000)
    df["y"] = 1
    result = report(df, {**SEX, **RACE})
    strict_json(result)
    aggregate = result["attributes"]["sex"]["comparisons"][0]
    assert aggregate["metrics"]["average_odds_difference"]["value"] is None  # FPR is 0/0
    assert aggregate["metrics"]["average_odds_difference"]["verdict"] == INCONCLUSIVE
    assert aggregate["metrics"]["disparate_impact"]["value"] is not None
    assert aggregate["data_bias"] == {"statistical_parity_difference": 0.0, "disparate_impact": 1.0}
    weights = aggregate["mitigation"]["reweighing"]
    assert weights["privileged"]["unfavorable"] is None
    assert result["verdict"] in (INCONCLUSIVE, FAIL)


def test_scores_absent_give_no_threshold_hints() -> None:
    df = make_data(8)
    result = report(df, {**SEX, **RACE})
    assert result["scores_supplied"] is False
    hints = [
        c["mitigation"]
        for s in [*result["attributes"].values(), *result["intersections"].values()]
        for c in s["comparisons"]
        if c["mitigation"]
    ]
    assert hints
    assert all("thresholds" not in h and "reweighing" in h for h in hints)


def test_threshold_preview_matches_direct_computation() -> None:
    df = make_data(9, n=4000)
    result = report(df, SEX, score="s")
    preview = result["attributes"]["sex"]["comparisons"][0]["mitigation"]["thresholds"]
    assert preview["available"] and preview["privileged_threshold"] == 0.5
    priv, unpriv = df[df.sex == 1], df[df.sex == 0]
    sel_p = (priv.s >= 0.5).mean()
    tpr_p = (priv.s[priv.y == 1] >= 0.5).mean()
    for key in ("closest_to_parity", "smallest_change_into_band"):
        t = preview[key]["threshold"]
        sel_u = (unpriv.s >= t).mean()
        assert preview[key]["disparate_impact"] == pytest.approx(sel_u / sel_p, abs=TOL)
        eod = (unpriv.s[unpriv.y == 1] >= t).mean() - tpr_p
        assert preview[key]["equal_opportunity_difference"] == pytest.approx(eod, abs=TOL)
    assert abs(preview["closest_to_parity"]["disparate_impact"] - 1) < 0.02
    low, high = result["policy"]["disparate_impact_min"], result["policy"]["disparate_impact_max"]
    assert low <= preview["smallest_change_into_band"]["disparate_impact"] <= high
    baseline = preview["baseline"]["disparate_impact"]
    assert baseline == pytest.approx((unpriv.s >= 0.5).mean() / sel_p, abs=TOL)


def test_bootstrap_is_deterministic_and_covers_point_estimate() -> None:
    df = make_data(10, n=5000)
    first = report(df, {**SEX, **RACE}, seed=42)
    again = report(df, {**SEX, **RACE}, seed=42)
    other = report(df, {**SEX, **RACE}, seed=43)
    assert first == again
    assert first != other
    assert first["bootstrap"] == {
        "method": "percentile",
        "resampling": first["bootstrap"]["resampling"],
        "samples": 200,
        "seed": 42,
        "confidence_level": 0.95,
    }
    for section in [*first["attributes"].values(), *first["intersections"].values()]:
        for comparison in section["comparisons"]:
            for entry in comparison["metrics"].values():
                low, high = entry["ci"]
                assert low <= entry["value"] <= high


def test_multinomial_bootstrap_matches_row_resampling() -> None:
    df = make_data(11, n=3000)
    samples = 2000
    result = report(df, SEX, bootstrap_samples=samples)
    metrics = result["attributes"]["sex"]["comparisons"][0]["metrics"]

    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(df), size=(samples, len(df)))
    sex, y, p = (df[c].to_numpy()[idx] for c in ("sex", "y", "p"))
    priv, unpriv = sex == 1, sex == 0
    spd = (p * unpriv).sum(1) / unpriv.sum(1) - (p * priv).sum(1) / priv.sum(1)
    tpr_u = (p * y * unpriv).sum(1) / (y * unpriv).sum(1)
    tpr_p = (p * y * priv).sum(1) / (y * priv).sum(1)
    for name, reps in (
        ("statistical_parity_difference", spd),
        ("equal_opportunity_difference", tpr_u - tpr_p),
    ):
        expected = np.percentile(reps, [2.5, 97.5])
        assert metrics[name]["ci"] == pytest.approx(expected, abs=0.006)


def balanced(n: int, sel_priv: float, sel_unpriv: float) -> pd.DataFrame:
    """Two groups of n rows with exact selection rates and perfect predictions."""
    rows = []
    for group, rate in ((1, sel_priv), (0, sel_unpriv)):
        k = round(n * rate)
        p = np.r_[np.ones(k, int), np.zeros(n - k, int)]
        rows.append(pd.DataFrame({"sex": group, "y": p, "p": p}))
    return pd.concat(rows, ignore_index=True)


def test_verdict_pass_fail_inconclusive() -> None:
    passing = report(balanced(5000, 0.5, 0.5), SEX)
    assert passing["attributes"]["sex"]["verdict"] == PASS
    assert passing["verdict"] == PASS
    assert passing["attributes"]["sex"]["comparisons"][0]["mitigation"] is None

    failing = report(balanced(5000, 0.5, 0.2), SEX)
    spd = failing["attributes"]["sex"]["comparisons"][0]["metrics"]["statistical_parity_difference"]
    assert spd["verdict"] == FAIL
    assert failing["verdict"] == FAIL

    unsure = report(balanced(200, 0.5, 0.42), SEX)
    spd = unsure["attributes"]["sex"]["comparisons"][0]["metrics"]["statistical_parity_difference"]
    assert spd["value"] == pytest.approx(-0.08)
    assert spd["ci"][0] < -0.1 < spd["ci"][1]
    assert spd["verdict"] == INCONCLUSIVE
    assert unsure["verdict"] == INCONCLUSIVE


def test_metric_verdict_rules() -> None:
    policy = FairnessPolicy()

    def verdict(value: float | None, ci: list[float] | None, large: bool = True) -> str:
        return metric_verdict(
            "disparate_impact", value, ci, groups_large_enough=large, policy=policy
        )[0]

    assert verdict(1.0, [0.9, 1.1]) == PASS
    assert verdict(0.7, [0.6, 0.85]) == FAIL
    assert verdict(0.85, [0.75, 0.95]) == INCONCLUSIVE
    assert verdict(0.7, [0.6, 0.8], large=False) == INCONCLUSIVE
    assert verdict(None, None) == INCONCLUSIVE
    assert verdict(1.0, None) == INCONCLUSIVE
    assert worst([PASS, INCONCLUSIVE, PASS]) == INCONCLUSIVE
    assert worst([INCONCLUSIVE, FAIL, PASS]) == FAIL
    assert worst([PASS, PASS]) == PASS


def test_overall_verdict_includes_intersections() -> None:
    # Each attribute alone is balanced, but the (sex, race) cells are not.
    n = 2000
    df = pd.DataFrame({"sex": np.repeat([0, 1, 0, 1], n), "race": np.repeat([0, 0, 1, 1], n)})
    favorable = np.r_[np.ones(n, int), np.zeros(n, int), np.zeros(n, int), np.ones(n, int)]
    df["y"] = df["p"] = favorable
    result = report(df, {"sex": {"privileged": [1]}, "race": {"privileged": [1]}})
    assert result["attributes"]["sex"]["verdict"] == PASS
    assert result["attributes"]["race"]["verdict"] == PASS
    assert result["intersections"]["sex&race"]["verdict"] == FAIL
    assert result["verdict"] == FAIL


def test_policy_from_dict_and_echo() -> None:
    stored = {"disparate_impact_min": 0.9, "min_group_size": 50}
    policy = FairnessPolicy.from_dict(stored)
    assert policy.band("disparate_impact") == (0.9, 1.25)
    assert policy.band("average_odds_difference") == (-0.1, 0.1)
    assert FairnessPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(ValueError, match="unknown"):
        FairnessPolicy.from_dict({"di_min": 0.9})
    with pytest.raises(ValueError):
        FairnessPolicy.from_dict({"disparate_impact_min": 1.5})
    result = report(make_data(12, n=500), SEX, policy=stored)
    assert result["policy"] == policy.to_dict()
    assert result["policy"]["min_group_size"] == 50


@pytest.mark.parametrize("seed", [13, 14])
def test_reweighing_weights_match_aif360(seed: int) -> None:
    df = make_data(seed)
    result = report(df, {**SEX, **RACE}, bootstrap_samples=0)
    truth = BinaryLabelDataset(
        df=df[["sex", "race", "y"]].astype(float),
        label_names=["y"],
        protected_attribute_names=["sex", "race"],
    )
    race = result["attributes"]["race"]
    cases = [(race["comparisons"][0], [{"race": v} for v in (1, 2, 3)])]
    cases += [(c, [{"race": c["unprivileged"][0]}]) for c in race["comparisons"][1:]]
    pair = result["intersections"]["sex&race"]["comparisons"][0]
    pair_unpriv = [{"sex": s, "race": r} for s in (0, 1) for r in range(4) if (s, r) != (1, 0)]
    cases.append((pair, pair_unpriv))
    privileged = {id(pair): [{"sex": 1, "race": 0}]}
    for comparison, unpriv in cases:
        rw = Reweighing(
            unprivileged_groups=unpriv,
            privileged_groups=privileged.get(id(comparison), [{"race": 0}]),
        ).fit(truth)
        weights = comparison["mitigation"]["reweighing"]
        assert_same(weights["privileged"]["favorable"], rw.w_p_fav)
        assert_same(weights["privileged"]["unfavorable"], rw.w_p_unfav)
        assert_same(weights["unprivileged"]["favorable"], rw.w_up_fav)
        assert_same(weights["unprivileged"]["unfavorable"], rw.w_up_unfav)


def test_kpi_values_and_progress() -> None:
    df = make_data(15, n=2000)
    calls: list[tuple[int, str]] = []
    result = report(df, {**SEX, **RACE}, progress=lambda p, m: calls.append((p, m)))
    percents = [p for p, _ in calls]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    kpis = kpi_values(result)
    aggregate = result["attributes"]["sex"]["comparisons"][0]["metrics"]
    assert kpis["fairness.sex.disparate_impact"] == aggregate["disparate_impact"]["value"]
    assert "fairness.race[2].statistical_parity_difference" in kpis
    assert "fairness.sex&race.average_odds_difference" in kpis
    assert "fairness.sex.data_bias.disparate_impact" in kpis
    assert kpis["fairness.theil_index"] == result["theil_index"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in kpis.values())


def test_accepts_mapping_of_arrays() -> None:
    df = make_data(16, n=500)
    arrays = {c: df[c].to_numpy() for c in df.columns}
    assert report(arrays, SEX, bootstrap_samples=20) == report(df, SEX, bootstrap_samples=20)


def test_input_validation() -> None:
    df = make_data(17, n=200)
    with pytest.raises(ValueError, match="binary"):
        report(df.assign(y=df["race"]), SEX)
    with pytest.raises(ValueError, match="favorable_label"):
        report(df, SEX, favorable_label="yes")
    with pytest.raises(ValueError, match="probabilities"):
        report(df.assign(s=df["s"] * 2), SEX, score="s")
    with pytest.raises(ValueError, match="missing"):
        report(df.assign(y=df["y"].where(df.index > 0)), SEX)
    with pytest.raises(ValueError, match="not found"):
        report(df, {"age": {"privileged": [1]}})
    with pytest.raises(ValueError, match="privileged"):
        report(df, {"sex": [1]})


def test_missing_attribute_values_form_their_own_group() -> None:
    df = make_data(18, n=1000)
    df["race"] = df["race"].astype(float)
    df.loc[df.index[:100], "race"] = np.nan
    result = report(df, RACE, bootstrap_samples=20)
    strict_json(result)
    groups = {g["value"]: g["count"] for g in result["attributes"]["race"]["groups"]}
    assert groups[None] == 100
    assert [None] in [c["unprivileged"] for c in result["attributes"]["race"]["comparisons"]]


def test_integer_column_names() -> None:
    df = make_data(19, n=500).rename(columns={"sex": 0, "race": 1})
    result = report(df, {0: {"privileged": [1]}, 1: {"privileged": [0]}}, bootstrap_samples=20)
    assert set(result["attributes"]) == {"0", "1"}
    assert set(result["intersections"]) == {"0&1"}
