"""Charts that read without colour: LIME bars diverge from a middle line with a sign and a
word; a KPI's bar stands against its target's tick, with a label saying both numbers."""

from __future__ import annotations

import re

from explain.presenters import kpi_bar, lime_rows


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


def test_the_kpi_bar_draws_value_and_target_on_one_scale_and_says_both():
    svg = str(kpi_bar(0.5, 0.8, ">="))

    value = float(re.search(r'class="kb-value" y="3" width="([\d.]+)"', svg).group(1))
    target = float(re.search(r'class="kb-target" x1="([\d.]+)"', svg).group(1))
    assert value / target == 0.5 / 0.8
    assert 'aria-label="value 0.5 against target &gt;= 0.8"' in svg
    assert str(kpi_bar(None, 0.8, ">=")) == ""
