"""Comparing two versions on the model page: each number's change judged better, worse or the
same against the model's KPI targets in words and marks, the features added and dropped,
fairness per group with both versions' intervals side by side, and SHAP rank changes."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from explain.models import Report, ReportStatus
from registry.models import KPI, Objective
from tests.builders import Candidate, evaluation_frame, web
from web.pages.comparison import change

POLICY = {
    "disparate_impact_min": 0.8,
    "disparate_impact_max": 1.25,
    "statistical_parity_difference_max": 0.1,
    "equal_opportunity_difference_max": 0.1,
    "average_odds_difference_max": 0.1,
    "confidence_level": 0.95,
    "min_group_size": 30,
}


def fairness(value: float, ci: list[float], verdict: str) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "policy": POLICY,
        "attributes": {
            "sex": {
                "privileged": ["male"],
                "verdict": verdict,
                "groups": [],
                "comparisons": [
                    {
                        "kind": "group",
                        "unprivileged": ["female"],
                        "verdict": verdict,
                        "metrics": {
                            "disparate_impact": {"value": value, "ci": ci, "verdict": verdict},
                            "average_odds_difference": {
                                "value": 0.01,
                                "ci": [-0.02, 0.04],
                                "verdict": "pass",
                            },
                        },
                    }
                ],
            }
        },
        "intersections": {},
    }


def ranking(*features: str) -> dict[str, Any]:
    return {
        "global_importance": [
            {"rank": n, "feature": f, "mean_abs_shap": 1 / n, "share": 0.1}
            for n, f in enumerate(features, start=1)
        ]
    }


def settle(version, kind: str, result: dict[str, Any]) -> None:
    """The version's latest ``kind`` report, succeeded with ``result``."""
    updated = Report.objects.filter(version=version, kind=kind).update(
        status=ReportStatus.SUCCEEDED, result=result
    )
    if not updated:
        Report.objects.create(
            version=version,
            kind=kind,
            params={},
            params_sha256=f"{kind}-{version.pk}",
            status=ReportStatus.SUCCEEDED,
            result=result,
        )


def kpi_result(value: float) -> dict[str, Any]:
    row = {"metric_key": "accuracy", "comparator": ">=", "target": 0.8, "blocking": True}
    status = "met" if value >= 0.8 else "not_met"
    met = status == "met"
    summary = {
        "total": 1,
        "met": int(met),
        "not_met": int(not met),
        "missing": 0,
        "blocking_all_met": met,
        "blocking_failing": [] if met else ["accuracy"],
    }
    return {"kpis": [{**row, "value": value, "status": status}], "summary": summary}


@pytest.fixture
def versions(model, ci):
    objective = Objective.objects.create(model=model, title="Predict repayment")
    KPI.objects.create(
        objective=objective, name="Accuracy", metric_key="accuracy", comparator=">=", target=0.8
    )
    frame = evaluation_frame()
    frame["occupation_score"] = frame["income"] / 10
    old = Candidate(
        version="1.0.0",
        frame=frame,
        column_overrides={"features": ["income", "debt_ratio", "occupation_score"]},
    ).register(actor=ci[0], token=ci[1], model=model)
    new = Candidate(
        version="1.1.0", column_overrides={"features": ["income", "debt_ratio"]}
    ).register(actor=ci[0], token=ci[1], model=model)
    old, new = old.version, new.version
    settle(old, "performance", {"overall": {"accuracy": 0.78, "recall": 0.70}})
    settle(new, "performance", {"overall": {"accuracy": 0.82, "recall": 0.65}})
    settle(old, "kpi", kpi_result(0.78))
    settle(new, "kpi", kpi_result(0.82))
    settle(old, "fairness", fairness(0.58, [0.56, 0.61], "fail"))
    settle(new, "fairness", fairness(0.93, [0.86, 1.01], "pass"))
    settle(old, "shap", ranking("occupation_score", "income", "debt_ratio"))
    settle(new, "shap", ranking("income", "debt_ratio"))
    return old, new


def rows_of(html: str, heading_id: str) -> list[list[str]]:
    """The body rows of the table after ``heading_id``, as cell texts."""
    start = html.index(f'id="{heading_id}"')
    table = html[start : html.index("</table>", start)]
    body = table[table.index("<tbody>") :]
    return [
        [" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        for cells in (
            re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
        )
    ]


def test_the_comparison_judges_changes_shows_features_fairness_and_ranks(versions, reviewer):
    # Asked newer first, the older version still comes first and the change runs forward.
    html = web(reviewer).get("/models/credit-default/?compare=1.1.0&with=1.0.0").content.decode()

    table = {row[0]: row[1:] for row in rows_of(html, "compare-h")}
    assert table["accuracy"] == ["0.780", "0.820", "+0.040 ✓ better now meets target at least 0.8"]
    assert table["recall"] == ["0.700", "0.650", "-0.050 ✗ worse"]
    assert table["KPI accuracy"] == [
        "0.780 ✗ not met",
        "0.820 ✓ met",
        "+0.040 ✓ better now meets target at least 0.8",
    ]
    assert table["Features"] == ["3", "2", "\N{MINUS SIGN} occupation_score"]

    (fair,) = rows_of(html, "compare-fairness-h")
    assert fair[:2] == ["sex: female vs privileged", "Disparate impact"]
    assert fair[2].startswith("0.580 [0.560 … 0.610] fail")
    assert fair[3].startswith("0.930 [0.860 … 1.010] pass")
    assert fair[4] == "+0.350 ✓ better"
    fairness_table = html[html.index('id="compare-fairness-h"') : html.index('id="compare-shap-h"')]
    assert fairness_table.count('<svg class="whisker"') == 4
    # What passed in both versions folds below what did not.
    assert "1 more pass in both versions</summary>" in fairness_table
    (passing,) = rows_of(html, "compare-passing-h")
    assert passing[1] == "Average odds difference" and passing[4] == "+0.000 = same"

    assert rows_of(html, "compare-shap-h") == [
        ["income", "2", "1", "↑ up 1"],
        ["debt_ratio", "3", "2", "↑ up 1"],
        ["occupation_score", "1", "—", "dropped"],
    ]


def test_a_change_is_judged_by_the_target_direction_and_says_when_it_crosses_it():
    at_most = ("<=", 0.2)
    assert change(0.25, 0.15, target=at_most) == {
        "delta": "-0.100",
        "word": "better",
        "mark": "✓",
        "target": "now meets target at most 0.2",
    }
    assert change(0.15, 0.25, target=at_most)["target"] == "no longer meets target at most 0.2"
    assert change(0.5, 0.5002, higher_is_better=True)["word"] == "same"
    assert change(0.5, 0.6)["word"] == "higher"  # no target, no direction: no judgement
    assert change("n/a", 0.6) is None
