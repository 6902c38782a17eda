"""Exporting a bundle in a real browser: the page says it is building, the zip downloads, and
the page then shows the manifest sha256 and the audit event that recorded the export."""

from __future__ import annotations

import re

import pytest

from registry.models import AuditEvent
from tests.builders import Candidate

from . import test_browser_journey as journey

browser = journey.browser  # the journey's Chromium fixture, shared

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_an_auditor_exports_a_bundle_and_sees_what_was_recorded(
    live_server, request, model, engineer, auditor
):
    Candidate().register(actor=engineer, model=model)
    page = journey.login(request.getfixturevalue("browser"), live_server.url, auditor.username)
    page.goto("/models/credit-default/versions/1.0.0/")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export bundle").click()
    status = page.locator("[data-bundle-status]")
    status.filter(has_text="recorded as audit event").wait_for()

    event = AuditEvent.objects.get(action="bundle.exported")
    assert download.value.suggested_filename == "credit-default-1.0.0-bundle.zip"
    assert status.inner_text() == (
        f"Exported credit-default-1.0.0-bundle.zip: manifest sha256 "
        f"{event.payload['manifest_sha256']}, recorded as audit event #{event.seq}."
    )
    assert page.get_by_role("button", name="Export bundle").is_enabled()
    assert not [v for v in journey.CSP_VIOLATIONS if re.search(r"/versions/", v)], (
        journey.CSP_VIOLATIONS
    )
    page.context.close()
