"""The version page's fairness section opens with one sorted list of findings (failing before
inconclusive), each with an interval chart that has a labelled axis, the band, the ideal line
and an interval that stays visible; a glossary says what the measures mean; the lineage's long
digests fold under their first 12 characters."""

from __future__ import annotations

import re
from html import unescape

from explain.presenters import whisker
from tests.builders import Candidate, web
from tests.web.test_comparison import POLICY, settle

BAND_DI = (0.8, 1.25)


def xs(svg: str, css: str) -> list[float]:
    return [float(x) for x in re.findall(rf'<line x1="([\d.]+)"[^>]*class="{css}', svg)]


def test_the_whisker_has_a_labelled_axis_the_ideal_line_and_a_visible_interval():
    ratio = str(whisker("disparate_impact", 0.58, [0.56, 0.61], BAND_DI, "fail"))
    difference = str(whisker("statistical_parity_difference", 0.0, [0.0, 0.0], (-0.1, 0.1), "pass"))

    # The ideal sits at parity: 1 for a ratio, in the middle of the 0-2 axis; 0 for a difference.
    assert xs(ratio, "wb-ideal") == [120.0]
    assert xs(difference, "wb-ideal") == [120.0]
    labels = re.findall(r'<text[^>]*class="wb-label"[^>]*>([^<]+)</text>', ratio)
    assert labels == ["0", "ideal 1", "2"]
    assert re.findall(r'class="wb-label"[^>]*>([^<]+)<', difference) == ["-0.5", "ideal 0", "0.5"]
    assert 'class="wb-band"' in ratio
    # A zero-width interval is still drawn, centred on its value.
    left, right = re.search(
        r'<line x1="([\d.]+)" y1="11" x2="([\d.]+)" y2="11" class="wb-ci', difference
    ).groups()
    assert float(right) - float(left) >= 3 and (float(left) + float(right)) / 2 == 120.0
    assert 'role="img"' in ratio and "ideal 1, fail" in ratio
    assert 'viewBox="0 0 240 36"' in ratio


def test_the_axis_widens_to_show_an_interval_beyond_it():
    svg = str(whisker("disparate_impact", 2.4, [2.1, 2.7], BAND_DI, "fail"))

    assert re.findall(r'class="wb-label"[^>]*>([^<]+)<', svg) == ["0", "ideal 1", "3"]
    ends = re.search(r'<line x1="([\d.]+)" y1="11" x2="([\d.]+)" y2="11"', svg).groups()
    assert float(ends[1]) < 228  # inside the axis's right end, not clipped to it


def finding(name: str, value: float, ci: list[float], verdict: str) -> dict:
    return {
        "kind": "group",
        "unprivileged": [name],
        "verdict": verdict,
        "metrics": {"disparate_impact": {"value": value, "ci": ci, "verdict": verdict}},
    }


def test_the_version_page_lists_findings_failing_first_with_glossary_and_folded_digests(
    model, ci, reviewer
):
    version = Candidate(version="1.0.0").register(actor=ci[0], token=ci[1], model=model).version
    settle(
        version,
        "fairness",
        {
            "verdict": "fail",
            "policy": POLICY,
            "attributes": {
                "age_group": {
                    "privileged": ["middle"],
                    "verdict": "inconclusive",
                    "groups": [],
                    "comparisons": [finding("young", 0.79, [0.6, 1.0], "inconclusive")],
                },
                "sex": {
                    "privileged": ["male"],
                    "verdict": "fail",
                    "groups": [],
                    "comparisons": [
                        finding("female", 0.58, [0.56, 0.61], "fail"),
                        finding("other", 0.7, [0.65, 0.75], "fail"),
                    ],
                },
            },
            "intersections": {},
        },
    )

    proxy = {"feature": "occupation_score", "attribute": "sex", "nmi": 0.6, "rank": 1}
    settle(version, "shap", {"proxies": {"warnings": [proxy]}, "global_importance": []})

    html = web(reviewer).get(f"/models/{model.name}/versions/1.0.0/").content.decode()

    listed = html[
        html.index('<ol class="findings"') : html.index("</ol>", html.index("findings-h"))
    ]
    items = [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", li)).split())
        for li in listed.split('<li class="finding">')[1:]
    ]
    assert [item.split()[0] for item in items] == ["fail", "fail", "inconclusive"]
    assert "Disparate impact, sex female vs male: 0.58 [95% CI 0.56 to 0.61]" in items[0]
    assert "age_group young vs middle" in items[2]
    assert listed.count('<svg class="whisker"') == 3
    # The proxy that explains the sex findings: its warning beside the first, named after.
    assert "Likely cause: occupation_score carries sex (a proxy; SHAP evidence" in items[0]
    assert "carries" not in items[1]
    assert "Likely cause: occupation_score , as above." in items[1]  # named, not repeated
    assert "Likely cause" not in items[2]
    # The detailed tables come after the list, folded.
    assert html.index('id="fairness-sex"') > html.index('<ol class="findings"')
    assert re.search(r'<details class="unit" id="fairness-sex">', html)
    glossary = html[
        html.index('<details class="glossary">') : html.index(
            "</details>", html.index('<details class="glossary">')
        )
    ]
    for term in ("TPR", "FPR", "Base rate", "Selection rate", "Disparate impact", "Theil index"):
        assert f"<dt>{term}" in glossary, term

    lineage = html[html.index('id="lineage-h"') :]
    digest = version.artifact_sha256
    folded = re.search(
        r'<details class="digest-more"><summary><span class="digest">(\w+)…</span></summary>'
        rf'<span class="digest">{digest}</span></details>',
        lineage,
    )
    assert folded and folded.group(1) == digest[:12]
    assert (
        lineage.count('<details class="digest-more">') == 4
    )  # artifact, data, evaluation, content


def test_findings_past_the_first_eight_fold(model, ci, reviewer):
    version = Candidate(version="1.0.0").register(actor=ci[0], token=ci[1], model=model).version
    groups = [finding(f"g{n}", 0.5 + n / 100, [0.45, 0.7], "fail") for n in range(10)]
    attribute = {"privileged": ["male"], "verdict": "fail", "groups": [], "comparisons": groups}
    result = {"verdict": "fail", "policy": POLICY, "attributes": {"sex": attribute}}
    settle(version, "fairness", {**result, "intersections": {}})

    html = web(reviewer).get(f"/models/{model.name}/versions/1.0.0/").content.decode()

    first = html[html.index('<ol class="findings"') : html.index("</ol>", html.index("findings-h"))]
    assert first.count('<li class="finding">') == 8
    assert "sex g0 vs male" in first and "sex g8 vs male" not in first  # farthest out first
    folded = html[html.index("2 more findings</summary>") :]
    assert '<ol class="findings" start="9">' in folded
    assert folded[: folded.index("</details>")].count('<li class="finding">') == 2
