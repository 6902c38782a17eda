"""Every server-rendered page is served by the ``web`` app; the domain apps keep only their
REST API (``api/``), so a new page has one obvious home."""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

PAGE_NAMES = {
    "home",
    "login",
    "logout",
    "profile",
    "token-create",
    "token-revoke",
    "profile-email",
    "inbox",
    "inbox-read-all",
    "inbox-open",
    "model-list",
    "model-detail",
    "policy-edit",
    "version-detail",
    "version-request-review",
    "version-sign-off",
    "version-promote",
    "version-rollback",
    "version-explain-row",
    "version-comment",
    "version-objection-resolve",
    "version-bundle",
    "report-status",
    "report-file",
    "audit-log",
    "audit-verify",
    "audit-head",
    "audit-export-csv",
    "audit-export-jsonl",
    "model-webhooks",
    "team-webhooks",
    "webhook-detail",
    "webhook-edit",
    "webhook-test",
    "webhook-redeliver",
    "webhook-rotate-secret",
    "webhook-enable",
    "webhook-disable",
    "webhook-delete",
}


def _pages(patterns, prefix: str = "") -> dict[str, URLPattern]:
    found: dict[str, URLPattern] = {}
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith(("api/", "admin/")):
                continue
            found |= _pages(entry.url_patterns, prefix + str(entry.pattern))
        elif entry.name and not str(entry.pattern).startswith("api/"):
            found[entry.name] = entry
    return found


def test_every_page_is_a_view_of_the_web_app():
    pages = _pages(get_resolver().url_patterns)

    assert set(pages) == PAGE_NAMES
    for name, pattern in pages.items():
        view = getattr(pattern.callback, "view_class", pattern.callback)
        module = view.__module__
        assert module.startswith("web.views.") or module.startswith("django.contrib.auth"), name


def test_the_domain_apps_have_no_page_modules():
    for app in ("registry", "explain", "reviews", "events"):
        folder = Path(apps.get_app_config(app).path)
        for module in ("urls.py", "views.py", "forms.py", "audit_views.py", "templatetags"):
            assert not (folder / module).exists(), f"{app}/{module}"
