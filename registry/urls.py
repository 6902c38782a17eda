from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from . import audit_views, views

urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/", views.token_create, name="token-create"),
    path("profile/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]

# The audit log page, the chain check and the exports of the trail.
urlpatterns += [
    path("audit/", audit_views.audit_log, name="audit-log"),
    path("audit/verify/", audit_views.audit_verify_now, name="audit-verify"),
    path("audit/head.json", audit_views.audit_head, name="audit-head"),
    path("audit/export.csv", audit_views.audit_export, {"fmt": "csv"}, name="audit-export-csv"),
    path(
        "audit/export.jsonl",
        audit_views.audit_export,
        {"fmt": "jsonl"},
        name="audit-export-jsonl",
    ),
]
