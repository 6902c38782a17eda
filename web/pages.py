"""What each page shows: the dashboard, a model, a comparison of two versions, a version with
the actions the person may take. Reads only; the views render them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, JSONField, When
from django.db.models.fields.json import KeyTransform

from explain import kinds
from explain.models import FairnessPolicy, GroupThresholds, Report, ReportStatus
from explain.presenters import (
    fairness_findings,
    fairness_sections,
    ideal_of,
    lime_rows,
    proxy_warnings,
)
from explain.selectors import latest_by_version, latest_reports, newest_of_each_kind
from registry.models import KPI, Comparator, ModelVersion, RegisteredModel, VersionStatus, kpi_met
from registry.roles import Role, approvals_in_words, roles_of
from registry.selectors import models_visible_to
from registry.types import Actor, AnyUser
from reviews import gates
from reviews import permissions as rules
from reviews.models import (
    COMMENT_MAX_CHARS,
    Comment,
    Decision,
    Objection,
    ObjectionState,
    ReviewPolicy,
    SignOff,
)
from reviews.policies import policy_current
from reviews.selectors import timeline
from reviews.services import MEANINGS

from .decision import decision

# What version rows show of each kind's latest result, read from the result in SQL: the
# rows never load a whole result (name: (kind, key in the result)).
SHOWN = {
    "shown_verdict": (kinds.FAIRNESS, "verdict"),
    "shown_summary": (kinds.KPI, "summary"),
    "shown_kpis": (kinds.KPI, "kpis"),
    "shown_overall": (kinds.PERFORMANCE, "overall"),
}
VERSIONS_PER_PAGE = 50
MODELS_ON_DASHBOARD = 50
# Each dashboard list shows at most this many rows, the most recent first, with a link on.
DASHBOARD_ROWS = 20
# A version row's large JSON the dashboard never shows.
UNSHOWN_VERSION_FIELDS = ("metrics", "params", "tags")
# Candidates: versions on their way to production, which the inbox sorts.
CANDIDATE_STATUSES = (VersionStatus.REGISTERED, VersionStatus.IN_REVIEW, VersionStatus.APPROVED)
# Versions whose open objections the inbox lists: the candidates and the rejected ones.
OBJECTED_STATUSES = (*CANDIDATE_STATUSES, VersionStatus.REJECTED)
# The version page lists this many fairness findings, the most serious; the rest fold.
FINDINGS_SHOWN = 8
# A version page shows at most this many comments, the most recent, in the order written.
CONVERSATION_ROWS = 200


def latest_shown(version_ids: Sequence[int]) -> dict[int, dict[str, Report]]:
    """The latest report of each kind of each version, in one query, with only the parts
    of their results that version rows show (``SHOWN``), as attributes."""
    done = ReportStatus.SUCCEEDED
    # Choose the rows first (a subquery), then read from the chosen rows only: the database
    # computes a select list before DISTINCT ON, so reading keys there would read every result.
    chosen = newest_of_each_kind(Report.objects.filter(version__in=list(version_ids)))
    reports = (
        Report.objects.filter(pk__in=chosen.values("pk"))
        .only("pk", "version_id", "kind", "status", "params", "created_at", "progress")
        .annotate(
            **{
                name: Case(
                    When(kind=kind, status=done, then=KeyTransform(key, "result")),
                    output_field=JSONField(),
                )
                for name, (kind, key) in SHOWN.items()
            }
        )
    )
    return latest_by_version(reports)


def _verdicts(latest: dict[str, Report]) -> dict[str, Any]:
    fairness = latest.get(kinds.FAIRNESS)
    kpi = latest.get(kinds.KPI)
    perf = latest.get(kinds.PERFORMANCE)
    done = ReportStatus.SUCCEEDED
    ok_fairness = fairness if fairness and fairness.status == done else None
    ok_kpi = kpi if kpi and kpi.status == done else None
    ok_perf = perf if perf and perf.status == done else None
    return {
        "fairness": getattr(ok_fairness, "shown_verdict", None),
        "kpi": getattr(ok_kpi, "shown_summary", None),
        "kpi_values": {row["metric_key"]: row for row in getattr(ok_kpi, "shown_kpis", None) or []},
        "performance": getattr(ok_perf, "shown_overall", None),
        "running": [r for r in latest.values() if not r.is_done],
        "failed": [r.kind for r in latest.values() if r.status == ReportStatus.FAILED],
    }


def _failing(verdicts: dict[str, Any]) -> list[str]:
    """What fails among a version's latest checks, in words (empty when nothing does)."""
    problems = []
    if verdicts["fairness"] == "fail":
        problems.append("fairness fails")
    kpi = verdicts["kpi"] or {}
    if kpi and not kpi.get("blocking_all_met", True):
        problems.append("blocking KPIs not met: " + ", ".join(kpi.get("blocking_failing") or []))
    problems += [f"{kinds.label(kind)} report failed" for kind in verdicts["failed"]]
    return problems


def version_rows(versions: Sequence[ModelVersion]) -> list[dict[str, Any]]:
    """Each version with the verdicts of its latest reports (one query for all of them)."""
    latest = latest_shown([v.pk for v in versions])
    return [{"version": v, "verdicts": _verdicts(latest.get(v.pk, {}))} for v in versions]


def dashboard(user: Actor) -> dict[str, Any]:
    """What a person should look at now, across the models they may see: an inbox for their
    roles (failing checks, changes requested, waiting for my review, ready to promote, open
    findings) and the candidates, production versions, running reports and models. Each
    list is bounded to its most recent ``DASHBOARD_ROWS``, so the page costs the same however
    many models."""
    visible = models_visible_to(user)
    versions = (
        ModelVersion.objects.filter(model__in=visible.values("pk"))
        .select_related("model", "submitted_by")
        .defer(*UNSHOWN_VERSION_FIELDS)
        .order_by("-created_at")
    )
    candidates = list(versions.filter(status__in=CANDIDATE_STATUSES)[:DASHBOARD_ROWS])
    # One row more than shown tells whether there are more, without counting them all.
    production = list(
        versions.filter(status=VersionStatus.PRODUCTION).order_by("-status_changed_at")[
            : DASHBOARD_ROWS + 1
        ]
    )
    more_in_production = len(production) > DASHBOARD_ROWS
    production = production[:DASHBOARD_ROWS]
    # The latest reports of the candidates and the production versions, in one query.
    latest = latest_shown([v.pk for v in candidates + production])
    rows: list[dict[str, Any]] = []
    for version in candidates:
        verdicts = _verdicts(latest.get(version.pk, {}))
        rows.append({"version": version, "verdicts": verdicts, "failing": _failing(verdicts)})
    candidate_ids = [v.pk for v in candidates]
    signed = set(
        SignOff.objects.filter(user=user, version__in=candidate_ids).values_list(
            "version_id", flat=True
        )
    )
    objections = list(
        Objection.objects.filter(
            state=ObjectionState.OPEN,
            version__model__in=visible.values("pk"),
            version__status__in=OBJECTED_STATUSES,
        )
        .select_related("version__model", "signoff", "owner")
        .defer("signoff__subject", *(f"version__{field}" for field in UNSHOWN_VERSION_FIELDS))
        .order_by("-created_at")[:DASHBOARD_ROWS]
    )
    objected = {o.version_id for o in objections}
    can_sign = bool(rules.signing_roles(user))
    running = (
        Report.objects.filter(
            version__model__in=visible.values("pk"),
            status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING],
        )
        .select_related("version__model")
        .defer("result", *(f"version__{field}" for field in UNSHOWN_VERSION_FIELDS))
        .order_by("created_at")[:DASHBOARD_ROWS]
    )
    findings = []
    for version in production:
        verdicts = _verdicts(latest.get(version.pk, {}))
        problems = _failing(verdicts)
        if verdicts["fairness"] == "inconclusive":
            problems.append("fairness inconclusive")
        if problems:
            findings.append({"version": version, "problems": problems})
    models = Paginator(visible, MODELS_ON_DASHBOARD).page(1)
    roles = roles_of(user)
    return {
        "inbox": {
            "pending": [
                row
                for row in rows
                if can_sign
                and row["version"].pk not in signed
                and row["version"].status == VersionStatus.IN_REVIEW
            ],
            "changes": objections,
            "failing": [row for row in rows if row["failing"]],
            "ready": [
                row
                for row in rows
                if row["version"].status == VersionStatus.APPROVED
                and not row["failing"]
                and row["version"].pk not in objected
            ],
            "findings": findings,
        },
        # Which inbox lists the person's roles make theirs.
        "shows": {
            "pending": can_sign,
            "changes": bool(roles - {Role.AUDITOR}),
            "failing": bool(roles - {Role.AUDITOR}),
            "ready": rules.has_promoter_role(user),
            "findings": bool(roles & {Role.RISK_OFFICER, Role.AUDITOR, Role.ADMIN}),
        },
        "candidates": rows,
        "rows_shown": DASHBOARD_ROWS,
        "production": production,
        "more_in_production": more_in_production,
        "running": running,
        "models": models.object_list,
        "models_page": models,
    }


def model_page(model: RegisteredModel, page: str | int | None = None) -> dict[str, Any]:
    """A model's objectives, one page of its versions with verdicts and KPI values, and its
    timeline."""
    names = [(name, status) for name, status in model.versions.values_list("version", "status")]
    production = next((n for n, status in names if status == VersionStatus.PRODUCTION), None)
    candidate = next((n for n, _ in names if n != production), None)
    # By default compare the newest candidate with production (or with the one before it).
    pick = (candidate, production or next((n for n, _ in names if n != candidate), candidate))
    paginator = Paginator(model.versions.select_related("submitted_by"), VERSIONS_PER_PAGE)
    versions: Page[ModelVersion] = paginator.get_page(page)
    objectives = list(model.objectives.prefetch_related("kpis"))
    return {
        "model": model,
        "compare_pick": pick,
        "version_names": [n for n, _ in names],
        "objectives": objectives,
        "kpis": [kpi for objective in objectives for kpi in objective.kpis.all()],
        "rows": version_rows(list(versions.object_list)),
        "versions_page": versions,
        "timeline": timeline(model),
        "policy": policy_current(model),
    }


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
        v.version: {"version": v, "verdicts": _verdicts(latest.get(v.pk, {}))} for v in picked
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


def _policy_values(fields: dict[str, Any]) -> dict[str, str]:
    """A policy's rules in words, by field."""
    yes_no = {True: "yes", False: "no"}
    return {
        "required_approvals": approvals_in_words(fields["required_approvals"]),
        "require_fairness_not_failed": yes_no[bool(fields["require_fairness_not_failed"])],
        "require_blocking_kpis_met": yes_no[bool(fields["require_blocking_kpis_met"])],
        "require_shap_report": yes_no[bool(fields["require_shap_report"])],
        "signoff_valid_days": f"{fields['signoff_valid_days']} days",
    }


POLICY_LABELS = {
    "required_approvals": "Approvals required",
    "require_fairness_not_failed": "Fairness verdict must not be fail",
    "require_blocking_kpis_met": "Blocking KPIs must be met",
    "require_shap_report": "SHAP report required",
    "signoff_valid_days": "Sign-offs valid for",
}


def policy_change(model: RegisteredModel, current: ReviewPolicy, changes: dict) -> dict[str, Any]:
    """A review policy change, old against new, and the sign-offs it would stop counting
    (every sign-off is made under one revision; a new revision lapses them)."""
    old = _policy_values(current.as_dict())
    new = _policy_values(current.as_dict() | changes)
    rows = [
        (label, old[key], new[key], old[key] != new[key]) for key, label in POLICY_LABELS.items()
    ]
    changed = any(row[3] for row in rows) or current.pk is None
    lapsing = list(
        SignOff.objects.filter(
            version__model=model,
            version__status__in=rules.SIGN_IN,
            policy_revision=current.revision,
        )
        .values_list("version__version")
        .annotate(n=Count("pk"))
        .order_by("version__version")
    )
    return {
        "rows": rows,
        "changed": changed,
        "saved": current.pk is not None,
        "next_revision": current.revision + 1 if current.pk else current.revision,
        "lapsing": lapsing if changed else [],
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
