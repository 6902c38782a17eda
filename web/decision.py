"""The version page's first answer: can this version ship, why not, and what the person looking
should do next. Built from the gates (what promotion enforces), the fairness findings and the
actions the person may take, so the banner never says more than the page below can show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from registry.models import ModelVersion, VersionStatus
from reviews.gates import GateResult

# Where each gate's evidence is on the page.
EVIDENCE = {
    "status": "#actions-h",
    "approvals": "#signoffs-h",
    "objections": "#signoffs-h",
    "separation_of_duties": "#signoffs-h",
    "reports": "#reports",
    "fairness": "#fairness",
    "kpis": "#kpis",
}
# Fairness findings named one by one in the banner; the rest are counted.
FINDINGS_SHOWN = 3


@dataclass
class Line:
    text: str
    href: str


@dataclass
class Decision:
    state: str  # blocked, ready, production, at-risk
    title: str
    reasons: list[Line] = field(default_factory=list)
    causes: list[Line] = field(default_factory=list)
    next_step: Line | None = None


def _reasons(gates: GateResult, findings: list[dict[str, Any]]) -> list[Line]:
    lines = []
    for check in gates.failing:
        if check.key == "fairness" and findings:
            failing = [f for f in findings if f["verdict"] == "fail"] or findings
            lines += [
                Line(f"Fairness {f['verdict']}: {f['text']}", "#" + f["anchor"])
                for f in failing[:FINDINGS_SHOWN]
            ]
            if len(failing) > FINDINGS_SHOWN:
                lines.append(Line(f"and {len(failing) - FINDINGS_SHOWN} more", "#fairness"))
        else:
            lines.append(Line(f"{check.name}: {check.reason}", EVIDENCE.get(check.key, "#gates")))
    return lines


def _causes(findings: list[dict[str, Any]], proxies: list[dict[str, Any]]) -> list[Line]:
    attributes = {part for f in findings for part in f["attribute"].split("&")}
    return [
        Line(
            f"Likely cause: {p['feature']} carries {p['attribute']} (normalised mutual "
            f"information {p['nmi']:.2f}) and ranks {p['rank']} in the model's importance",
            "#shap",
        )
        for p in proxies
        if p.get("attribute") in attributes
    ]


def _next_step(
    version: ModelVersion,
    gates: GateResult,
    can: dict[str, bool],
    causes: list[Line],
    fixed_in: dict[str, str],
) -> Line:
    status = version.status
    if can.get("promote") and gates.passed and status != VersionStatus.PRODUCTION:
        return Line("Promote it to production (the form on the right).", "#promote")
    if can.get("sign"):
        return Line("Read the findings, then sign: approve, request changes or reject.", "#signoff")
    if can.get("request_review"):
        if causes and fixed_in:
            newer = sorted(set(fixed_in.values()))[0]
            return Line(
                f"Version {newer} already removes the likely cause: review that one.",
                reverse("version-detail", args=[version.model.name, newer]),
            )
        if causes:
            return Line("Remove or rework the proxy feature and register a new version.", "#shap")
        return Line("Request a review (the form on the right).", "#review")
    if status == VersionStatus.PRODUCTION:
        if can.get("rollback"):
            return Line("Watch it; roll back from the version that served before if needed.", "")
        return Line("Nothing for you to do: it serves production.", "")
    waiting = next((c.reason for c in gates.failing if c.key == "approvals"), "")
    if waiting:
        return Line(f"Nothing for you to do now: {waiting}.", "#signoffs-h")
    return Line("Nothing for you to do now.", "")


def decision(
    version: ModelVersion,
    gates: GateResult,
    can: dict[str, bool],
    *,
    findings: list[dict[str, Any]],
    proxies: list[dict[str, Any]],
    fixed_in: dict[str, str],
) -> Decision:
    """The banner at the top of the version page."""
    reasons = _reasons(gates, findings)
    causes = _causes(findings, proxies) if any(c.key == "fairness" for c in gates.failing) else []
    if version.status == VersionStatus.PRODUCTION:
        state, title = ("at-risk", "In production, at risk") if reasons else ("production", "")
        title = title or f"In production since {version.status_changed_at:%Y-%m-%d}"
    elif gates.passed:
        state, title = "ready", "Ready to promote: every gate passes"
    else:
        count = len(gates.failing)
        state, title = "blocked", f"Blocked: {count} gate{'s' if count != 1 else ''} not met"
    return Decision(
        state, title, reasons, causes, _next_step(version, gates, can, causes, fixed_in)
    )
