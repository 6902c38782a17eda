"""The promotion gates: every check for a version, each with pass/fail and a reason.

The same evaluation serves the version page, the API and the promotion service, so what a
reviewer sees is what promotion enforces.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from explain import kinds
from explain.models import Report, ReportStatus
from explain.presenters import fairness_findings
from explain.selectors import latest_reports
from registry.audit.chain import canonical_json
from registry.models import ModelVersion, VersionStatus
from registry.roles import Role, role_label, roles_of

from .models import Decision, ReviewPolicy, SignOff
from .policies import policy_current, sod_excluded

# Kinds every policy requires, and kinds whose results a signature covers.
REQUIRED_KINDS = kinds.required_kinds(policy_requires_explanations=False)
EVIDENCE_KINDS = kinds.evidence_kinds()


def signing_subject(
    version: ModelVersion, policy: ReviewPolicy, reports: dict[str, Report] | None = None
) -> dict[str, Any]:
    """What a signature covers: the version's content, the results of its evidence reports
    (fairness, performance, KPIs, SHAP; local LIME explanations are aids, not evidence),
    and the policy."""
    reports = latest_reports(version) if reports is None else reports
    return {
        "model": version.model.name,
        "version": version.version,
        "content_sha256": version.content_sha256,
        "reports": {
            kind: {"id": report.pk, "status": report.status, "result_sha256": report.result_sha256}
            for kind, report in sorted(reports.items())
            if kind in EVIDENCE_KINDS
        },
        "policy_revision": policy.revision,
    }


def subject_hash(subject: dict[str, Any]) -> str:
    """sha256 of a signing subject's canonical JSON."""
    return hashlib.sha256(canonical_json(subject).encode()).hexdigest()


@dataclass(frozen=True)
class SignOffStanding:
    """Whether a sign-off still counts, and why not."""

    signoff: SignOff
    counts: bool
    reason: str


@dataclass
class Check:
    """One gate: a name people read, whether it passed, and why."""

    key: str
    name: str
    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateResult:
    """Every check for a version; it may be promoted only when all passed."""

    version: ModelVersion
    policy: ReviewPolicy
    checks: list[Check]
    standings: list[SignOffStanding]
    subject_sha256: str

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failing(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "policy": self.policy.as_dict(),
            "subject_sha256": self.subject_sha256,
            "checks": [asdict(check) for check in self.checks],
            "signoffs": [
                {
                    "id": s.signoff.pk,
                    "signer": s.signoff.signer_name,
                    "username": s.signoff.user.get_username(),
                    "role": s.signoff.role,
                    "decision": s.signoff.decision,
                    "signed_at": s.signoff.signed_at.isoformat(),
                    "counts": s.counts,
                    "reason": s.reason,
                }
                for s in self.standings
            ],
        }


def _standing(
    signoff: SignOff,
    *,
    policy: ReviewPolicy,
    subject_sha: str,
    excluded: set[int],
    members: set[int],
    now: datetime,
) -> SignOffStanding:
    if signoff.policy_revision != policy.revision:
        return SignOffStanding(
            signoff,
            False,
            f"signed under policy r{signoff.policy_revision}; the policy is now r{policy.revision}",
        )
    if signoff.subject_sha256 != subject_sha:
        return SignOffStanding(
            signoff, False, "the reports changed after signing (one was re-run or finished later)"
        )
    expires = signoff.signed_at + timedelta(days=policy.signoff_valid_days)
    if expires <= now:
        return SignOffStanding(signoff, False, f"expired on {expires:%Y-%m-%d}")
    if signoff.user_id in excluded and signoff.decision in (
        Decision.APPROVED,
        Decision.FAIRNESS_OVERRIDE,
    ):
        return SignOffStanding(
            signoff, False, "separation of duties: the signer submitted or owns this model"
        )
    roles = roles_of(signoff.user)
    if signoff.role not in {role.value for role in roles}:
        return SignOffStanding(
            signoff,
            False,
            f"the signer no longer holds the {role_label(signoff.role).lower()} role",
        )
    if signoff.user_id not in members and Role.ADMIN not in roles:
        return SignOffStanding(signoff, False, "the signer is no longer in the owning team")
    return SignOffStanding(signoff, True, "counts")


def required_kinds(policy: ReviewPolicy) -> tuple[str, ...]:
    """Kinds the policy needs a successful, current report of."""
    return kinds.required_kinds(policy_requires_explanations=policy.require_shap_report)


def evaluate(
    version: ModelVersion,
    *,
    now: datetime | None = None,
    reports: dict[str, Report] | None = None,
) -> GateResult:
    """Evaluate every gate for ``version`` under its model's current policy; ``reports`` are
    its latest reports when the caller has just read them (``latest_reports``)."""
    now = now or timezone.now()
    policy = policy_current(version.model)
    reports = latest_reports(version) if reports is None else reports
    subject_sha = subject_hash(signing_subject(version, policy, reports))
    excluded = sod_excluded(version)
    signoffs = list(
        version.signoffs.select_related("user", "objection").order_by("signed_at", "pk")
    )
    members = set(version.model.owner_team.members.values_list("pk", flat=True))
    standings = [
        _standing(
            s, policy=policy, subject_sha=subject_sha, excluded=excluded, members=members, now=now
        )
        for s in signoffs
    ]
    valid = [s.signoff for s in standings if s.counts]
    checks = [
        _status_check(version),
        _approvals_check(policy, valid),
        _objections_check(valid),
        _sod_check(signoffs, excluded),
        _reports_check(version, policy, reports),
        _fairness_check(policy, reports, valid),
        _kpi_check(policy, reports),
    ]
    return GateResult(version, policy, checks, standings, subject_sha)


def _status_check(version: ModelVersion) -> Check:
    name = "Review requested"
    if version.status in (VersionStatus.IN_REVIEW, VersionStatus.APPROVED):
        return Check("status", name, True, f"status is {version.get_status_display().lower()}")
    if version.status == VersionStatus.PRODUCTION:
        return Check("status", name, True, "reviewed; in production")
    if version.status == VersionStatus.ARCHIVED:
        return Check(
            "status",
            name,
            True,
            "reviewed; archived, so it can be rolled back to while the other gates hold",
        )
    reason = f"status is {version.get_status_display().lower()}; it must be in review or approved"
    return Check("status", name, False, reason)


def _approvals_check(policy: ReviewPolicy, valid: list[SignOff]) -> Check:
    counted: dict[str, set[int]] = {}
    seen: set[int] = set()
    for signoff in valid:
        if signoff.decision != Decision.APPROVED or signoff.user_id in seen:
            continue
        seen.add(signoff.user_id)
        counted.setdefault(signoff.role, set()).add(signoff.user_id)
    have = {role: len(counted.get(role, ())) for role in policy.required_approvals}
    missing = {
        role: n - have[role] for role, n in policy.required_approvals.items() if have[role] < n
    }
    if missing:
        reason = "waiting for " + ", ".join(
            f"{n} more {Role(role).label.lower()}" for role, n in missing.items()
        )
    else:
        reason = "all required approvals are in"
    return Check(
        "approvals",
        "Approvals by role",
        not missing,
        reason,
        {"required": policy.required_approvals, "have": have},
    )


def _still_objects(signoff: SignOff) -> bool:
    """A rejection or request for changes stands until its objection is resolved."""
    if signoff.decision not in (Decision.REJECTED, Decision.CHANGES_REQUESTED):
        return False
    objection = getattr(signoff, "objection", None)
    return objection is None or objection.is_open


def _objections_check(valid: list[SignOff]) -> Check:
    objections = [s for s in valid if _still_objects(s)]
    if objections:
        first = objections[0]
        return Check(
            "objections",
            "No open objections",
            False,
            f"{first.get_decision_display().lower()} by {first.signer_name}: {first.comment}",
        )
    return Check(
        "objections",
        "No open objections",
        True,
        "no open rejection or request for changes",
    )


def _sod_check(signoffs: list[SignOff], excluded: set[int]) -> Check:
    ignored = [
        s.signer_name for s in signoffs if s.user_id in excluded and s.decision == Decision.APPROVED
    ]
    reason = (
        "no approval comes from the submitter, its CI account or the owning engineers"
        if not ignored
        else f"ignored approvals from {', '.join(ignored)} (submitter or owner)"
    )
    return Check("separation_of_duties", "Separation of duties", True, reason)


def _reports_check(
    version: ModelVersion, policy: ReviewPolicy, reports: dict[str, Report]
) -> Check:
    required = list(required_kinds(policy))
    problems = []
    for kind in required:
        report = reports.get(kind)
        if report is None:
            problems.append(f"no {kind} report")
        elif report.status != ReportStatus.SUCCEEDED:
            problems.append(f"{kind} report is {report.status}")
        elif not kinds.report_is_current(report):
            problems.append(
                f"{kind} report predates the current fairness policy or KPIs; run it again"
            )
    reason = "; ".join(problems) if problems else f"{', '.join(required)} present and fresh"
    return Check(
        "reports",
        "Required reports present and fresh",
        not problems,
        reason,
        {"required": required},
    )


def _fairness_check(
    policy: ReviewPolicy, reports: dict[str, Report], valid: list[SignOff]
) -> Check:
    name = "Fairness verdict"
    if not policy.require_fairness_not_failed:
        return Check("fairness", name, True, "not required by the policy")
    report = reports.get(kinds.FAIRNESS)
    if report is None or report.status != ReportStatus.SUCCEEDED:
        return Check("fairness", name, False, "no fairness result yet")
    verdict = (report.result or {}).get("verdict")
    if verdict == "pass":
        return Check("fairness", name, True, "pass", {"verdict": verdict})
    if verdict == "fail":
        findings = fairness_findings(report.result) if report.result else []
        failing = [f["text"] for f in findings if f["verdict"] == "fail"]
        more = f"; and {len(failing) - 1} more" if len(failing) > 1 else ""
        return Check(
            "fairness",
            name,
            False,
            f"fail: {failing[0]}{more}" if failing else "fail: a metric is outside its band",
            {"verdict": verdict, "failing": failing},
        )
    override = next((s for s in valid if s.decision == Decision.FAIRNESS_OVERRIDE), None)
    if override:
        return Check(
            "fairness",
            name,
            True,
            f"inconclusive, accepted by {override.signer_name}: {override.comment}",
            {"verdict": verdict},
        )
    return Check(
        "fairness",
        name,
        False,
        "inconclusive: needs a risk officer's override with a justification",
        {"verdict": verdict},
    )


def _kpi_check(policy: ReviewPolicy, reports: dict[str, Report]) -> Check:
    name = "Blocking KPIs met"
    if not policy.require_blocking_kpis_met:
        return Check("kpis", name, True, "not required by the policy")
    report = reports.get(kinds.KPI)
    if report is None or report.status != ReportStatus.SUCCEEDED:
        return Check("kpis", name, False, "no KPI measurements yet")
    summary = (report.result or {})["summary"]
    if summary["blocking_all_met"]:
        return Check("kpis", name, True, "every blocking KPI meets its target")
    return Check(
        "kpis", name, False, "not met or missing: " + ", ".join(summary["blocking_failing"])
    )
