"""The dashboard: the models you may see and the versions waiting on you."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator

from events.notifications import notifications_of
from explain.models import Report, ReportStatus
from registry.models import ModelVersion, VersionStatus
from registry.roles import Role, roles_of
from registry.selectors import models_visible_to
from registry.types import Actor
from reviews import permissions as rules
from reviews.models import (
    Objection,
    ObjectionState,
    SignOff,
)

from .common import failing_of, latest_shown, verdicts_of

# A version row's large JSON the dashboard never shows.
UNSHOWN_VERSION_FIELDS = ("metrics", "params", "tags")
# Candidates: versions on their way to production, which the inbox sorts.
CANDIDATE_STATUSES = (VersionStatus.REGISTERED, VersionStatus.IN_REVIEW, VersionStatus.APPROVED)
# Versions whose open objections the inbox lists: the candidates and the rejected ones.
OBJECTED_STATUSES = (*CANDIDATE_STATUSES, VersionStatus.REJECTED)
MODELS_ON_DASHBOARD = 50

# Each dashboard list shows at most this many rows, the most recent first, with a link on.
DASHBOARD_ROWS = 20
# The newest unread notifications the inbox shows; the inbox page has them all.
DASHBOARD_NOTIFICATIONS = 5


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
        verdicts = verdicts_of(latest.get(version.pk, {}))
        rows.append({"version": version, "verdicts": verdicts, "failing": failing_of(verdicts)})
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
        verdicts = verdicts_of(latest.get(version.pk, {}))
        problems = failing_of(verdicts)
        if verdicts["fairness"] == "inconclusive":
            problems.append("fairness inconclusive")
        if problems:
            findings.append({"version": version, "problems": problems})
    models = Paginator(visible, MODELS_ON_DASHBOARD).page(1)
    roles = roles_of(user)
    unread = notifications_of(user).filter(read_at__isnull=True).defer("body")
    return {
        "notifications": list(unread[:DASHBOARD_NOTIFICATIONS]),
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
