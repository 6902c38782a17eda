"""Shape report results for pages: fairness rows with interval whiskers, mitigation hints
that are safe to follow, LIME weight bars, the drift reference's columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import GroupThresholds

METRIC_LABELS = {
    "statistical_parity_difference": "Statistical parity difference",
    "disparate_impact": "Disparate impact",
    "equal_opportunity_difference": "Equal opportunity difference",
    "average_odds_difference": "Average odds difference",
}
# The axis each metric is drawn on at least: ratios around 1, differences around 0. It widens
# (in ``AXIS_STEP`` steps, up to ``AXIS_LIMITS``) to take in a band or interval outside it.
AXES = {"disparate_impact": (0.0, 2.0)}
DEFAULT_AXIS = (-0.5, 0.5)
AXIS_LIMITS = {"disparate_impact": (0.0, 5.0)}
DEFAULT_AXIS_LIMITS = (-1.0, 1.0)
AXIS_STEP = {"disparate_impact": 0.5}
DEFAULT_AXIS_STEP = 0.25
# Where a metric shows no difference between the groups: parity.
IDEAL = {"disparate_impact": 1.0}
# An interval narrower than this (in SVG units, of ``WHISKER_WIDTH``) is drawn this wide,
# so it stays visible however the chart is scaled.
MIN_INTERVAL = 3.0
WHISKER_WIDTH, WHISKER_HEIGHT, WHISKER_PAD = 240, 36, 12
# Presentation attributes (the CSP allows no inline style): the chart reads the same where
# gatehouse.css is absent, as in the bundle's PDF; the stylesheet may override them.
VERDICT_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700"}


def _band(policy: dict[str, Any], metric: str) -> tuple[float, float]:
    if metric == "disparate_impact":
        return policy["disparate_impact_min"], policy["disparate_impact_max"]
    limit = policy[f"{metric}_max"]
    return -limit, limit


def ideal_of(metric: str) -> float:
    """The value at parity: 1 for a ratio, 0 for a difference."""
    return IDEAL.get(metric, 0.0)


def _axis(metric: str, points: Sequence[float]) -> tuple[float, float]:
    lo, hi = AXES.get(metric, DEFAULT_AXIS)
    floor, ceiling = AXIS_LIMITS.get(metric, DEFAULT_AXIS_LIMITS)
    step = AXIS_STEP.get(metric, DEFAULT_AXIS_STEP)
    finite = [p for p in points if math.isfinite(p)]
    if finite:
        lo = max(min(lo, math.floor(min(finite) / step) * step), floor)
        hi = min(max(hi, math.ceil(max(finite) / step) * step), ceiling)
    return lo, hi


def whisker(
    metric: str,
    value: float | None,
    ci: list[float] | None,
    band: tuple[float, float],
    verdict: str,
) -> SafeString:
    """An inline SVG interval chart: the policy band shaded, the ideal (parity) as a dashed
    line, the interval as a capped line never narrower than ``MIN_INTERVAL``, the estimate as
    a dot, on an axis labelled with its ends and the ideal. It scales with its viewBox; its
    aria-label says everything in words."""
    ideal = ideal_of(metric)
    lo, hi = _axis(metric, [*band, *(ci or []), *([value] if value is not None else []), ideal])
    css = verdict if verdict in VERDICT_COLOURS else "inconclusive"
    colour = VERDICT_COLOURS[css]
    width, height, pad = WHISKER_WIDTH, WHISKER_HEIGHT, WHISKER_PAD
    mid, axis_y = 11, 22

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return round(pad + (v - lo) / (hi - lo) * (width - 2 * pad), 1)

    band_lo, band_hi = x(band[0]), x(band[1])
    parts = [
        f'<rect x="{band_lo}" y="2" width="{max(band_hi - band_lo, 1)}" height="18" '
        'class="wb-band" fill="#dafbe1"/>',
        f'<line x1="{pad}" y1="{axis_y}" x2="{width - pad}" y2="{axis_y}" class="wb-axis" '
        'stroke="#57606a"/>',
        f'<line x1="{x(ideal)}" y1="1" x2="{x(ideal)}" y2="{axis_y}" class="wb-ideal" '
        'stroke="#24292f" stroke-dasharray="2 2"/>',
    ]
    for tick, anchor in ((lo, "start"), (ideal, "middle"), (hi, "end")):
        parts.append(
            f'<line x1="{x(tick)}" y1="{axis_y}" x2="{x(tick)}" y2="{axis_y + 3}" '
            'class="wb-tick" stroke="#57606a"/>'
        )
        text = f"ideal {tick:g}" if tick == ideal else f"{tick:g}"
        at = x(tick) - (pad if anchor == "start" else 0) + (pad if anchor == "end" else 0)
        parts.append(
            f'<text x="{at}" y="{height - 2}" text-anchor="{anchor}" class="wb-label" '
            f'font-size="9" fill="#57606a">{text}</text>'
        )
    if ci:
        left, right = x(ci[0]), x(ci[1])
        if right - left < MIN_INTERVAL:
            centre = (left + right) / 2
            left, right = round(centre - MIN_INTERVAL / 2, 1), round(centre + MIN_INTERVAL / 2, 1)
        parts.append(
            f'<line x1="{left}" y1="{mid}" x2="{right}" y2="{mid}" class="wb-ci wb-{css}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts += [
            f'<line x1="{c}" y1="{mid - 6}" x2="{c}" y2="{mid + 6}" class="wb-ci wb-{css}" '
            f'stroke="{colour}" stroke-width="2"/>'
            for c in (left, right)
        ]
    if value is not None:
        parts.append(
            f'<circle cx="{x(value)}" cy="{mid}" r="3" class="wb-dot wb-{css}" '
            f'fill="{colour}" stroke="#ffffff"/>'
        )
    label = (
        (f"{METRIC_LABELS.get(metric, metric)} {value:.3f}" if value is not None else "undefined")
        + (f", 95% interval {ci[0]:.3f} to {ci[1]:.3f}" if ci else "")
        + f", band {band[0]:g} to {band[1]:g}, ideal {ideal:g}, {css}"
    )
    # Every interpolated value is a number or a fixed word except the label, which is escaped.
    return mark_safe(  # noqa: S308
        f'<svg class="whisker" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">{"".join(parts)}</svg>'
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


# Reweighing weights this close to 1 mean the evaluation labels are balanced across groups,
# so reweighing cannot be what closes the gap.
BALANCED_WEIGHT = 0.05
LEGAL_RISK = (
    "A different approval threshold per protected group is disparate treatment in many "
    "jurisdictions (for example ECOA and Regulation B in US consumer credit); ask legal counsel "
    "before relying on it."
)


def mitigation_hints(
    mitigation: dict[str, Any] | None,
    proxies: Sequence[dict[str, Any]],
    group_thresholds: str,
    fixed_in: dict[str, str],
) -> list[dict[str, Any]]:
    """What could close a failing comparison, most useful first: a proxy feature to remove or
    rework (and a later version that did), then reweighing only where it would change
    anything, then a threshold per group only as the fairness policy allows."""
    hints: list[dict[str, Any]] = [
        {"kind": "proxy", "proxy": proxy, "fixed_in": fixed_in.get(proxy["feature"])}
        for proxy in proxies
    ]
    weights = (mitigation or {}).get("reweighing")
    if weights:
        values = [
            value
            for side in ("privileged", "unprivileged")
            for value in weights[side].values()
            if value is not None
        ]
        balanced = bool(values) and all(abs(value - 1) <= BALANCED_WEIGHT for value in values)
        hints.append(
            {
                "kind": "reweighing",
                "weights": weights,
                "balanced": balanced,
                "range": (min(values), max(values)) if values else None,
            }
        )
    thresholds = (mitigation or {}).get("thresholds")
    if thresholds and thresholds.get("available"):
        if group_thresholds == GroupThresholds.WITHHOLD:
            hints.append({"kind": "thresholds-withheld", "legal_risk": LEGAL_RISK})
        else:
            hints.append(
                {
                    "kind": "thresholds",
                    "preview": thresholds,
                    "legal_risk": LEGAL_RISK if group_thresholds == GroupThresholds.CAVEAT else "",
                }
            )
    return hints


def _band_text(metric: str, band: tuple[float, float]) -> str:
    low, high = band
    if metric == "disparate_impact":
        return f"{low:.2f} to {high:.2f}"
    return f"within ±{high:.2f}"


def _outside(value: float | None, band: tuple[float, float]) -> float:
    """How far a value lies outside its band (0 inside; undefined values last)."""
    if value is None:
        return -1.0
    return max(band[0] - value, value - band[1], 0.0)


def fairness_findings(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric that did not pass, as a sentence with its number, interval and band:
    failing before inconclusive, attributes before intersections, then the farthest outside
    its band first."""
    policy = result["policy"]
    level = policy.get("confidence_level", 0.95)
    findings = []
    units = [(name, unit, False) for name, unit in result.get("attributes", {}).items()]
    units += [(name, unit, True) for name, unit in result.get("intersections", {}).items()]
    for name, unit, intersection in units:
        privileged = " or ".join(_label(p) for p in unit.get("privileged") or []) or "privileged"
        comparisons = unit.get("comparisons", [])
        named = [c["unprivileged"] for c in comparisons if c["kind"] != "aggregate"]
        for comparison in comparisons:
            unprivileged = comparison["unprivileged"]
            if comparison["kind"] == "aggregate" and unprivileged in named:
                continue  # the same rows as that group's own comparison
            if comparison["kind"] == "aggregate" and len(unprivileged) > 1:
                group = "(all unprivileged)"
            else:
                group = " or ".join(_label(u) for u in unprivileged)
            for metric, data in comparison["metrics"].items():
                if data["verdict"] == "pass":
                    continue
                band = _band(policy, metric)
                value, ci = data["value"], data.get("ci")
                shown = "undefined" if value is None else f"{value:.2f}"
                if ci:
                    shown += f" [{level:.0%} CI {ci[0]:.2f} to {ci[1]:.2f}]"
                label = METRIC_LABELS.get(metric, metric)
                findings.append(
                    {
                        "attribute": name,
                        "intersection": intersection,
                        "anchor": "fairness-" + name.replace("&", "-"),
                        "metric": metric,
                        "verdict": data["verdict"],
                        "text": f"{label}, {name.replace('&', ' & ')} {group} vs {privileged}: "
                        f"{shown}, policy {_band_text(metric, band)}",
                        "reason": data.get("reason", ""),
                        "outside": _outside(value, band),
                        "whisker": whisker(metric, value, ci, band, data["verdict"]),
                    }
                )
    # Single attributes before their intersections, which refine them.
    findings.sort(key=lambda f: (f["verdict"] != "fail", f["intersection"], -f["outside"]))
    return findings


def _shown(value: float | None) -> str:
    # + 0.0: a value that rounds to zero reads 0.00, never -0.00.
    return "undefined" if value is None else f"{round(value, 2) + 0.0:.2f}"


def proxy_effect_text(effects: Sequence[dict[str, Any]], policy: dict[str, Any] | None) -> str:
    """One sentence saying what neutralising a proxy is estimated to do to the metrics of the
    attribute it carries (``effects`` of one feature and attribute, from the SHAP report), each
    against its policy band when the fairness report gives one; "" when there is none."""
    if not effects:
        return ""
    first = effects[0]
    groups = (
        " or ".join(_label(u) for u in first["unprivileged"])
        + " vs "
        + " or ".join(_label(p) for p in first["privileged"])
    )
    moves: list[str] = []
    for effect in effects:
        metric = effect["metric"]
        move = (
            f"{METRIC_LABELS.get(metric, metric).lower()}"
            + (f" ({groups})" if not moves else "")
            + f" from {_shown(effect['observed'])} to {_shown(effect['estimated'])}"
        )
        if policy:
            move += f" (policy {_band_text(metric, _band(policy, metric))})"
        moves.append(move)
    return (
        f"Estimated, without retraining: neutralising {first['feature']} would move "
        + " and ".join(moves)
        + f", on {first['rows']} rows re-predicted with its values shuffled across them."
    )


def proxy_warnings(
    shap: dict[str, Any] | None, fairness: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The SHAP report's proxy warnings, each with ``effect``: the sentence of
    ``proxy_effect_text`` for its feature and attribute ("" for reports made before the
    estimate, or beyond the features it covers)."""
    proxies = (shap or {}).get("proxies") or {}
    effects = proxies.get("effects") or []
    policy = (fairness or {}).get("policy")
    return [
        {
            **warning,
            "effect": proxy_effect_text(
                [
                    e
                    for e in effects
                    if e["feature"] == warning["feature"] and e["protected"] == warning["attribute"]
                ],
                policy,
            ),
        }
        for warning in proxies.get("warnings") or []
    ]


def _label(group: Any) -> str:
    return " & ".join(map(str, group)) if isinstance(group, list | tuple) else str(group)


def fairness_sections(
    result: dict[str, Any],
    *,
    proxies: Sequence[dict[str, Any]] = (),
    group_thresholds: str = GroupThresholds.WITHHOLD,
    fixed_in: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One section per protected attribute and per intersection, ready for the template;
    ``proxies`` are the SHAP report's proxy warnings, shown with the attribute they carry."""
    policy = result["policy"]
    sections = []
    units = [(name, unit, False) for name, unit in result.get("attributes", {}).items()]
    units += [(name, unit, True) for name, unit in result.get("intersections", {}).items()]
    for name, unit, intersection in units:
        carried = [p for p in proxies if p.get("attribute") in name.split("&")]
        comparisons = [
            {
                "title": "all unprivileged vs privileged"
                if c["kind"] == "aggregate"
                else f"{', '.join(_label(u) for u in c['unprivileged'])} vs privileged",
                "counts": (c.get("unprivileged_count"), c.get("privileged_count")),
                "verdict": c["verdict"],
                "rows": _comparison_rows(c, policy),
                "data_bias": c.get("data_bias"),
                "hints": mitigation_hints(
                    c.get("mitigation"), carried, group_thresholds, fixed_in or {}
                )
                if c["verdict"] != "pass"
                else [],
            }
            for c in unit.get("comparisons", [])
        ]
        sections.append(
            {
                "name": name.replace("&", " & "),
                "anchor": "fairness-" + name.replace("&", "-"),
                "intersection": intersection,
                "privileged": unit.get("privileged"),
                "verdict": unit.get("verdict"),
                "groups": unit.get("groups", []),
                "comparisons": comparisons,
                "proxies": carried,
            }
        )
    return sections


def lime_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """LIME explanations with diverging bars: each weight's bar starts at the middle (zero)
    and runs right when it raises the favourable outcome, left when it lowers it, its length
    in percent of the half-width for the largest |weight| in the row."""
    rows = []
    for row in result.get("rows", []):
        largest = max((abs(f["weight"] or 0) for f in row["features"]), default=0) or 1
        # Reports made before rows carried their values have none to show.
        values = row.get("feature_values") or {}
        features = []
        for f in row["features"]:
            weight = f["weight"] or 0
            half = round(abs(weight) / largest * 50, 1)
            features.append(
                {
                    **f,
                    "value": values.get(f.get("feature")),
                    "positive": weight >= 0,
                    "x": 50 if weight >= 0 else round(50 - half, 1),
                    "width": half,
                }
            )
        rows.append({**row, "features": features})
    return rows


def kpi_bar(value: float | None, target: float | None, comparator: str) -> SafeString:
    """A small inline SVG: the value as a bar against the target as a tick, on an axis from
    zero to a little past the larger; the words beside it carry the meaning, not the colour."""
    if value is None or target is None:
        return mark_safe("")
    top = max(abs(value), abs(target)) * 1.2 or 1.0
    width, height = 120, 14

    def x(v: float) -> float:
        return round(min(abs(v) / top, 1) * width, 1)

    label = f"value {value:g} against target {comparator} {target:g}"
    # Every interpolated value is a number except the label, which is escaped.
    return mark_safe(  # noqa: S308
        f'<svg class="kpi-bar" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}"><rect class="kb-track" width="{width}" height="{height}"/>'
        f'<rect class="kb-value" y="3" width="{x(value)}" height="{height - 6}"/>'
        f'<line class="kb-target" x1="{x(target)}" x2="{x(target)}" y1="0" y2="{height}"/></svg>'
    )


# The drift tests by their names in ``engines.drift``.
DRIFT_TEST_LABELS = {
    "ks": "Kolmogorov-Smirnov",
    "chisquare": "chi-square",
    "z": "z-test",
    "wasserstein": "Wasserstein (normed)",
    "jensenshannon": "Jensen-Shannon",
    "psi": "PSI",
}


def drift_reference_rows(result: dict[str, Any], order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Each column of a drift reference: its kind, the test production windows will get for
    this reference size (``engines.drift.default_test``), its bins or categories (the
    ``other`` bucket counted when it holds rows), and its rows and missing values; in
    ``order`` (the stored JSON keeps no key order on PostgreSQL), other columns after it by
    name."""
    from .engines import drift  # scipy loads on the first page that shows a reference

    columns = result.get("columns", {})
    place = {name: at for at, name in enumerate(order)}
    rows = []
    for name in sorted(columns, key=lambda n: (place.get(n, len(place)), n)):
        column = columns[name]
        numeric = column["kind"] == "numeric"
        test = drift.default_test(column)
        if numeric:
            buckets = f"{len(column['cuts']) + 1} bins"
        else:
            count = len(column["counts"]) + (1 if column["other"] else 0)
            buckets = f"{count} categor{'y' if count == 1 else 'ies'}"
        rows.append(
            {
                "column": name,
                "kind": column["kind"],
                "test": DRIFT_TEST_LABELS.get(test, test),
                "buckets": buckets,
                "n": column["n"],
                "missing": column["missing"],
            }
        )
    return rows
