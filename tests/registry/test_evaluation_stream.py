"""Registration reads the evaluation data once, in bounded blocks: errors anywhere in the file
are still found (and nothing is stored), and the values are typed over the whole column as the
report workers' pandas parse types them."""

from __future__ import annotations

import csv
import hashlib
import io

import pandas as pd
import pytest

from registry import evaluation
from registry.models import EvaluationDataset, ModelVersion
from tests.builders import Candidate, evaluation_frame, post_version

# A 2,000-row candidate is about 80 KB: 20 blocks of 4 KB.
SMALL_BLOCK = 4096


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(evaluation, "BLOCK_BYTES", SMALL_BLOCK)
    monkeypatch.setattr(evaluation, "PARQUET_BATCH_ROWS", 100)


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def _post_bytes(client, model_name: str, body: bytes, name: str = "evaluation.csv", **columns):
    request = Candidate(column_overrides=columns).multipart()
    request["evaluation_data"] = io.BytesIO(body)
    request["evaluation_data"].name = name
    return client.post(f"/api/v1/models/{model_name}/versions/", request, format="multipart")


def _late(frame: pd.DataFrame, column: str, value) -> pd.DataFrame:
    """``frame`` with ``value`` in ``column`` of its next-to-last row only."""
    frame = frame.copy()
    frame[column] = frame[column].astype(object)
    frame.loc[len(frame) - 2, column] = value
    return frame


LATE_ERRORS = [
    ("repaid", None, "metadata.columns.label", "Column 'repaid' has 1 missing values."),
    ("approved", 7, "metadata.columns.prediction", "Column 'approved' must be binary"),
    ("sex", None, "metadata.columns.protected.sex", "Column 'sex' has 1 missing values."),
    ("score", "high", "metadata.columns.score", "must be numeric with no missing values"),
    ("score", 1.5, "metadata.columns.score", "must hold probabilities between 0 and 1"),
]


@pytest.mark.parametrize(
    ("column", "value", "field", "message"),
    LATE_ERRORS,
    ids=["missing-label", "third-class", "missing-group", "text-score", "score-range"],
)
def test_a_value_error_in_the_last_block_is_reported_and_nothing_stored(
    ci_client, model, small_blocks, _media_root, column, value, field, message
):
    candidate = Candidate(frame=_late(evaluation_frame(2000), column, value))
    assert len(candidate.csv()) > 10 * SMALL_BLOCK

    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400, response.json()
    assert message in response.json()["errors"][field][0]
    assert not ModelVersion.objects.exists()
    assert not EvaluationDataset.objects.exists()
    assert stored_files(_media_root) == []


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"male,old,1,0.5,1,1,0.5,9\n", "Expected 7 columns, got 8"),
        (b"male,old,\xff,0.5,1,1,0.5\n", "The file is not UTF-8"),
        (b'male,old,"unclosed,0.5,1,1,0.5\n', "Could not read the file as CSV"),
        (b"male,old," + b"9" * (2 * SMALL_BLOCK) + b",0.5,1,1,0.5\n", "A row is longer than"),
    ],
    ids=["extra-field", "not-utf8", "open-quote", "row-over-a-block"],
)
def test_a_malformed_last_row_is_refused_on_the_upload_field(
    ci_client, model, small_blocks, _media_root, tail, message
):
    body = Candidate(frame=evaluation_frame(2000)).csv() + tail

    response = _post_bytes(ci_client, model.name, body)

    assert response.status_code == 400, response.json()
    assert message in response.json()["errors"]["evaluation_data"][0]
    assert not ModelVersion.objects.exists()
    assert stored_files(_media_root) == []


class ReadLog(io.BytesIO):
    """An upload that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.reads.append(len(data))
        return data


def test_a_file_of_many_blocks_is_read_once_in_bounded_reads(small_blocks):
    body = Candidate(frame=evaluation_frame(2000)).csv()
    upload = ReadLog(body)

    checked = evaluation.dataset_check(upload, "evaluation.csv", Candidate().metadata()["columns"])

    assert checked.row_count == 2000
    assert checked.sha256 == hashlib.sha256(body).hexdigest()
    assert checked.size == len(body)
    # One pass: every byte read once (the 8 bytes of the format sniff aside), never more
    # than a block at a time, and the upload left rewound for storage.
    assert max(upload.reads) <= SMALL_BLOCK
    assert sum(upload.reads) - 8 == len(body)
    assert len([n for n in upload.reads if n]) > 10
    assert upload.tell() == 0


def test_a_registration_never_parses_the_whole_upload_with_pandas(ci_client, model, monkeypatch):
    parsed: list[int] = []
    read_csv = pd.read_csv

    def spy(source, *args, **kwargs):
        parsed.append(len(source.getvalue()) if isinstance(source, io.StringIO) else -1)
        return read_csv(source, *args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", spy)
    candidate = Candidate(frame=evaluation_frame(2000))

    assert post_version(ci_client, model.name, candidate).status_code == 201

    # At most the distinct values of the checked columns are parsed, a few bytes each.
    assert all(0 < size < 200 for size in parsed), parsed


def test_values_are_typed_over_the_whole_column_as_pandas_types_them(
    ci_client, model, small_blocks
):
    # 1 and 0 early, 1.0 in the last block: pandas reads the column as floats, all whole,
    # so the label still has two classes that match the predictions' 0 and 1.
    body = Candidate(frame=evaluation_frame(2000)).csv()
    body += b"male,old,50.0,0.5,1.0,1,0.5\n"

    response = _post_bytes(ci_client, model.name, body)

    assert response.status_code == 201, response.json()
    dataset = EvaluationDataset.objects.get()
    assert dataset.row_count == 2001
    frame = evaluation.load_dataset_frame(dataset)
    assert sorted(evaluation._as_text(frame["repaid"]).unique()) == ["0", "1"]


def test_short_rows_are_filled_with_missing_values_as_pandas_does(ci_client, model, small_blocks):
    body = Candidate(frame=evaluation_frame(2000)).csv()

    no_score = _post_bytes(ci_client, model.name, body + b"male,old,50.0,0.5,1,1\n")
    no_features = _post_bytes(
        ci_client, model.name, body + b"male,old\n", score="", features=[], label="sex"
    )

    assert no_score.status_code == 400
    assert (
        "must be numeric with no missing values"
        in (no_score.json()["errors"]["metadata.columns.score"][0])
    )
    # Filled label and prediction are missing too: refused on those columns, as before.
    assert "metadata.columns.prediction" in no_features.json()["errors"]
    assert not ModelVersion.objects.exists()


def test_a_protected_column_of_too_many_values_is_refused(
    ci_client, model, monkeypatch, _media_root
):
    monkeypatch.setattr(evaluation, "MAX_DISTINCT_VALUES", 50)
    frame = evaluation_frame(400)
    frame["sex"] = [f"person-{i}" for i in range(400)]
    candidate = Candidate(
        frame=frame, column_overrides={"protected": {"sex": {"privileged": ["person-1"]}}}
    )

    response = post_version(ci_client, model.name, candidate)

    assert response.status_code == 400
    assert (
        "more than 50 distinct values"
        in (response.json()["errors"]["metadata.columns.protected.sex"][0])
    )
    assert stored_files(_media_root) == []


def test_parquet_is_checked_batch_by_batch(ci_client, model, small_blocks, tmp_path):
    good = evaluation_frame(2000)
    late_nan = good.assign(repaid=good["repaid"].astype(float).mask(good.index == 1990))
    answers = []
    for frame in (late_nan, good):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, row_group_size=300)
        answers.append(_post_bytes(ci_client, model.name, buffer.getvalue(), "eval.parquet"))

    refused, accepted = answers
    assert refused.status_code == 400
    assert refused.json()["errors"]["metadata.columns.label"] == [
        "Column 'repaid' has 1 missing values."
    ]
    assert accepted.status_code == 201, accepted.json()
    dataset = EvaluationDataset.objects.get()
    assert (dataset.format, dataset.row_count) == ("parquet", 2000)


COLUMN_VALUES = [
    ["0", "1", "01", ""],
    ["1", "0", "1.0", "0.0"],
    ["1", "0", "0.5"],
    ["True", "False", "true"],
    ["True", "male", "female"],
    ["-1", "+1", " 1"],
    ["1,000", "2"],
    ["inf", "2", "1e3"],
    ["yes", "no", "NA", "None"],
]


@pytest.mark.parametrize("raw", COLUMN_VALUES, ids=lambda raw: "|".join(raw))
def test_distinct_values_read_as_text_as_pandas_reads_the_whole_column(raw, small_blocks):
    # Each value in its own block or so: the type is the whole column's, not a block's.
    rows = [["id", "value"]] + [[str(i), raw[i % len(raw)]] for i in range(3000)]
    out = io.StringIO()
    csv_writer = csv.writer(out, lineterminator="\n")
    csv_writer.writerows(rows)
    body = out.getvalue().encode()
    columns = {"label": "value", "prediction": "value", "favorable_label": 1, "protected": {}}

    *_, summary = evaluation._check_csv(io.BytesIO(body), columns)

    whole = pd.read_csv(io.BytesIO(body), low_memory=False)["value"].dropna()
    assert summary.texts["value"] == set(evaluation._as_text(whole).unique())
    assert summary.values["value"].missing == 3000 - len(whole)


def test_the_distinct_values_kept_are_bounded_over_all_checked_columns(
    ci_client, model, monkeypatch, _media_root
):
    # 300 distinct values of about 70 bytes each fit in one column's share, not in two.
    monkeypatch.setattr(evaluation, "MAX_DISTINCT_BYTES", 30_000)
    frame = evaluation_frame(300)
    frame["sex"] = [f"s-{i}" for i in range(300)]
    frame["age_group"] = [f"a-{i}" for i in range(300)]
    protected = {"sex": {"privileged": ["s-1"]}, "age_group": {"privileged": ["a-1"]}}
    candidate = Candidate(frame=frame, column_overrides={"protected": protected})

    errors = post_version(ci_client, model.name, candidate).json()["errors"]

    assert "metadata.columns.protected.sex" not in errors
    assert (
        "MB kept of the checked columns' values"
        in (errors["metadata.columns.protected.age_group"][0])
    )
    assert stored_files(_media_root) == []
