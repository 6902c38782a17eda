"""Charts that read without colour: LIME bars diverge from a middle line with a sign and a
word; a KPI's bar stands against its target's tick, with a label saying both numbers."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

from explain.presenters import kpi_bar, lime_rows
from web.decision import decision


def test_lime_bars_diverge_from_zero_in_proportion():
    (row,) = lime_rows(
        {
            "rows": [
                {
                    "row": 7,
                    "features": [
                        {"condition": "income <= 40", "weight": -0.2},
                        {"condition": "debt > 0.5", "weight": 0.1},
                        {"condition": "age = 30", "weight": 0.0},
                    ],
                }
            ]
        }
    )
    lowers, raises, nothing = row["features"]

    assert (lowers["positive"], lowers["x"], lowers["width"]) == (False, 0.0, 50.0)
    assert (raises["positive"], raises["x"], raises["width"]) == (True, 50, 25.0)
    assert (nothing["x"], nothing["width"]) == (50, 0.0)
    # A report made before rows carried their values shows none (and never a dict method).
    assert [f["value"] for f in row["features"]] == [None, None, None]


def test_lime_bars_carry_the_rows_own_values():
    (row,) = lime_rows(
        {
            "rows": [
                {
                    "row": 1,
                    "feature_values": {"income": 38.5},
                    "features": [
                        {"condition": "income <= 40", "feature": "income", "weight": -0.2}
                    ],
                }
            ]
        }
    )
    assert row["features"][0]["value"] == 38.5


def test_the_kpi_bar_draws_value_and_target_on_one_scale_and_says_both():
    svg = str(kpi_bar(0.5, 0.8, ">="))

    value = float(re.search(r'class="kb-value" y="3" width="([\d.]+)"', svg).group(1))
    target = float(re.search(r'class="kb-target" x1="([\d.]+)"', svg).group(1))
    assert value / target == 0.5 / 0.8
    assert 'aria-label="value 0.5 against target &gt;= 0.8"' in svg
    assert str(kpi_bar(None, 0.8, ">=")) == ""


def test_an_archived_version_says_so_and_offers_the_rollback_only_to_who_may():
    version = SimpleNamespace(status="archived", status_changed_at=date(2026, 11, 2))
    gates = SimpleNamespace(passed=True, failing=[])
    officer = decision(version, gates, {"rollback": True}, findings=[], proxies=[], fixed_in={})
    reviewer = decision(version, gates, {}, findings=[], proxies=[], fixed_in={})

    assert (officer.state, officer.title) == (
        "archived",
        "Archived: replaced in production on 2026-11-02",
    )
    assert officer.next_step.href == "#rollback"
    assert reviewer.next_step.text == "Nothing for you to do: it no longer serves."
