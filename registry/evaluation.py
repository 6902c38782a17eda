"""Reading and validating evaluation data sets (CSV, or Parquet when pyarrow is present).

pandas is slow on some shapes of header (duplicate names, tens of thousands of columns:
a 100 KB header took 34 s), so the header is read and capped here before pandas sees the
file: for CSV the first line, for Parquet the footer metadata.
"""

from __future__ import annotations

import csv
import hashlib
import io
import struct
from collections import Counter
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from .errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from .models import EvaluationDataset  # models import this module

FIELD = "evaluation_data"

MAX_COLUMNS = 2000
# The CSV header line: 2,000 columns of names up to about 100 characters.
MAX_HEADER_BYTES = 256 * 1024
# The Parquet footer (schema and row-group metadata) is parsed whole before any data.
MAX_PARQUET_FOOTER_BYTES = 16 * 1024 * 1024


def parquet_supported() -> bool:
    """Whether pyarrow is installed, so Parquet uploads can be read."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def sha256_of(fileobj: IO[bytes], chunk_size: int = 1 << 20) -> tuple[str, int]:
    """The sha256 and size of a file object, read in chunks, rewound afterwards."""
    digest = hashlib.sha256()
    size = 0
    fileobj.seek(0)
    while chunk := fileobj.read(chunk_size):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size


def detect_format(filename: str, head: bytes) -> str:
    """``parquet`` for Parquet files (by magic bytes), ``csv`` otherwise."""
    if head[:4] == b"PAR1" or filename.lower().endswith(".parquet"):
        if not parquet_supported():
            raise InvalidInput.for_field(
                FIELD, "Parquet needs pyarrow installed; send CSV instead."
            )
        return "parquet"
    return "csv"


def _check_columns(names: list[str], where: str) -> None:
    """Refuse too many columns or repeated names (pandas would rename them silently)."""
    if len(names) > MAX_COLUMNS:
        raise InvalidInput.for_field(
            FIELD, f"The {where} has {len(names):,} columns; at most {MAX_COLUMNS:,} are accepted."
        )
    # Empty names are fine: pandas numbers them ("Unnamed: 0"), as for a saved index.
    repeated = sorted(name for name, count in Counter(names).items() if count > 1 and name)
    if repeated:
        shown = ", ".join(repr(name[:100]) for name in repeated[:5])
        raise InvalidInput.for_field(FIELD, f"Column names must be unique; repeated: {shown}.")


def csv_header(fileobj: IO[bytes]) -> list[str]:
    """The column names on a CSV's first non-blank line, read within MAX_HEADER_BYTES."""
    fileobj.seek(0)
    budget = MAX_HEADER_BYTES
    line = b""
    while budget > 0:
        line = fileobj.readline(budget + 1)
        budget -= len(line)
        if not line or line.strip(b"\r\n"):
            break
    if budget < 0 or (budget == 0 and not line.endswith(b"\n")):
        raise InvalidInput.for_field(
            FIELD, f"The CSV header line is longer than {MAX_HEADER_BYTES // 1024:,} KB."
        )
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput.for_field(FIELD, f"The CSV header is not UTF-8: {exc}") from exc
    return next(csv.reader([text.rstrip("\r\n")]), [])


def parquet_columns(data: bytes) -> list[str]:
    """A Parquet file's column names, from its footer, after checking the footer's size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(data) < 12 or data[-4:] != b"PAR1":
        raise InvalidInput.for_field(FIELD, "Not a Parquet file (no PAR1 footer).")
    (footer,) = struct.unpack("<I", data[-8:-4])
    if footer > MAX_PARQUET_FOOTER_BYTES:
        raise InvalidInput.for_field(
            FIELD,
            f"The Parquet metadata is {footer:,} bytes; at most "
            f"{MAX_PARQUET_FOOTER_BYTES:,} are accepted.",
        )
    try:
        metadata = pq.ParquetFile(io.BytesIO(data)).metadata
        names = list(metadata.schema.to_arrow_schema().names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput.for_field(FIELD, f"Could not read the file as PARQUET: {exc}") from exc
    # Leaf columns count nested fields too; they are what pyarrow decodes.
    if metadata.num_columns > MAX_COLUMNS:
        raise InvalidInput.for_field(
            FIELD,
            f"The Parquet file has {metadata.num_columns:,} columns; at most "
            f"{MAX_COLUMNS:,} are accepted.",
        )
    return names


def read_frame(fileobj: IO[bytes], fmt: str) -> pd.DataFrame:
    """Parse the uploaded bytes into a DataFrame, or a clear error on the upload field."""
    import pandas as pd

    fileobj.seek(0)
    try:
        if fmt == "parquet":
            data = fileobj.read()
            _check_columns(parquet_columns(data), "Parquet file")
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            _check_columns(csv_header(fileobj), "CSV header")
            fileobj.seek(0)
            frame = pd.read_csv(fileobj, low_memory=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError) as exc:
        raise InvalidInput.for_field(
            FIELD, f"Could not read the file as {fmt.upper()}: {exc}"
        ) from exc
    finally:
        fileobj.seek(0)
    if frame.empty:
        raise InvalidInput.for_field(FIELD, "The file has no rows.")
    return frame


def _as_text(values: pd.Series) -> pd.Series:
    """Values as text, with whole floats written as integers so 1.0 matches 1."""
    import pandas as pd

    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    return values.astype(str)


@dataclass(frozen=True)
class ColumnRoles:
    """The validated role of each column of an evaluation set."""

    label: str
    prediction: str
    score: str
    favorable_label: Any
    protected: dict[str, dict[str, list[Any]]]
    features: list[str]


def validate_columns(frame: pd.DataFrame, columns: dict[str, Any]) -> ColumnRoles:
    """Check the data against the declared column roles; every failure names its field."""
    import pandas as pd

    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(f"metadata.columns.{field}", []).append(message)

    present = set(frame.columns)
    label, prediction = columns["label"], columns["prediction"]
    score = columns.get("score") or ""
    favorable = columns["favorable_label"]
    protected = columns["protected"]
    features = list(columns.get("features") or [])
    favorable_text = str(favorable)

    for field, column in (("label", label), ("prediction", prediction), ("score", score)):
        if column and column not in present:
            fail(field, f"Column {column!r} is not in the evaluation data.")
    for column in protected:
        if column not in present:
            fail(f"protected.{column}", f"Column {column!r} is not in the evaluation data.")
    missing_features = [c for c in features if c not in present]
    if missing_features:
        fail("features", f"Columns not in the evaluation data: {', '.join(missing_features)}.")
    if errors:
        raise InvalidInput("The evaluation data does not match metadata.columns.", errors=errors)

    for field, column in (("label", label), ("prediction", prediction)):
        series = frame[column]
        if series.isna().any():
            fail(field, f"Column {column!r} has {int(series.isna().sum())} missing values.")
            continue
        values = set(_as_text(series).unique())
        if len(values) > 2:
            shown = ", ".join(sorted(values)[:5])
            fail(
                field,
                f"Column {column!r} must be binary; it has {len(values)} values ({shown}, ...).",
            )
    label_classes = set(_as_text(frame[label].dropna()).unique())
    predicted = set(_as_text(frame[prediction].dropna()).unique())
    if "metadata.columns.label" not in errors and len(label_classes) < 2:
        # One class leaves every rate undefined: fairness would only ever be inconclusive.
        fail(
            "label",
            f"Column {label!r} must hold both classes; it has only "
            f"{', '.join(sorted(label_classes)) or 'none'}.",
        )
    elif "metadata.columns.prediction" not in errors and not predicted <= label_classes:
        # Predictions compare with labels value by value; yes/no against 0/1 never matches.
        fail(
            "prediction",
            f"Column {prediction!r} has values that are not classes of {label!r}: "
            f"{', '.join(sorted(predicted - label_classes)[:5])} "
            f"(classes: {', '.join(sorted(label_classes))}).",
        )
    label_values = label_classes | predicted
    if favorable_text not in label_values:
        errors.setdefault("metadata.columns.favorable_label", []).append(
            f"The favorable label {favorable!r} occurs in neither {label!r} nor {prediction!r}."
        )

    if score:
        series = pd.to_numeric(frame[score], errors="coerce")
        if series.isna().any():
            fail("score", f"Column {score!r} must be numeric with no missing values.")
        elif ((series < 0) | (series > 1)).any():
            fail("score", f"Column {score!r} must hold probabilities between 0 and 1.")

    for column, spec in protected.items():
        series = frame[column]
        if series.isna().any():
            fail(
                f"protected.{column}",
                f"Column {column!r} has {int(series.isna().sum())} missing values.",
            )
            continue
        groups = set(_as_text(series).unique())
        if len(groups) < 2:
            fail(
                f"protected.{column}",
                f"Column {column!r} needs at least two groups; it has {len(groups)}.",
            )
        absent = [v for v in spec["privileged"] if str(v) not in groups]
        if absent:
            fail(
                f"protected.{column}.privileged",
                f"Privileged values not found in column {column!r}: {', '.join(map(str, absent))}.",
            )
        elif len({str(v) for v in spec["privileged"]}) >= len(groups):
            fail(
                f"protected.{column}.privileged",
                "Every group is privileged; leave at least one out.",
            )

    if errors:
        raise InvalidInput("The evaluation data does not match metadata.columns.", errors=errors)
    return ColumnRoles(label, prediction, score, favorable, protected, features)


# The last data set a worker read, parsed: a version's automatic reports run one after the
# other on the same data, so each reads and checks the file but only the first parses it.
_PARSED: dict[str, pd.DataFrame] = {}
# Frames larger than this (counting object columns by their pointers) are not kept between
# reports: the worker's memory matters more.
MAX_CACHED_FRAME_BYTES = 64 * 1024 * 1024


def load_dataset_frame(dataset: EvaluationDataset) -> pd.DataFrame:
    """Read a stored EvaluationDataset back into a DataFrame, checking its digest first."""
    with dataset.file.open("rb") as fh:
        digest, _ = sha256_of(fh)
        if digest != dataset.sha256:
            raise ValueError(
                f"The stored evaluation data of {dataset.version} does not match its sha256 "
                f"({digest} != {dataset.sha256}); refusing to compute on altered data."
            )
        key = f"{dataset.format}:{digest}"
        cached = _PARSED.get(key)
        if cached is not None:
            # A copy: a runner may change the frame it is given.
            return cached.copy()
        frame = read_frame(fh, dataset.format)
    _PARSED.clear()
    if frame.memory_usage(index=True, deep=False).sum() <= MAX_CACHED_FRAME_BYTES:
        _PARSED[key] = frame.copy()
    return frame
