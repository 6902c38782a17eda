"""The server-rendered pages: one URL table for every page, by resource. The paths and names
are the ones the pages have always had (templates and tests ``reverse`` them)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from .views import (
    audit,
    dashboard,
    inbox,
    models,
    policies,
    profile,
    reports,
    versions,
    webhooks,
)

version = "models/<slug:name>/versions/<str:version>/"

urlpatterns = [
    path("", dashboard.dashboard, name="home"),
    # Sign-in and the person's own page.
    path("login/", profile.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", profile.profile, name="profile"),
    path("profile/tokens/", profile.token_create, name="token-create"),
    path("profile/tokens/<int:pk>/revoke/", profile.token_revoke, name="token-revoke"),
    path("profile/email/", profile.email_choices, name="profile-email"),
    # The inbox: the person's notifications.
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/read-all/", inbox.inbox_read_all, name="inbox-read-all"),
    path("inbox/<int:pk>/", inbox.inbox_open, name="inbox-open"),
    # Models.
    path("models/", models.model_list, name="model-list"),
    path("models/<slug:name>/", models.model_detail, name="model-detail"),
    path("models/<slug:name>/policy/", policies.policy_edit, name="policy-edit"),
    path("models/<slug:name>/webhooks/", webhooks.model_webhooks, name="model-webhooks"),
    # Webhooks: a team's, and one webhook's page with its deliveries and actions.
    path("teams/<slug:slug>/webhooks/", webhooks.team_webhooks, name="team-webhooks"),
    path("webhooks/<int:webhook_id>/", webhooks.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:webhook_id>/edit/", webhooks.webhook_edit, name="webhook-edit"),
    path("webhooks/<int:webhook_id>/test/", webhooks.webhook_test, name="webhook-test"),
    path(
        "webhooks/<int:webhook_id>/redeliver/",
        webhooks.webhook_redeliver,
        name="webhook-redeliver",
    ),
    path(
        "webhooks/<int:webhook_id>/rotate-secret/",
        webhooks.webhook_rotate_secret,
        name="webhook-rotate-secret",
    ),
    path("webhooks/<int:webhook_id>/enable/", webhooks.webhook_enable, name="webhook-enable"),
    path("webhooks/<int:webhook_id>/disable/", webhooks.webhook_disable, name="webhook-disable"),
    path("webhooks/<int:webhook_id>/delete/", webhooks.webhook_delete, name="webhook-delete"),
    # Versions and the review actions on them.
    path(version, versions.version_detail, name="version-detail"),
    path(version + "request-review/", versions.request_review, name="version-request-review"),
    path(version + "sign-off/", versions.sign_off, name="version-sign-off"),
    path(version + "promote/", versions.promote, name="version-promote"),
    path(version + "rollback/", versions.rollback, name="version-rollback"),
    path(version + "explain-row/", versions.explain_row, name="version-explain-row"),
    path(version + "comments/", versions.comment_post, name="version-comment"),
    path(
        version + "objections/<int:objection_id>/resolve/",
        versions.objection_resolve,
        name="version-objection-resolve",
    ),
    path(version + "bundle.zip", versions.version_bundle, name="version-bundle"),
    # A version's report progress and plots.
    path(version + "reports/status/", reports.report_status, name="report-status"),
    path(
        version + "reports/<int:report_id>/files/<str:file_name>",
        reports.report_file,
        name="report-file",
    ),
    # The audit log page, the chain check and the exports of the trail.
    path("audit/", audit.audit_log, name="audit-log"),
    path("audit/verify/", audit.audit_verify_now, name="audit-verify"),
    path("audit/head.json", audit.audit_head, name="audit-head"),
    path("audit/export.csv", audit.audit_export, {"fmt": "csv"}, name="audit-export-csv"),
    path("audit/export.jsonl", audit.audit_export, {"fmt": "jsonl"}, name="audit-export-jsonl"),
]
