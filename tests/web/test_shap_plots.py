"""The SHAP plots on the version page: text that says what each plot shows, and a size that
keeps their labels legible where the page shows them."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.builders import register, web

pytestmark = pytest.mark.django_db


def figures(html: str) -> list[tuple[str, str]]:
    """(alt text, caption text) of each figure of the SHAP section."""
    section = html[html.index('id="shap"') : html.index('id="lime"')]
    return [
        (unescape(alt), " ".join(unescape(re.sub(r"<[^>]+>", " ", caption)).split()))
        for alt, caption in re.findall(
            r'<figure>.*?<img [^>]*alt="([^"]*)".*?<figcaption>(.*?)</figcaption>', section, re.S
        )
    ]


def test_each_plot_says_what_it_shows_and_over_how_many_rows(engineer, model, outsider):
    version = register(engineer, model)
    rows = version.reports.get(kind="shap").result["sample"]["explained_rows"]
    page = web(engineer).get(f"/models/{model.name}/versions/{version.version}/")

    shown = dict(figures(page.content.decode()))
    assert len(shown) == 2
    summary = f"SHAP summary: features ranked by mean |SHAP value| over {rows} explained rows"
    assert shown[summary].startswith(
        f"SHAP summary: features ranked by mean |SHAP value| over {rows} rows explained."
    )
    beeswarm = next(alt for alt in shown if alt.startswith("SHAP beeswarm:"))
    assert f"one dot per explained row ({rows}) and feature" in beeswarm
    assert shown[beeswarm].startswith(
        f"SHAP values per row: how each feature pushes single predictions ({rows} rows explained)."
    )
    assert not any(".svg" in alt or ".svg" in caption for alt, caption in shown.items())
    # The plots are the version's: an outsider never sees the page.
    response = web(outsider).get(f"/models/{model.name}/versions/{version.version}/")
    assert response.status_code == 404
