"""Where the version page and the bundle name a proxy as the likely cause of a fairness finding,
they also say what neutralising it is estimated to do, plainly as an estimate without
retraining, against the policy band; a SHAP report made before the estimate still renders, with
no such line."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from explain.presenters import proxy_effect_text, proxy_warnings
from reviews.bundles import build as bundles
from reviews.bundles.context import _report_context
from tests.builders import Candidate, web
from tests.web.test_comparison import POLICY, settle

PROXY = {
    "feature": "occupation_score",
    "attribute": "sex",
    "nmi": 0.6,
    "abs_correlation": 0.8,
    "rank": 1,
    "share": 0.4,
}
EFFECTS = [
    {
        "feature": "occupation_score",
        "protected": "sex",
        "metric": metric,
        "unprivileged": ["female"],
        "privileged": ["male"],
        "observed": observed,
        "estimated": estimated,
        "method": "permutation",
        "seed": 0,
        "rows": 2000,
    }
    for metric, observed, estimated in (
        ("disparate_impact", 0.58123, 0.8349),
        ("statistical_parity_difference", -0.2104, -0.0702),
    )
]
SENTENCE = (
    "Estimated, without retraining: neutralising occupation_score would move disparate impact "
    "(female vs male) from 0.58 to 0.83 (policy 0.80 to 1.25) and statistical parity "
    "difference from -0.21 to -0.07 (policy within ±0.10), on 2000 rows re-predicted with its "
    "values shuffled across them."
)
FAIRNESS = {
    "verdict": "fail",
    "policy": POLICY,
    "attributes": {
        "sex": {
            "privileged": ["male"],
            "verdict": "fail",
            "groups": [],
            "comparisons": [
                {
                    "kind": "aggregate",
                    "unprivileged": ["female"],
                    "verdict": "fail",
                    "metrics": {
                        "disparate_impact": {"value": 0.58, "ci": [0.56, 0.61], "verdict": "fail"}
                    },
                    "mitigation": None,
                }
            ],
        }
    },
    "intersections": {},
}


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_estimate_is_one_sentence_against_the_policy_band():
    (warning,) = proxy_warnings({"proxies": {"warnings": [PROXY], "effects": EFFECTS}}, FAIRNESS)

    assert warning["effect"] == SENTENCE
    assert proxy_effect_text(EFFECTS, None).endswith(
        "from 0.58 to 0.83 and statistical parity difference from -0.21 to -0.07, on 2000 rows "
        "re-predicted with its values shuffled across them."
    )
    # A report made before the estimate, or a feature beyond those it covers: no sentence.
    (old,) = proxy_warnings({"proxies": {"warnings": [PROXY]}}, FAIRNESS)
    assert old["effect"] == ""
    other = {**PROXY, "feature": "postcode"}
    assert proxy_warnings({"proxies": {"warnings": [other], "effects": EFFECTS}}, FAIRNESS)[0][
        "effect"
    ] == ("")


@pytest.fixture
def version(model, ci):
    version = Candidate(version="1.0.0").register(actor=ci[0], token=ci[1], model=model).version
    settle(version, "fairness", FAIRNESS)
    return version


def page(client, version) -> tuple[str, str]:
    html = client.get(f"/models/{version.model.name}/versions/1.0.0/").content.decode()
    findings = html[
        html.index('<ol class="findings"') : html.index("</ol>", html.index("findings-h"))
    ]
    section = html[html.index('id="fairness-sex"') : html.index('id="performance"')]
    return text(findings), text(section)


def test_the_finding_and_its_hint_give_the_estimate(version, reviewer, outsider, engineer):
    settle(version, "shap", {"proxies": {"warnings": [PROXY], "effects": EFFECTS}})

    findings, section = page(web(reviewer), version)

    assert "Likely cause: occupation_score carries sex (a proxy; SHAP evidence ). " + SENTENCE in (
        findings
    )
    assert "Remove or rework occupation_score ." in section and SENTENCE in section
    # The bundle names it too, beside the proxy.
    context = _report_context(
        version, list(version.reports.all()), {}, timezone.now(), engineer, []
    )
    bundle = text(render_to_string(bundles.TEMPLATE, context))
    assert "occupation_score ↔ sex : normalised mutual information 0.60" in bundle
    assert SENTENCE in bundle
    assert web(outsider).get(f"/models/{version.model.name}/versions/1.0.0/").status_code == 404


def test_a_report_made_before_the_estimate_renders_without_it(version, reviewer, engineer):
    settle(version, "shap", {"proxies": {"warnings": [PROXY]}})

    findings, section = page(web(reviewer), version)

    assert "Likely cause: occupation_score carries sex (a proxy; SHAP evidence )." in findings
    assert "Remove or rework occupation_score" in section
    assert "Estimated" not in findings + section
    context = _report_context(
        version, list(version.reports.all()), {}, timezone.now(), engineer, []
    )
    bundle = text(render_to_string(bundles.TEMPLATE, context))
    assert "occupation_score ↔ sex" in bundle and "Estimated" not in bundle
