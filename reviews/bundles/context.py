"""What the bundle's report (HTML and PDF) shows: gates, objectives, results, limitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from explain import kinds
from explain.models import Report, ReportStatus
from explain.presenters import fairness_findings, fairness_sections, proxy_warnings
from explain.selectors import latest_reports
from registry.audit.record import actor_label
from registry.models import ModelVersion, VersionStatus

from .. import gates, selectors

SHAP_TOP = 10
# The interval whiskers' colours inside each SVG: WeasyPrint styles an inline SVG only from its
# own <style>, not from the page's stylesheet.
SUMMARY_ITEMS = 5  # findings and limitations on the first page; the rest follow in full


def _objectives(version: ModelVersion, kpi: dict[str, Any] | None) -> list[dict[str, Any]]:
    measured = {row["id"]: row for row in (kpi or {}).get("kpis", []) if "id" in row}
    out = []
    for objective in version.model.objectives.prefetch_related("kpis"):
        rows = []
        for definition in objective.kpis.all():
            row = measured.get(definition.pk)
            rows.append(
                {
                    "name": definition.name,
                    "metric_key": definition.metric_key,
                    "target": f"{definition.comparator} {definition.target:g} {definition.unit}",
                    "blocking": definition.blocking,
                    "value": row.get("value") if row else None,
                    "source": (row.get("source") or "") if row else "",
                    "status": row.get("status") if row else "not measured",
                }
            )
        out.append({"title": objective.title, "description": objective.description, "kpis": rows})
    return out


def _blocking(version: ModelVersion, gate: gates.GateResult) -> list[gates.Check]:
    """Failing gates; once promoted, "review requested" no longer applies."""
    settled = version.status in (VersionStatus.PRODUCTION, VersionStatus.ARCHIVED)
    return [c for c in gate.failing if not (settled and c.key == "status")]


def _limitations(
    version: ModelVersion,
    gate: gates.GateResult,
    latest: dict[str, Report],
    reports: list[Report],
    notes: list[str],
    *,
    gates_too: bool = True,
) -> list[str]:
    """What a reader must know the reports do not show; the failing gates too unless
    ``gates_too`` is false (the summary lists them under the decision)."""
    done = ReportStatus.SUCCEEDED
    result = {kind: r.result for kind, r in latest.items() if r.status == done and r.result}
    items: list[str] = []
    fairness = result.get(kinds.FAIRNESS)
    if fairness:
        if fairness.get("verdict") != "pass":
            items.append(f"The fairness verdict is {fairness.get('verdict')}.")
        items += [f"Fairness: {warning}" for warning in fairness.get("warnings", [])]
    for row in (result.get(kinds.KPI) or {}).get("kpis", []):
        if row.get("status") == "missing":
            items.append(
                f"KPI {row['metric_key']} has no value: nothing computes it and CI did not "
                "report it."
            )
        elif row.get("status") == "not_met":
            items.append(
                f"KPI {row['metric_key']} is not met: {row.get('value'):.4g} against "
                f"{row['comparator']} {row['target']:g}."
            )
    shap = result.get(kinds.SHAP)
    if shap:
        sample = shap.get("sample", {})
        if sample.get("explained_rows", 0) < sample.get("total_rows", 0):
            items.append(
                f"SHAP explains a sample of {sample['explained_rows']} of "
                f"{sample['total_rows']} rows (cap {sample.get('max_rows')}, "
                f"{sample.get('strategy', 'sampled')})."
            )
        for w in shap.get("proxies", {}).get("warnings", []):
            items.append(
                f"Possible proxy: {w['feature']} for {w['attribute']} (normalised mutual "
                f"information {w['nmi']:.2f}, importance rank {w['rank']})."
            )
    if not hasattr(version, "model_file"):
        items.append("No model file was uploaded, so the model could not be explained.")
    for kind in gates.required_kinds(gate.policy):
        if kind not in result:
            items.append(f"There is no successful {kind} report.")
    for report in reports:
        if report.status == ReportStatus.FAILED:
            items.append(f"The {report.kind} report #{report.pk} failed: {report.error[:300]}")
    if not gates_too:
        return items + notes
    items += [f"Gate “{c.name}” does not pass: {c.reason}." for c in _blocking(version, gate)]
    items += [
        f"The sign-off by {s.signoff.signer_name} does not count: {s.reason}."
        for s in gate.standings
        if not s.counts
    ]
    return items + notes


def _report_context(
    version: ModelVersion,
    reports: list[Report],
    audit: dict[str, Any],
    moment: datetime,
    actor,
    notes: list[str],
) -> dict[str, Any]:
    latest = latest_reports(version)
    gate = gates.evaluate(version, now=moment)
    done = ReportStatus.SUCCEEDED

    def result(kind: str) -> dict[str, Any] | None:
        report = latest.get(kind)
        return report.result if report and report.status == done else None

    fairness, kpi, shap = (
        result(kinds.FAIRNESS),
        result(kinds.KPI),
        result(kinds.SHAP),
    )
    lime = result(kinds.LIME)
    shap_report = latest.get(kinds.SHAP)
    blocking = _blocking(version, gate)
    limitations = _limitations(version, gate, latest, reports, notes)
    open_points = _limitations(version, gate, latest, reports, notes, gates_too=False)
    findings = fairness_findings(fairness) if fairness else []
    return {
        "model": version.model,
        "version": version,
        "evaluation": getattr(version, "evaluation_data", None),
        "model_file": getattr(version, "model_file", None),
        "created_at": moment,
        "created_by": actor_label(actor),
        "gates": gate,
        "blocking": blocking,
        "gates_passed": len(gate.checks) - len(blocking),
        "objectives": _objectives(version, kpi),
        "kpi": kpi,
        "fairness": fairness,
        "fairness_sections": fairness_sections(fairness) if fairness else [],
        "performance": result(kinds.PERFORMANCE),
        "shap": shap,
        "shap_top": (shap or {}).get("global_importance", [])[:SHAP_TOP],
        "proxies": proxy_warnings(shap, fairness),
        "shap_plots": [f"reports/{shap_report.pk}/{f.name}" for f in shap_report.files.all()]
        if shap and shap_report
        else [],
        "lime_rows": len((lime or {}).get("rows", [])),
        "limitations": limitations,
        "summary": {
            "findings": findings[:SUMMARY_ITEMS],
            "more_findings": max(len(findings) - SUMMARY_ITEMS, 0),
            "limitations": open_points[:SUMMARY_ITEMS],
            "more_limitations": max(len(open_points) - SUMMARY_ITEMS, 0),
        },
        "signoffs": gate.standings[::-1],
        "timeline": selectors.timeline(version.model),
        "reports": reports,
        "audit": audit,
    }
