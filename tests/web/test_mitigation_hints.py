"""Mitigation hints a reviewer can follow safely: the demo's 1.0.0 fails fairness on sex because
``occupation_score`` carries it; the page says to remove that feature and links 1.1.0, which
did; reweighing is explained rather than offered when its weights are about 1; a threshold per
protected group is withheld, or shown with its legal risk, as the model's fairness policy says."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q

from explain.models import FairnessPolicy, GroupThresholds, Report, ReportStatus
from explain.presenters import LEGAL_RISK, mitigation_hints
from explain.services import report_run, version_register
from registry import demo as registry_demo
from registry.models import RegisteredModel
from tests.builders import web

PROXY = {"feature": "occupation_score", "attribute": "sex", "nmi": 0.6, "abs_correlation": 0.8}
PREVIEW = {
    "available": True,
    "privileged_threshold": 0.5,
    "smallest_change_into_band": {
        "threshold": 0.41,
        "disparate_impact": 0.83,
        "equal_opportunity_difference": 0.02,
    },
}


def weights(*values: float) -> dict:
    a, b, c, d = values
    return {
        "privileged": {"favorable": a, "unfavorable": b},
        "unprivileged": {"favorable": c, "unfavorable": d},
    }


def kinds_of(hints: list[dict]) -> list[str]:
    return [hint["kind"] for hint in hints]


def test_a_proxy_comes_first_with_the_version_that_removed_it():
    hints = mitigation_hints(
        {"reweighing": weights(1.2, 0.8, 0.7, 1.4), "thresholds": PREVIEW},
        [PROXY],
        GroupThresholds.WITHHOLD,
        {"occupation_score": "1.1.0"},
    )

    assert kinds_of(hints) == ["proxy", "reweighing", "thresholds-withheld"]
    assert hints[0]["fixed_in"] == "1.1.0"
    assert hints[1]["balanced"] is False


def test_reweighing_with_weights_about_one_is_explained_not_offered():
    (hint,) = mitigation_hints(
        {"reweighing": weights(0.996, 1.005, 1.004, 0.997)}, [], GroupThresholds.SHOW, {}
    )

    assert hint["balanced"] is True
    assert hint["range"] == (0.996, 1.005)


@pytest.mark.parametrize(
    ("policy", "kind", "risk"),
    [
        (GroupThresholds.WITHHOLD, "thresholds-withheld", LEGAL_RISK),
        (GroupThresholds.CAVEAT, "thresholds", LEGAL_RISK),
        (GroupThresholds.SHOW, "thresholds", ""),
    ],
)
def test_a_threshold_per_group_follows_the_fairness_policy(policy, kind, risk):
    (hint,) = mitigation_hints({"thresholds": PREVIEW}, [], policy, {})

    assert hint["kind"] == kind
    assert hint["legal_risk"] == risk
    assert ("preview" in hint) is (kind == "thresholds")


# --- the demo, as a reviewer sees it ---------------------------------------------------------


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture
def demo_model(settings, tmp_path) -> RegisteredModel:
    settings.DATA_DIR = tmp_path
    settings.GATEHOUSE_BOOTSTRAP_SAMPLES = 50
    registry_demo.seed()
    for registration in registry_demo.version_registrations():
        version_register(**registration)
    model = RegisteredModel.objects.get(name="credit-default")
    # Only what the finding needs: both versions' fairness, and 1.0.0's SHAP (its proxies).
    for report in Report.objects.filter(
        Q(version__version__in=["1.0.0", "1.1.0"], kind="fairness")
        | Q(version__version="1.0.0", kind="shap"),
        version__model=model,
        status=ReportStatus.QUEUED,
    ):
        report_run(report_id=report.pk)
    return model


def fairness_section(client, model) -> str:
    html = client.get(f"/models/{model.name}/versions/1.0.0/").content.decode()
    start = html.index('id="fairness"')
    return text(html[start : html.index('id="performance"')])


def test_the_demo_opens_with_the_decision_and_names_the_proxy_that_fixed_it(db, demo_model):
    """One test, as the demo costs seconds to seed: the banner first, then the findings."""
    people = {u.username: u for u in get_user_model().objects.all()}
    engineer = banner(web(people["mlengineer"]), demo_model, "1.0.0")

    assert engineer.startswith("✗ Blocked: ")
    assert "Review requested: status is registered" in engineer
    assert re.search(
        r"Fairness fail: \w[\w ]+, sex female vs male: \d\.\d\d \[95% CI \d\.\d\d to \d\.\d\d\], "
        r"policy",
        engineer,
    ), engineer
    assert "Likely cause: occupation_score carries sex" in engineer
    assert "Next for you: Version 1.1.0 already removes the likely cause" in engineer

    reviewer = banner(web(people["reviewer"]), demo_model, "1.0.0")
    assert "Next for you: Nothing for you to do now" in reviewer
    # The outsider never reaches the page.
    assert web(people["outsider"]).get("/models/credit-default/versions/1.0.0/").status_code == 404

    client = web(people["reviewer"])
    section = fairness_section(client, demo_model)

    assert "Remove or rework occupation_score" in section
    assert "Version 1.1.0 leaves it out and its fairness report passes" in section
    # What removing it is estimated to do, computed where the model was loaded: toward parity.
    moved = re.search(
        r"Estimated, without retraining: neutralising occupation_score would move disparate "
        r"impact \(female vs male\) from (\d\.\d\d) to (\d\.\d\d) \(policy 0\.80 to 1\.25\)",
        section,
    )
    assert moved, section
    observed, estimated = map(float, moved.groups())
    assert observed < 0.8 and abs(estimated - 1) < abs(observed - 1)
    print("demo 1.0.0:", moved.group(0))
    assert "Reweighing would not help here" in section
    assert "not suggested: this model's fairness policy withholds it" in section
    assert "Group thresholds (a preview" not in section

    # The SHAP importance table marks the proxy where it ranks.
    page = client.get("/models/credit-default/versions/1.0.0/").content.decode()
    shap = text(page[page.index('id="shap"') : page.index('id="lime"')])
    assert "occupation_score possible proxy for sex" in shap

    FairnessPolicy.objects.create(model=demo_model, group_thresholds=GroupThresholds.CAVEAT)
    caveated = fairness_section(client, demo_model)
    assert "Group thresholds (a preview" in caveated
    assert "Legal risk: " + LEGAL_RISK in caveated


def banner(client, model, version: str) -> str:
    html = client.get(f"/models/{model.name}/versions/{version}/").content.decode()
    start = html.index('<section class="banner')
    return text(html[start : html.index("</section>", start)])
