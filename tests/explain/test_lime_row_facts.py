"""Each explained row comes with what a reviewer weighs its explanation against: the row's
feature values, its recorded label and the model's recorded decision, from the evaluation data
(and the version page shows them beside the bars)."""

from __future__ import annotations

from explain.models import Report, ReportStatus
from explain.services import report_request, report_run
from tests.builders import fair_frame, register, web

FRAME = fair_frame(n=80)


def test_an_explained_row_carries_its_values_label_and_decision(ci, model, reviewer):
    version = register(ci[0], model, token=ci[1], frame=FRAME, shap=True, run=False)
    report = report_request(
        actor=reviewer, version=version, kind="lime", params={"rows": [3, 41]}
    ).report
    report_run(report_id=report.pk)
    report.refresh_from_db()

    assert report.status == ReportStatus.SUCCEEDED, report.error
    data = version.evaluation_data
    rows = {row["row"]: row for row in report.result["rows"]}
    assert set(rows) == {3, 41}
    for at, row in rows.items():
        expected = FRAME.iloc[at]
        assert row["feature_values"] == {f: float(expected[f]) for f in data.feature_columns}
        assert row["label"] == expected[data.label_column].item()
        assert row["decision"] == expected[data.prediction_column].item()
    assert report.result["favorable_label"] == data.favorable_label

    page = web(reviewer).get(f"/models/{model.name}/versions/{version.version}/").content.decode()
    shown = rows[3]
    assert f"model's decision <code>{shown['decision']}</code>" in page
    assert f"actual label <code>{shown['label']}</code>" in page
    assert "(this row: " in page
    assert Report.objects.filter(pk=report.pk, kind="lime").exists()


def test_the_automatic_explanation_suggests_declined_rows_to_explain_next(ci, model, reviewer):
    version = register(ci[0], model, token=ci[1], frame=FRAME, shap=True, run=False)
    report = Report.objects.get(version=version, kind="lime")
    report_run(report_id=report.pk)
    report.refresh_from_db()
    data = version.evaluation_data

    picks = report.result["suggested_rows"]
    explained = {row["row"] for row in report.result["rows"]}
    assert picks and not {p["row"] for p in picks} & explained
    for pick in picks:
        at = FRAME.iloc[pick["row"]]
        assert at[data.prediction_column] != data.favorable_label  # every pick was declined
        if pick["reason"] == "declined, label favourable":
            assert at[data.label_column] == data.favorable_label
        else:
            column, value = pick["reason"].removeprefix("declined, ").split(" = ")
            assert str(at[column]) == value

    # The page offers them as buttons of the explain-row form; one click asks for that row.
    client = web(reviewer)
    page = client.get(f"/models/{model.name}/versions/{version.version}/").content.decode()
    first = picks[0]["row"]
    assert f'name="row" value="{first}"' in page
    client.post(f"/models/{model.name}/versions/{version.version}/explain-row/", {"row": first})
    assert Report.objects.filter(version=version, kind="lime", params__rows=[first]).exists()


def test_a_report_made_before_rows_carried_their_facts_still_renders(ci, model, reviewer):
    version = register(ci[0], model, token=ci[1], frame=FRAME, shap=True, run=False)
    report = Report.objects.get(version=version, kind="lime")
    report_run(report_id=report.pk)
    report.refresh_from_db()
    old = dict(report.result)
    old.pop("suggested_rows")
    old["rows"] = [
        {k: v for k, v in row.items() if k not in ("feature_values", "label", "decision")}
        for row in old["rows"]
    ]
    Report.objects.filter(pk=report.pk).update(result=old)

    response = web(reviewer).get(f"/models/{model.name}/versions/{version.version}/")

    assert response.status_code == 200
    assert "(this row: " not in response.content.decode()
