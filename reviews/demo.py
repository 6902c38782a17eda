"""The demo's production history: the initial release 0.9.0 goes through the same review,
e-signature and promotion services a person uses in the UI, after its reports ran."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from explain.models import Report, ReportStatus
from explain.services import report_run, version_register
from registry import demo as registry_demo
from registry.models import RegisteredModel, VersionStatus

from . import services
from .models import Decision

INITIAL_RELEASE = "0.9.0"


def seed() -> dict[str, str]:
    """Registry demo data and its versions, then the initial release reviewed, signed and
    promoted."""
    passwords = registry_demo.seed()
    for registration in registry_demo.version_registrations():
        version_register(**registration)  # as CI's registration endpoint: reports queued
    model = RegisteredModel.objects.get(name="credit-default")
    release = model.versions.get(version=INITIAL_RELEASE)
    if release.status != VersionStatus.REGISTERED or model.production_events.exists():
        return passwords
    # Compute its reports here, with the worker's own service: a demo should not wait.
    for report in Report.objects.filter(version=release, status=ReportStatus.QUEUED):
        report_run(report_id=report.pk)
    people = {
        u.username: u
        for u in get_user_model().objects.filter(
            username__in=["mlengineer", "reviewer", "riskofficer"]
        )
    }
    services.review_request(actor=people["mlengineer"], version=release, note="Initial release.")
    for name, comment in (
        ("reviewer", "Reports reviewed; KPIs met."),
        ("riskofficer", "Fairness within policy."),
    ):
        services.signoff_record(
            actor=people[name],
            version=release,
            decision=Decision.APPROVED,
            password=passwords[name],
            comment=comment,
        )
    services.version_promote(
        actor=people["riskofficer"],
        version=release,
        reason="Initial release of credit-default.",
        replaces="",
    )
    return passwords
