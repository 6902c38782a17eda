"""Shape report results for pages: fairness rows with interval whiskers, LIME weight bars."""

from __future__ import annotations

from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

METRIC_LABELS = {
    "statistical_parity_difference": "Statistical parity difference",
    "disparate_impact": "Disparate impact",
    "equal_opportunity_difference": "Equal opportunity difference",
    "average_odds_difference": "Average odds difference",
}
# The axis each metric is drawn on: ratios around 1, differences around 0.
AXES = {"disparate_impact": (0.0, 2.0)}
DEFAULT_AXIS = (-0.5, 0.5)


def _band(policy: dict[str, Any], metric: str) -> tuple[float, float]:
    if metric == "disparate_impact":
        return policy["disparate_impact_min"], policy["disparate_impact_max"]
    limit = policy[f"{metric}_max"]
    return -limit, limit


def whisker(
    metric: str,
    value: float | None,
    ci: list[float] | None,
    band: tuple[float, float],
    verdict: str,
) -> SafeString:
    """A small inline SVG: the policy band shaded, the interval as a line, the estimate as a dot."""
    lo, hi = AXES.get(metric, DEFAULT_AXIS)
    css = verdict if verdict in ("pass", "fail", "inconclusive") else "inconclusive"
    width, height, pad = 160, 18, 4

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return round(pad + (v - lo) / (hi - lo) * (width - 2 * pad), 1)

    parts = [
        f'<rect x="{x(band[0])}" y="3" width="{max(x(band[1]) - x(band[0]), 1)}" height="12" class="wb-band"/>',
        f'<line x1="{pad}" y1="9" x2="{width - pad}" y2="9" class="wb-axis"/>',
    ]
    if ci:
        parts.append(
            f'<line x1="{x(ci[0])}" y1="9" x2="{x(ci[1])}" y2="9" class="wb-ci wb-{css}"/>'
        )
        parts += [
            f'<line x1="{x(c)}" y1="5" x2="{x(c)}" y2="13" class="wb-ci wb-{css}"/>' for c in ci
        ]
    if value is not None:
        parts.append(f'<circle cx="{x(value)}" cy="9" r="3.5" class="wb-dot wb-{css}"/>')
    label = (
        (f"{METRIC_LABELS.get(metric, metric)} {value:.3f}" if value is not None else "undefined")
        + (f", 95% interval {ci[0]:.3f} to {ci[1]:.3f}" if ci else "")
        + f", band {band[0]:g} to {band[1]:g}"
    )
    # Every interpolated value is a number except the label, which is escaped.
    return mark_safe(  # noqa: S308
        f'<svg class="whisker" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _comparison_rows(comparison: dict[str, Any], policy: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for metric, data in comparison["metrics"].items():
        rows.append(
            {
                "metric": metric,
                "label": METRIC_LABELS.get(metric, metric),
                "value": data["value"],
                "ci": data.get("ci"),
                "verdict": data["verdict"],
                "reason": data.get("reason", ""),
                "whisker": whisker(
                    metric, data["value"], data.get("ci"), _band(policy, metric), data["verdict"]
                ),
            }
        )
    return rows


def _label(group: Any) -> str:
    return " & ".join(map(str, group)) if isinstance(group, list | tuple) else str(group)


def fairness_sections(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One section per protected attribute and per intersection, ready for the template."""
    policy = result["policy"]
    sections = []
    units = [(name, unit, False) for name, unit in result.get("attributes", {}).items()]
    units += [(name, unit, True) for name, unit in result.get("intersections", {}).items()]
    for name, unit, intersection in units:
        comparisons = [
            {
                "title": "all unprivileged vs privileged"
                if c["kind"] == "aggregate"
                else f"{', '.join(_label(u) for u in c['unprivileged'])} vs privileged",
                "counts": (c.get("unprivileged_count"), c.get("privileged_count")),
                "verdict": c["verdict"],
                "rows": _comparison_rows(c, policy),
                "data_bias": c.get("data_bias"),
                "mitigation": c.get("mitigation"),
            }
            for c in unit.get("comparisons", [])
        ]
        sections.append(
            {
                "name": name.replace("&", " & "),
                "intersection": intersection,
                "privileged": unit.get("privileged"),
                "verdict": unit.get("verdict"),
                "groups": unit.get("groups", []),
                "comparisons": comparisons,
            }
        )
    return sections


def lime_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """LIME explanations with bar widths (percent of the largest |weight| in the row)."""
    rows = []
    for row in result.get("rows", []):
        largest = max((abs(f["weight"]) for f in row["features"]), default=0) or 1
        features = [
            {**f, "width": round(abs(f["weight"]) / largest * 100, 1), "positive": f["weight"] >= 0}
            for f in row["features"]
        ]
        rows.append({**row, "features": features})
    return rows
