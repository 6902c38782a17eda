"""The reviewer's whole job in a real browser (Debian's Chromium driven by Playwright),
against a live server and a real Celery worker on the embedded broker.

Screenshots of the dashboard, version, model and audit pages are saved under
``test-artifacts/screenshots/`` (override with GATEHOUSE_SCREENSHOTS).

Every page the journey shows, at 1360 px and at 390 px, is checked with axe-core, injected
from the copy ``scripts/services.sh`` installs with npm into ``tests/integration/axe/`` (the
version pinned in its package-lock.json); the journey fails on any serious or critical finding.
So are the pages no step of it reaches by a link (the review policy editor, the rollback
confirmation, the 404 and 403 pages, the API docs), each screenshotted at both sizes and checked
for width on the phone. On the version pages, the SHAP plots' smallest text must measure at
least 11 CSS px as shown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from events.dispatch import dispatch
from registry import services as registry_services
from registry.audit.chain import audit_verify
from registry.models import AuditEvent, ModelVersion
from registry.roles import Role
from reviews.models import ProductionEvent, SignOff
from tests.builders import PASSWORD, make_user, sha

from .conftest import filesystem_broker, publishing_to, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(
    os.environ.get(
        "GATEHOUSE_SCREENSHOTS",
        Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots",
    )
)
# Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
# between page actions are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def fair_candidate(version: str, n: int = 3000, seed: int = 3) -> tuple[dict, bytes, bytes]:
    """A candidate whose predictions ignore the protected attribute, with a skops model."""
    from sklearn.linear_model import LogisticRegression
    from skops.io import dumps

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["male", "female"], n),
            "income": rng.normal(50, 12, n).round(2),
            "debt_ratio": rng.uniform(0, 1, n).round(3),
        }
    )
    logit = 0.09 * (frame["income"] - 50) - 3 * (frame["debt_ratio"] - 0.5)
    frame["repaid"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = LogisticRegression().fit(frame[["income", "debt_ratio"]], frame["repaid"])
    frame["score"] = model.predict_proba(frame[["income", "debt_ratio"]])[:, 1].round(6)
    frame["approved"] = (frame["score"] >= 0.5).astype(int)
    model_bytes = dumps(model)
    metadata = {
        "version": version,
        "artifact_uri": f"s3://models/credit/{version}.skops",
        "artifact_sha256": sha(model_bytes),
        "code_commit": "a1b2c3d4e5f6a7b8c9d0",
        "training_data_uri": "s3://data/train.csv",
        "training_data_sha256": "d" * 64,
        "metrics": {"accuracy": 0.8},
        "columns": {
            "label": "repaid",
            "prediction": "approved",
            "score": "score",
            "favorable_label": 1,
            "protected": {"sex": {"privileged": ["male"]}},
            "features": ["income", "debt_ratio"],
        },
    }
    return metadata, frame.to_csv(index=False).encode(), model_bytes


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (make services installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield instance
        instance.close()


# Chromium reports each blocked inline script or style, or foreign source, on the console.
CSP_VIOLATIONS: list[str] = []


def watch_csp(page) -> None:
    page.on(
        "console",
        lambda msg: (
            CSP_VIOLATIONS.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text
            else None
        ),
    )


AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Serious or critical accessibility findings, "<page>: <rule> (<impact>): <help> at <targets>".
AXE_FINDINGS: list[str] = []
# The pages' policy allows scripts from their own origin only: the test serves its copy of
# axe-core at a path of that origin (answered by the browser context, never by the app), so
# injecting it breaks no rule of the Content-Security-Policy the journey also checks.
AXE_URL = "/__test__/axe.min.js"
AXE_CHECKED: set[str] = set()
AXE_RUN = """async (skip) => {
  const rules = Object.fromEntries(skip.map(id => [id, {enabled: false}]));
  const result = await axe.run(document, {resultTypes: ['violations'], rules});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.id} (${v.impact}): ${v.help} at ` +
      v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""


def check_a11y(page, name: str, skip: tuple[str, ...] = ()) -> None:
    """Run axe-core on the page as it is now and keep its serious or critical findings; the
    rules in ``skip`` are not run (only for markup not ours, each with its reason)."""
    width = page.viewport_size["width"]
    key = f"{name} @{width}px"
    if key in AXE_CHECKED:
        return
    AXE_CHECKED.add(key)
    page.add_script_tag(url=AXE_URL)
    findings = page.evaluate(AXE_RUN, list(skip))
    AXE_FINDINGS.extend(f"{key} {page.url}: {finding}" for finding in findings)


DESKTOP = {"width": 1360, "height": 900}
PHONE = {"width": 390, "height": 844}


def login(browser, base_url: str, username: str, viewport: dict | None = None):
    context = browser.new_context(viewport=viewport or DESKTOP, base_url=base_url)
    context.route(f"**{AXE_URL}", lambda route: route.fulfill(path=AXE))
    page = context.new_page()
    watch_csp(page)
    page.goto("/login/")
    check_a11y(page, "login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def shot(page, name: str, skip: tuple[str, ...] = ()) -> None:
    """Keep a full-page screenshot, and check the page with axe-core."""
    check_a11y(page, name, skip)
    # A full-page screenshot scrolls nothing, so lazy images far down would stay blank in it.
    page.evaluate(EAGER_IMAGES)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


EAGER_IMAGES = """() => Promise.all([...document.images].map(img => {
  img.loading = 'eager';
  return img.decode().catch(() => null);
}))"""


def register_and_review(page, base_url: str, ci_token: str, number: str, seed: int) -> None:
    """CI registers a candidate through the API; the engineer watches its reports finish on
    the version page and asks for review."""
    metadata, csv, model_bytes = fair_candidate(number, seed=seed)
    response = page.request.post(
        f"{base_url}/api/v1/models/credit-default/versions/",
        headers={"Authorization": f"Bearer {ci_token}", "Idempotency-Key": f"build-{number}"},
        multipart={
            "metadata": json.dumps(metadata),
            "evaluation_data": {"name": "evaluation.csv", "mimeType": "text/csv", "buffer": csv},
            "model": {
                "name": "model.skops",
                "mimeType": "application/octet-stream",
                "buffer": model_bytes,
            },
        },
    )
    assert response.status == 201, response.text()

    page.goto(f"/models/credit-default/versions/{number}/")
    assert page.locator("#reports").get_attribute("data-live")  # live while reports run
    page.locator("#fairness .badge.verdict-pass").first.wait_for(timeout=120_000)
    page.locator("#shap img").first.wait_for(timeout=120_000)
    # The drift reference is queued last: wait for it too.
    page.locator("#reports .badge.status-succeeded").nth(5).wait_for(timeout=60_000)
    assert page.locator("#reports .badge.status-succeeded").count() == 6
    assert page.locator("#lime .lime-row").count() >= 1
    check_a11y(page, "version-before-review")

    page.get_by_role("button", name="Request review").click()
    page.get_by_text(f"Review requested for {number}.").wait_for()


def sign_off(signer, number: str) -> None:
    """Approve with re-authentication; a wrong password is refused next to the field."""
    signer.goto(f"/models/credit-default/versions/{number}/")
    signer.get_by_label("Approved").check()
    signer.get_by_label("Your password").fill("not my password")
    signer.get_by_role("button", name="Sign").click()
    signer.get_by_text("Password incorrect").wait_for()
    check_a11y(signer, "signoff-refused")
    signer.get_by_label("Approved").check()
    signer.get_by_label("Your password").fill(PASSWORD)
    signer.get_by_role("button", name="Sign").click()
    signer.get_by_text(f"Signed: approved for {number}.").wait_for()
    signer.locator("#signed").get_by_text("Approved", exact=True).wait_for()


def test_a_candidate_goes_from_ci_to_production_in_the_browser(
    live_server, start_worker, browser, team, other_team, engineer
):
    CSP_VIOLATIONS.clear()
    AXE_FINDINGS.clear()
    AXE_CHECKED.clear()
    if not AXE.exists():
        unavailable("axe-core is not installed (make services installs it with npm)")
    reviewer = make_user("rita", [Role.REVIEWER], [team])
    officer = make_user("oscar", [Role.RISK_OFFICER], [team])
    make_user("auditor", [Role.AUDITOR])
    make_user("olga", [Role.ML_ENGINEER], [other_team])
    model = registry_services.model_create(
        actor=engineer,
        name="credit-default",
        title="Credit default",
        owner_team=team,
        risk_tier="high",
    )
    ci_token = registry_services.ci_account_create(
        actor=None, name="ci-credit", models=[model]
    ).secret
    url, options = filesystem_broker(start_worker.data_dir)

    with publishing_to(url, options):
        start_worker(url)
        page = login(browser, live_server.url, "eng")

        # The first candidate goes all the way; the second replaces it.
        for number, seed in (("1.0.0", 3), ("1.1.0", 4)):
            register_and_review(page, live_server.url, ci_token, number, seed)
            for person in (reviewer, officer):
                signer = login(browser, live_server.url, person.username)
                sign_off(signer, number)
                if person is officer:
                    shot(signer, f"version-{number}-approved")
                    signer.get_by_label("Release note").fill(f"Release {number}")
                    signer.get_by_role("button", name="Promote to production").click()
                    # The confirmation step names what production has now.
                    signer.locator("#replaced").wait_for()
                    shot(signer, f"promote-confirm-{number}")
                    signer.get_by_role("button", name="Confirm promotion").click()
                    signer.get_by_text(f"{number} is now in production.").wait_for()
                    shot(signer, "version")
                signer.context.close()

        officer_page = login(browser, live_server.url, officer.username)
        officer_page.goto("/")
        production = officer_page.locator("section[aria-labelledby=prod-h]").inner_text()
        assert "1.1.0" in production and "1.0.0" not in production
        shot(officer_page, "dashboard")
        officer_page.goto("/models/credit-default/")
        timeline = officer_page.locator("#timeline").inner_text()
        assert "1.1.0 — promoted by oscar" in timeline
        assert "1.0.0 — promoted by oscar" in timeline
        assert "Replaced by 1.1.0 (promoted): “Release 1.1.0”" in timeline
        assert "rita (Reviewer)" in timeline and "oscar (Risk officer)" in timeline
        assert (
            "Archived" in officer_page.locator("section[aria-labelledby=versions-h]").inner_text()
        )
        shot(officer_page, "model")
        officer_page.context.close()

    assert dict(ModelVersion.objects.values_list("version", "status")) == {
        "1.0.0": "archived",
        "1.1.0": "production",
    }
    assert SignOff.objects.filter(decision="approved").count() == 4
    assert list(
        ProductionEvent.objects.order_by("at").values_list("version__version", "replaced__version")
    ) == [
        ("1.0.0", None),
        ("1.1.0", "1.0.0"),
    ]

    # The auditor sees every step in the audit log, with a valid chain.
    auditor = login(browser, live_server.url, "auditor")
    auditor.goto("/audit/?model=credit-default")
    log = auditor.locator("main").inner_text()
    for action in (
        "version.registered",
        "report.completed",
        "review.requested",
        "signoff.approved",
        "version.promoted",
    ):
        assert action in log, action
    auditor.get_by_role("button", name=re.compile("Verify chain")).click()
    auditor.get_by_text(re.compile(r"Chain verified: .* events intact")).wait_for()
    shot(auditor, "audit")
    # The API docs (Swagger UI from the sidecar) work under their own, slightly wider policy.
    auditor.goto("/api/docs/")
    auditor.get_by_text("/api/v1/models/", exact=True).first.wait_for()
    auditor.context.close()
    # Every page of the journey ran under the Content-Security-Policy without a violation.
    assert not CSP_VIOLATIONS, CSP_VIOLATIONS
    assert audit_verify().ok
    assert AuditEvent.objects.filter(action="version.promoted", actor_name="oscar").exists()

    # An outsider logs in and cannot see the model at all.
    outsider = login(browser, live_server.url, "olga")
    assert "credit-default" not in outsider.locator("main").inner_text()
    response = outsider.goto("/models/credit-default/versions/1.1.0/")
    assert response.status == 404
    response = outsider.goto("/models/credit-default/")
    assert response.status == 404
    outsider.context.close()

    # The audit events of the journey become notifications (the beat would do it every few s).
    dispatch()

    # On a phone, no page is wider than the screen; the review panel comes before the evidence.
    # Every page is checked with axe-core at both sizes.
    wide = {}
    plot_labels = {}
    for viewport in (DESKTOP, PHONE):
        for username, urls in (
            (officer.username, PHONE_PAGES),
            ("auditor", ["/audit/", "/audit/?model=credit-default"]),
        ):
            phone = login(browser, live_server.url, username, viewport=viewport)
            for url in urls:
                phone.goto(url)
                name = re.sub(r"[^a-z0-9]+", "-", url.strip("/")) or "dashboard"
                if "/versions/" in url:
                    plot_labels[f"{url} @{viewport['width']}px"] = phone.evaluate(PLOT_LABELS)
                if viewport is DESKTOP:
                    check_a11y(phone, f"{username}-{name}")
                    continue
                if too_wide := overflow(phone):
                    wide[url] = too_wide
                shot(phone, f"phone-{username}-{name}")
            phone.context.close()
        # The pages no link of the journey shows at this size: each is screenshotted, checked
        # with axe-core and, on the phone, for width.
        for username, pages in OTHER_PAGES.items():
            other = login(browser, live_server.url, username, viewport=viewport)
            for name, reach, skip in pages:
                reach(other)
                if viewport is PHONE and (too_wide := overflow(other)):
                    wide[name] = too_wide
                shot(other, f"{'phone' if viewport is PHONE else 'desktop'}-{name}", skip)
            other.context.close()
    assert wide == {}, wide
    # The SHAP plots' smallest text, in CSS px as the page shows it: legible on a phone too.
    assert len(plot_labels) == 4 and all(len(sizes) == 2 for sizes in plot_labels.values())
    assert all(min(sizes) >= 11 for sizes in plot_labels.values()), plot_labels
    assert not CSP_VIOLATIONS, CSP_VIOLATIONS
    # axe-core checked every page at both sizes and found nothing serious or critical.
    for width in (DESKTOP["width"], PHONE["width"]):
        checked = [key for key in AXE_CHECKED if key.endswith(f"@{width}px")]
        others = sum(len(pages) for pages in OTHER_PAGES.values())
        assert len(checked) >= 1 + len(PHONE_PAGES) + 2 + others, (
            width,
            sorted(checked),
        )
    assert not AXE_FINDINGS, "\n".join(AXE_FINDINGS)


def overflow(page) -> tuple[int, list[str]] | None:
    """How far the page reaches past a phone's screen, and what reaches there; None if not."""
    width = page.evaluate("document.documentElement.scrollWidth")
    return (width, page.evaluate(WIDEST)) if width > PHONE["width"] else None


def open_policy_editor(page) -> None:
    page.goto("/models/credit-default/policy/")
    page.get_by_role("button", name="Show the change").wait_for()


def open_rollback_confirmation(page) -> None:
    """The rollback form of the archived version leads to the confirmation, left unconfirmed."""
    page.goto("/models/credit-default/versions/1.0.0/")
    page.get_by_label("Why roll back").fill("Checking the confirmation step")
    page.get_by_role("button", name="Roll back to 1.0.0").click()
    page.get_by_role("button", name=re.compile("Confirm rollback")).wait_for()


def open_not_found(page) -> None:
    response = page.goto("/models/no-such-model/")
    assert response.status == 404
    page.get_by_role("heading", name="Page not found").wait_for()


def open_not_allowed(page) -> None:
    """A reviewer sees the model but may not change its review policy."""
    response = page.goto("/models/credit-default/policy/")
    assert response.status == 403
    page.get_by_role("heading", name="Not allowed").wait_for()


def open_api_docs(page) -> None:
    page.goto("/api/docs/")
    page.get_by_text("/api/v1/models/", exact=True).first.wait_for()


def open_inbox(page) -> None:
    """The risk officer's inbox: the promotions and approvals of the journey, as notifications."""
    page.goto("/inbox/")
    page.get_by_role("heading", name="Inbox", exact=True).wait_for()
    assert page.locator("li.notification").count() > 0, "the inbox is empty"


def open_new_webhook(page) -> None:
    """The engineer adds a webhook to the model: the secret is shown once."""
    page.goto("/models/credit-default/webhooks/")
    page.get_by_label("Payload URL").fill(
        f"https://ci.example.com/hooks/{page.viewport_size['width']}"
    )
    page.get_by_label("Event types").fill("version.*")
    page.get_by_role("button", name=re.compile("Add")).click()
    page.get_by_role("heading", name="Webhook created").wait_for()
    assert page.get_by_label("Signing secret (shown once)").input_value().startswith("whsec_")


def open_webhook(page) -> None:
    """The list of the model's webhooks, then the newest one's page with its deliveries."""
    page.goto("/models/credit-default/webhooks/")
    page.get_by_role("heading", name="Add a webhook").wait_for()
    page.locator("main a[href^='/webhooks/']").last.click()
    page.get_by_role("heading", name="Deliveries").wait_for()


# Who visits them: (screenshot and axe name, how to get there, axe rules not run there).
OTHER_PAGES = {
    "oscar": [
        ("policy-edit", open_policy_editor, ()),
        ("rollback-confirm", open_rollback_confirmation, ()),
        ("not-found", open_not_found, ()),
        ("inbox", open_inbox, ()),
    ],
    "eng": [("webhook-created", open_new_webhook, ()), ("webhook", open_webhook, ())],
    "rita": [("not-allowed", open_not_allowed, ())],
    # Swagger UI renders each operation's summary as a button holding the copy-path and
    # expand buttons (nested-interactive): its React markup, not a template of ours.
    "auditor": [("api-docs", open_api_docs, ("nested-interactive",))],
}

# Each SHAP plot's smallest text in CSS px at the width the page shows the plot: the font size
# in the SVG's units, scaled by the image's width over the SVG's own.
PLOT_LABELS = """async () => Promise.all([...document.querySelectorAll('#shap img')].map(async img => {
  img.loading = 'eager';
  await img.decode();
  const svg = await (await fetch(img.src)).text();
  const own = parseFloat(svg.match(/viewBox="[\\d.]+ [\\d.]+ ([\\d.]+)/)[1]);
  const fonts = [...svg.matchAll(/font[^;"]*?([\\d.]+)px/g)].map(m => parseFloat(m[1]));
  return Math.min(...fonts) * img.clientWidth / own;
}))"""


# The elements reaching past the right edge of the screen, named for the failure message.
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""

PHONE_PAGES = [
    "/",
    "/models/",
    "/models/credit-default/",
    "/models/credit-default/?compare=1.1.0&with=1.0.0",
    "/models/credit-default/versions/1.1.0/",
    "/models/credit-default/versions/1.0.0/",
    "/profile/",
]
