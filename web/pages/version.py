"""A version's page: the decision first, its reports and findings, the review and the
actions the person may take."""

from __future__ import annotations

from typing import Any

from explain import kinds
from explain.models import FairnessPolicy, GroupThresholds, Report, ReportStatus
from explain.presenters import (
    drift_reference_rows,
    fairness_findings,
    fairness_sections,
    lime_rows,
    proxy_warnings,
)
from explain.runners import reference_columns
from explain.selectors import latest_reports
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.types import AnyUser
from reviews import gates
from reviews import permissions as rules
from reviews.models import (
    COMMENT_MAX_CHARS,
    Comment,
    Decision,
)
from reviews.services import MEANINGS

from ..decision import decision
from .common import latest_shown

# The version page lists this many fairness findings, the most serious; the rest fold.
FINDINGS_SHOWN = 8

# A version page shows at most this many comments, the most recent, in the order written.
CONVERSATION_ROWS = 200


def group_thresholds_of(model: RegisteredModel) -> str:
    """Whether the model's fairness policy lets the page offer a threshold per group."""
    saved = FairnessPolicy.objects.filter(model=model).values_list("group_thresholds", flat=True)
    return saved.first() or GroupThresholds.WITHHOLD


# How many newer versions are searched for one that fixed a proxy finding.
LATER_VERSIONS_SEARCHED = 20


def later_fixes(version: ModelVersion, features: set[str]) -> dict[str, str]:
    """For each proxy feature, the first newer version of the model that leaves it out and
    whose fairness report passes (two queries, over at most ``LATER_VERSIONS_SEARCHED``)."""
    newer = list(
        version.model.versions.filter(created_at__gt=version.created_at)
        .order_by("created_at")
        .select_related("evaluation_data")
        .only("pk", "version", "created_at", "evaluation_data__feature_columns")[
            :LATER_VERSIONS_SEARCHED
        ]
    )
    verdicts = latest_shown([v.pk for v in newer])
    fixes: dict[str, str] = {}
    for later in newer:
        fairness = verdicts.get(later.pk, {}).get(kinds.FAIRNESS)
        evaluation = getattr(later, "evaluation_data", None)
        if evaluation is None or getattr(fairness, "shown_verdict", None) != "pass":
            continue
        for feature in features - set(fixes):
            if feature not in evaluation.feature_columns:
                fixes[feature] = later.version
    return fixes


def version_page(version: ModelVersion, user: AnyUser) -> dict[str, Any]:
    """Everything the version page shows, and which actions the user may take."""
    # Every report is listed, but only the latest of each kind and the one-off rows show
    # their results: the list reads no result, the latest come with theirs in one query.
    reports = list(
        Report.objects.filter(version=version).defer("result").select_related("requested_by")
    )
    latest = latest_reports(version)
    done = ReportStatus.SUCCEEDED
    one_offs = [r for r in reports if r.kind == kinds.LIME and r.params.get("rows")]
    row_results = dict(
        Report.objects.filter(pk__in=[r.pk for r in one_offs if r.status == done]).values_list(
            "pk", "result"
        )
    )

    def result(kind: str) -> dict[str, Any] | None:
        report = latest.get(kind)
        return report.result if report and report.status == done else None

    result_gates = gates.evaluate(version, reports=latest)
    production = (
        version.model.versions.filter(status=VersionStatus.PRODUCTION)
        .values_list("version", flat=True)
        .first()
    )
    fairness = result(kinds.FAIRNESS)
    lime = result(kinds.LIME)
    review_requests = list(version.review_requests.select_related("requested_by"))
    conversation = version_conversation(version, user)
    last_request = review_requests[0].created_at if review_requests else None
    objected_since_request = any(
        last_request is None or item["objection"].created_at >= last_request
        for item in conversation["objections"]
    )
    shap = result(kinds.SHAP)
    reference = result(kinds.REFERENCE)
    proxies = proxy_warnings(shap, fairness)
    failing_fairness = fairness is not None and fairness.get("verdict") != "pass"
    fixed_in = (
        later_fixes(version, {p["feature"] for p in proxies})
        if proxies and failing_fairness
        else {}
    )
    sections = (
        fairness_sections(
            fairness,
            proxies=proxies,
            group_thresholds=group_thresholds_of(version.model),
            fixed_in=fixed_in,
        )
        if fairness
        else []
    )
    can = rules.version_actions(
        user,
        version,
        fairness_verdict=(fairness or {}).get("verdict"),
        objected_since_request=objected_since_request,
    )
    findings = fairness_findings(fairness) if fairness else []
    explained: set[str] = set()
    for finding in findings:
        # The proxy warning that explains a finding, shown beside the first it explains and
        # named in a word beside the others.
        attributes = finding["attribute"].split("&")
        carried = [p for p in proxies if p.get("attribute") in attributes]
        finding["proxies"] = [p for p in carried if p["feature"] not in explained]
        finding["proxies_again"] = [p["feature"] for p in carried if p["feature"] in explained]
        explained |= {p["feature"] for p in carried}
    signing_box = signing(user, result_gates, can)
    return {
        "model": version.model,
        "version": version,
        "evaluation": getattr(version, "evaluation_data", None),
        "model_file": getattr(version, "model_file", None),
        "reports": sorted(reports, key=lambda r: (r.kind, r.created_at)),
        "latest": latest,
        "live": any(not r.is_done for r in reports),
        "fairness": fairness,
        "fairness_sections": sections,
        "fairness_findings": findings,
        "findings_shown": FINDINGS_SHOWN,
        "findings_first": findings[:FINDINGS_SHOWN],
        "findings_more": findings[FINDINGS_SHOWN:],
        "performance": result(kinds.PERFORMANCE),
        "kpi": result(kinds.KPI),
        "shap": shap,
        "proxy_features": {p["feature"]: p["attribute"] for p in proxies},
        "shap_files": {f.name: f for f in latest[kinds.SHAP].files.all()}
        if kinds.SHAP in latest
        else {},
        "lime_rows": lime_rows(lime) if lime else [],
        "row_picks": (lime or {}).get("suggested_rows", []),
        "reference": reference,
        "reference_rows": (
            drift_reference_rows(reference, order=reference_columns(version)) if reference else []
        ),
        "row_explanations": [
            {
                "report": r,
                "rows": lime_rows(row_results.get(r.pk) or {}) if r.status == done else [],
            }
            for r in one_offs
        ],
        "gates": result_gates,
        "signoffs": result_gates.standings[::-1],
        "review_requests": review_requests,
        "conversation": conversation,
        "comment_max": COMMENT_MAX_CHARS,
        "production_version": production,
        "can": can,
        # Once the person's signature is in, the next step is no longer theirs to sign.
        "decision": decision(
            version,
            result_gates,
            can | {"sign": signing_box["sign_form"]},
            findings=findings,
            proxies=proxies,
            fixed_in=fixed_in,
        ),
        **signing_box,
    }


def signing(user: AnyUser, result: gates.GateResult, can: dict[str, bool]) -> dict[str, Any]:
    """What the signing box shows: before signing, what a signature would mean (the decisions
    offered, each with its statement, and the role it is made in); after, the person's own
    signatures that count, in place of the form while nothing else is theirs to sign."""
    mine = [s for s in result.standings if s.signoff.user_id == user.pk]
    current = [s.signoff for s in mine if s.counts]
    decided = {s.decision for s in current}
    offered = [
        choice
        for choice in Decision
        if (choice != Decision.APPROVED or can["approve"])
        and (choice != Decision.FAIRNESS_OVERRIDE or can["override"])
    ]
    still_open = can["override"] and Decision.FAIRNESS_OVERRIDE not in decided
    role = rules.default_signing_role(user)
    return {
        "my_signoffs": current[::-1],
        "my_lapsed": [s for s in mine if not s.counts][::-1],
        "sign_form": can["sign"] and (not current or still_open),
        "meanings": [(choice.label, MEANINGS[choice]) for choice in offered],
        "signing_role": role.label if role else "",
    }


def version_conversation(version: ModelVersion, user: AnyUser) -> dict[str, Any]:
    """A version's review conversation: its objections, each with what is asked, its owner,
    its state and the answers to it; then the other comments, each with its replies. Two
    queries, the comments bounded to the most recent ``CONVERSATION_ROWS``."""
    objections = list(
        version.objections.select_related("signoff", "raised_by", "owner", "resolved_by")
        .defer("signoff__subject")
        .order_by("created_at", "pk")
    )
    newest = list(version.comments.order_by("-created_at", "-pk")[: CONVERSATION_ROWS + 1])
    truncated = len(newest) > CONVERSATION_ROWS
    comments = newest[:CONVERSATION_ROWS][::-1]
    by_pk = {c.pk: c for c in comments}

    def root(comment: Comment) -> Comment:
        seen = set()
        while comment.reply_to_id in by_pk and comment.pk not in seen:
            seen.add(comment.pk)
            comment = by_pk[comment.reply_to_id]
        return comment

    answers: dict[int, list[Comment]] = {o.pk: [] for o in objections}
    threads: dict[int, dict[str, Any]] = {}
    for comment in comments:
        if comment.objection_id in answers:
            answers[comment.objection_id].append(comment)
            continue
        top = root(comment)
        thread = threads.setdefault(top.pk, {"comment": top, "replies": []})
        if top is not comment:
            thread["replies"].append(comment)
    return {
        "objections": [
            {
                "objection": o,
                "answers": answers[o.pk],
                "can_resolve": o.is_open and rules.can_resolve_objection(user, o),
            }
            for o in objections
        ],
        "open": sum(1 for o in objections if o.is_open),
        "threads": list(threads.values()),
        "truncated": truncated,
    }
