"""Two versions of a model side by side: the changes against the targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Case, JSONField, When
from django.db.models.fields.json import KeyTransform

from explain import kinds
from explain.models import Report, ReportStatus
from explain.presenters import (
    fairness_sections,
    ideal_of,
)
from registry.models import KPI, Comparator, RegisteredModel, kpi_met

from .common import latest_shown, verdicts_of

# A change smaller than this reads "same" (the pages show three decimals).
SAME = 0.0005
# Performance metrics, all higher-is-better.
PERFORMANCE_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc")
# What the comparison reads of each version's latest fairness and SHAP results, in SQL.
COMPARED_KEYS = {
    "fairness_policy": (kinds.FAIRNESS, "policy"),
    "fairness_attributes": (kinds.FAIRNESS, "attributes"),
    "fairness_intersections": (kinds.FAIRNESS, "intersections"),
    "shap_ranking": (kinds.SHAP, "global_importance"),
}


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def change(
    old: Any,
    new: Any,
    *,
    higher_is_better: bool | None = None,
    target: tuple[str, float] | None = None,
) -> dict[str, Any] | None:
    """From ``old`` to ``new``: the difference, and whether it is better, worse or the same
    in a word and a mark (never colour alone), judged by the KPI ``target`` (comparator,
    value) where there is one, else by ``higher_is_better``; with the target, whether the new
    value meets it and whether that changed."""
    before, after = _number(old), _number(new)
    if before is None or after is None:
        return None
    delta = after - before
    if target is not None:
        higher_is_better = target[0] == Comparator.GTE
    if abs(delta) < SAME:
        word, mark = "same", "="
    elif higher_is_better is None:
        word, mark = ("higher", "↑") if delta > 0 else ("lower", "↓")
    elif (delta > 0) == higher_is_better:
        word, mark = "better", "✓"
    else:
        word, mark = "worse", "✗"
    note = ""
    if target is not None:
        comparator, goal = target
        rule = f"{Comparator(comparator).label} {goal:g}"
        was, now = kpi_met(comparator, goal, before), kpi_met(comparator, goal, after)
        if was == now:
            note = f"{'meets' if now else 'misses'} target {rule}"
        else:
            note = f"{'now meets' if now else 'no longer meets'} target {rule}"
    return {"delta": f"{delta:+.3f}", "word": word, "mark": mark, "target": note}


def _closer(metric: str, old: float | None, new: float | None) -> dict[str, Any] | None:
    """A fairness metric's change judged by its distance from parity (the ideal)."""
    if old is None or new is None:
        return None
    ideal = ideal_of(metric)
    judged = change(abs(old - ideal), abs(new - ideal), higher_is_better=False)
    return judged and {**judged, "delta": f"{new - old:+.3f}"}


def _fairness_side_by_side(
    old: dict[str, Any] | None, new: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Each group comparison's metrics in both versions, with their intervals and whiskers,
    matched by attribute, comparison and metric; a comparison only one version has shows a
    dash on the other side."""
    sides = [fairness_sections(result) if result else [] for result in (old, new)]
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for side, sections in enumerate(sides):
        for section in sections:
            for comparison in section["comparisons"]:
                for row in comparison["rows"]:
                    key = (section["name"], comparison["title"], row["metric"])
                    entry = rows.setdefault(
                        key,
                        {
                            "attribute": section["name"],
                            "comparison": comparison["title"],
                            "label": row["label"],
                            "metric": row["metric"],
                            "sides": [None, None],
                        },
                    )
                    entry["sides"][side] = row
    for entry in rows.values():
        before, after = entry["sides"]
        entry["change"] = _closer(
            entry["metric"], before and before["value"], after and after["value"]
        )
    return list(rows.values())


def _passed_in_both(row: dict[str, Any]) -> bool:
    return all(side is not None and side["verdict"] == "pass" for side in row["sides"])


def _rank_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each feature's SHAP importance rank in both versions, the newer's order first; a
    feature only one version has is marked added or dropped."""
    before = {entry["feature"]: entry["rank"] for entry in old}
    after = {entry["feature"]: entry["rank"] for entry in new}
    rows = []
    for feature in sorted(
        set(before) | set(after),
        key=lambda f: (after.get(f, len(after) + before.get(f, 0)), before.get(f, 0)),
    ):
        was, now = before.get(feature), after.get(feature)
        if was is None:
            words = "added"
        elif now is None:
            words = "dropped"
        elif was == now:
            words = "= same rank"
        elif now < was:
            words = f"↑ up {was - now}"
        else:
            words = f"↓ down {now - was}"
        rows.append({"feature": feature, "before": was, "after": now, "change": words})
    return rows


def compare_versions(
    model: RegisteredModel, first: str, second: str, *, kpis: Sequence[KPI] = ()
) -> dict[str, Any] | None:
    """Side by side, the older version first: reported metrics, performance and KPIs with
    the change judged against the KPI targets (the model's ``kpis``, else the targets each
    report measured against), the feature set's changes, fairness per group with intervals,
    SHAP rank changes, lineage. Reads the two versions with their evaluation data, their
    latest reports' shown parts, and only the shown keys of their latest fairness and SHAP
    results: three queries whatever the history."""
    picked = list(
        model.versions.select_related("submitted_by", "evaluation_data").filter(
            version__in=[first, second]
        )
    )
    latest = latest_shown([v.pk for v in picked])
    rows: dict[str, dict[str, Any]] = {
        v.version: {"version": v, "verdicts": verdicts_of(latest.get(v.pk, {}))} for v in picked
    }
    if first not in rows or second not in rows:
        return None
    a, b = sorted(
        (rows[first], rows[second]), key=lambda r: (r["version"].created_at, r["version"].pk)
    )
    done = ReportStatus.SUCCEEDED
    wanted = [
        report.pk
        for row in (a, b)
        for kind, report in latest.get(row["version"].pk, {}).items()
        if kind in (kinds.FAIRNESS, kinds.SHAP) and report.status == done
    ]
    compared: dict[int, dict[str, Any]] = {}
    shown_parts = Report.objects.filter(pk__in=wanted).annotate(
        **{
            name: Case(
                When(kind=kind, then=KeyTransform(key, "result")),
                output_field=JSONField(),
            )
            for name, (kind, key) in COMPARED_KEYS.items()
        }
    )
    parts: list[dict[str, Any]] = list(shown_parts.values("version_id", "kind", *COMPARED_KEYS))
    for shown in parts:
        compared.setdefault(shown["version_id"], {}).update(
            {
                name: shown[name]
                for name, (kind, _) in COMPARED_KEYS.items()
                if kind == shown["kind"]
            }
        )
    old, new = (compared.get(row["version"].pk, {}) for row in (a, b))

    def fairness(parts: dict[str, Any]) -> dict[str, Any] | None:
        if not parts.get("fairness_policy"):
            return None
        return {
            "policy": parts["fairness_policy"],
            "attributes": parts.get("fairness_attributes") or {},
            "intersections": parts.get("fairness_intersections") or {},
        }

    lineage = [
        (label, getattr(a["version"], field), getattr(b["version"], field))
        for label, field in (
            ("Artifact sha256", "artifact_sha256"),
            ("Code commit", "code_commit"),
            ("Training data sha256", "training_data_sha256"),
            ("Content sha256", "content_sha256"),
        )
    ]
    targets = {kpi.metric_key: (kpi.comparator, kpi.target) for kpi in kpis}

    def target_of(key: str, *stored: dict[str, Any] | None) -> tuple[str, float] | None:
        if key in targets:
            return targets[key]
        row = next((row for row in stored if row and "comparator" in row), None)
        return (row["comparator"], row["target"]) if row else None

    features = [(getattr(row["version"], "evaluation_data", None) or None) for row in (a, b)]
    before_features, after_features = (
        list(evaluation.feature_columns) if evaluation else [] for evaluation in features
    )
    metric_keys = sorted(set(a["version"].metrics) | set(b["version"].metrics))
    kpi_keys = sorted(set(a["verdicts"]["kpi_values"]) | set(b["verdicts"]["kpi_values"]))
    perf_a, perf_b = (row["verdicts"]["performance"] or {} for row in (a, b))
    kpi_a, kpi_b = (row["verdicts"]["kpi_values"] for row in (a, b))
    side_by_side = _fairness_side_by_side(fairness(old), fairness(new))
    return {
        "a": a,
        "b": b,
        "lineage": [(label, x, y, x != y) for label, x, y in lineage],
        "params_changed": a["version"].params != b["version"].params,
        "metrics": [
            (
                k,
                a["version"].metrics.get(k),
                b["version"].metrics.get(k),
                change(
                    a["version"].metrics.get(k),
                    b["version"].metrics.get(k),
                    target=targets.get(k),
                ),
            )
            for k in metric_keys
        ],
        "performance": [
            (
                k,
                perf_a.get(k),
                perf_b.get(k),
                change(perf_a.get(k), perf_b.get(k), higher_is_better=True, target=targets.get(k)),
            )
            for k in PERFORMANCE_KEYS
            if perf_a.get(k) is not None or perf_b.get(k) is not None
        ],
        "kpis": [
            (
                k,
                kpi_a.get(k),
                kpi_b.get(k),
                change(
                    (kpi_a.get(k) or {}).get("value"),
                    (kpi_b.get(k) or {}).get("value"),
                    target=target_of(k, kpi_b.get(k), kpi_a.get(k)),
                ),
            )
            for k in kpi_keys
        ],
        "features": {
            "known": all(features),
            "added": [f for f in after_features if f not in before_features],
            "dropped": [f for f in before_features if f not in after_features],
            "kept": [f for f in after_features if f in before_features],
        },
        # What did not pass in either version first; what passed in both folds below.
        "fairness": [row for row in side_by_side if not _passed_in_both(row)],
        "fairness_passing": [row for row in side_by_side if _passed_in_both(row)],
        "fairness_shown": [fairness(old) is not None, fairness(new) is not None],
        "ranks": _rank_changes(old.get("shap_ranking") or [], new.get("shap_ranking") or []),
        "ranks_shown": [bool(old.get("shap_ranking")), bool(new.get("shap_ranking"))],
    }
