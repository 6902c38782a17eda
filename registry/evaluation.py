"""Reading and validating evaluation data sets (CSV, or Parquet when pyarrow is present).

pandas is slow on some shapes of header (duplicate names, tens of thousands of columns:
a 100 KB header took 34 s), so the header is read and capped here before pandas sees the
file: for CSV the first line, for Parquet the footer metadata.

A registration (``dataset_check``) reads the upload once, block by block: the CSV through
pyarrow's streaming reader (the bytes hashed and checked as UTF-8 as they pass), Parquet by
batches, keeping only what the checks need of each role column (its missing count and its
distinct values), so the web process's memory is set by ``BLOCK_BYTES``, not by the rows.
The report workers parse the stored file whole with pandas (``load_dataset_frame``); the
checks here follow pandas' reading of the same bytes, so what passes here parses there.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import struct
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .models import EvaluationDataset  # models import this module

FIELD = "evaluation_data"

MAX_COLUMNS = 2000
# The CSV header line: 2,000 columns of names up to about 100 characters.
MAX_HEADER_BYTES = 256 * 1024
# The Parquet footer (schema and row-group metadata) is parsed whole before any data.
MAX_PARQUET_FOOTER_BYTES = 16 * 1024 * 1024
# A registration reads the upload in blocks of this many bytes (CSV; Parquet in batches of
# about as many rows of the checked columns): with the distinct values kept below, the
# bound on the web process's memory for the data, whatever its row count. Also the longest
# CSV row accepted.
BLOCK_BYTES = 1024 * 1024
# Rows per Parquet batch.
PARQUET_BATCH_ROWS = 64 * 1024
# Distinct values kept per checked column (label, prediction, protected): a binary column
# has two and a protected attribute a few groups. Past MAX_DISTINCT_VALUES in a column, or
# MAX_DISTINCT_BYTES for all checked columns together (each value counted with Python's
# overhead), the column is refused and its values are no longer kept.
MAX_DISTINCT_VALUES = 10_000
MAX_DISTINCT_BYTES = 16 * 1024 * 1024
_VALUE_OVERHEAD = 64


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
    return _header_line(fileobj)


def _header_line(fileobj: IO[bytes]) -> list[str]:
    """``csv_header`` from where the file stands (a stream that cannot seek)."""
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

    _check_parquet_tail(len(data), data[-8:])
    try:
        metadata = pq.ParquetFile(io.BytesIO(data)).metadata
        names = list(metadata.schema.to_arrow_schema().names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput.for_field(FIELD, f"Could not read the file as PARQUET: {exc}") from exc
    _check_parquet_width(metadata.num_columns)
    return names


def _check_parquet_tail(size: int, tail: bytes) -> None:
    """Refuse a file without Parquet's closing magic, or whose footer is too large to parse."""
    if size < 12 or tail[-4:] != b"PAR1":
        raise InvalidInput.for_field(FIELD, "Not a Parquet file (no PAR1 footer).")
    (footer,) = struct.unpack("<I", tail[-8:-4])
    if footer > MAX_PARQUET_FOOTER_BYTES:
        raise InvalidInput.for_field(
            FIELD,
            f"The Parquet metadata is {footer:,} bytes; at most "
            f"{MAX_PARQUET_FOOTER_BYTES:,} are accepted.",
        )


def _check_parquet_width(num_columns: int) -> None:
    # Leaf columns count nested fields too; they are what pyarrow decodes.
    if num_columns > MAX_COLUMNS:
        raise InvalidInput.for_field(
            FIELD,
            f"The Parquet file has {num_columns:,} columns; at most {MAX_COLUMNS:,} are accepted.",
        )


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


@dataclass(frozen=True)
class CheckedData:
    """An evaluation data set read once and found to match its metadata."""

    sha256: str
    size: int
    format: str
    row_count: int
    roles: ColumnRoles


@dataclass
class _Values:
    """What the checks need of a label, prediction or protected column, gathered block by
    block: its missing values and its distinct values (as read, before pandas' typing)."""

    budget: list[int]  # bytes left for the distinct values of every checked column
    missing: int = 0
    distinct: set[Any] = field(default_factory=set)
    size: int = 0
    overflow: bool = False

    def add(self, array: pa.Array) -> None:
        import pyarrow.compute as pc

        array, missing = _drop_missing(array)
        self.missing += missing
        if self.overflow or not len(array):
            return
        new = set(pc.unique(array).to_pylist()) - self.distinct
        size = sum(_VALUE_OVERHEAD + (len(v) if isinstance(v, str | bytes) else 8) for v in new)
        self.size += size
        self.budget[0] -= size
        self.distinct |= new
        if len(self.distinct) > MAX_DISTINCT_VALUES or self.budget[0] < 0:
            self.overflow = True
            self.budget[0] += self.size
            self.distinct.clear()


@dataclass
class _Scores:
    """What the checks need of the score column: whether every value is a number (or,
    as pandas reads a column of only true/false, a boolean) and whether all are in [0, 1]."""

    missing: int = 0
    numbers: bool = False
    booleans: bool = False
    other: bool = False
    out_of_range: bool = False

    def add(self, array: pa.Array) -> None:
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        array, missing = _drop_missing(array)
        self.missing += missing
        if not len(array):
            return
        if pa.types.is_boolean(array.type):
            self.booleans = True
            return
        try:
            numbers = pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Not all numbers as arrow reads them: pandas decides, as the old check did.
            parsed = pd.to_numeric(array.to_pandas(), errors="coerce")
            unparsed = array.filter(pa.array(parsed.isna().to_numpy()))
            if len(unparsed):
                if pc.all(pc.is_in(unparsed, value_set=pa.array(_CSV_BOOLEANS))).as_py():
                    self.booleans = True
                else:
                    self.other = True
            numbers = pa.array(parsed.dropna().to_numpy(), pa.float64())
        if len(numbers):
            self.numbers = True
            low, high = pc.min_max(numbers).values()
            if low.as_py() < 0 or high.as_py() > 1:
                self.out_of_range = True

    @property
    def numeric(self) -> bool:
        # A mix of true/false and numbers is text to pandas, and the text is not numeric.
        return not (self.missing or self.other or (self.booleans and self.numbers))


# What pandas reads as True and False in a CSV column of nothing else.
_CSV_BOOLEANS = ["True", "TRUE", "true", "False", "FALSE", "false"]


def _drop_missing(array: pa.Array) -> tuple[pa.Array, int]:
    """The array without its missing values (nulls, and NaN as pandas counts it), and how many."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    missing = array.null_count
    array = array.drop_null()
    if pa.types.is_floating(array.type):
        nan = pc.is_nan(array)
        count = pc.sum(nan).as_py() or 0
        if count:
            missing += count
            array = array.filter(pc.invert(nan))
    return array, missing


@dataclass
class _Summary:
    """The columns of a data set and what the checks need of its role columns."""

    present: Collection[str]
    values: Mapping[str, _Values]
    score: _Scores | None
    texts: Mapping[str, set[str]]


# A value with a letter outside those of numbers ("1e5", "inf", "Infinity", "nan") that is
# not a boolean is text to pandas, and so is every value of its column.
_NOT_NUMERIC = re.compile(r"[^\d\s+\-.eEiInNfFtTyYaA]")
_DIGITS = re.compile(r"\d{1,18}")


def _texts_from_csv(columns: Mapping[str, _Values]) -> dict[str, set[str]]:
    """The distinct values of each CSV column as text, typed as pandas types the whole
    column: pandas decides a column's type from the values it holds, so parsing each distinct
    value once (and a missing one, if any) gives the type it gives the column."""
    import pandas as pd

    texts: dict[str, set[str]] = {}
    parse: dict[str, list[str]] = {}
    for name, values in columns.items():
        if values.overflow:
            continue
        if all(_DIGITS.fullmatch(v) for v in values.distinct):
            # Integers (floats if some are missing, all whole): written as integers.
            texts[name] = {str(int(v)) for v in values.distinct}
        elif any(_NOT_NUMERIC.search(v) and v not in _CSV_BOOLEANS for v in values.distinct):
            texts[name] = set(values.distinct)
        else:  # numbers, booleans, or a mix: pandas decides
            parse[name] = [*sorted(values.distinct), *(["NaN"] if values.missing else [])]
    if parse:
        # One parse for them all; a shorter column repeats its first value (same type).
        rows = max(len(v) for v in parse.values())
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(list(parse))
        padded = [v + v[:1] * (rows - len(v)) for v in parse.values()]
        writer.writerows(zip(*padded, strict=True))
        frame = pd.read_csv(io.StringIO(out.getvalue()), low_memory=False)
        for i, name in enumerate(parse):
            texts[name] = set(_as_text(frame.iloc[:, i].dropna()).unique())
    return texts


def _texts_from_arrow(values: _Values, type_: pa.DataType) -> set[str]:
    """The distinct values of a Parquet column as text, as pandas reads the whole column."""
    import pyarrow as pa

    rows = [*values.distinct, *([None] if values.missing else [])]
    column = pa.array(rows, type=type_).to_pandas()
    return set(_as_text(column.dropna()).unique())


def validate_columns(summary: _Summary, columns: dict[str, Any]) -> ColumnRoles:
    """Check the data against the declared column roles; every failure names its field."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(f"metadata.columns.{field}", []).append(message)

    present = set(summary.present)
    label, prediction = columns["label"], columns["prediction"]
    score = columns.get("score") or ""
    favorable = columns["favorable_label"]
    protected = columns["protected"]
    features = list(columns.get("features") or [])
    favorable_text = str(favorable)

    for field_, column in (("label", label), ("prediction", prediction), ("score", score)):
        if column and column not in present:
            fail(field_, f"Column {column!r} is not in the evaluation data.")
    for column in protected:
        if column not in present:
            fail(f"protected.{column}", f"Column {column!r} is not in the evaluation data.")
    missing_features = [c for c in features if c not in present]
    if missing_features:
        fail("features", f"Columns not in the evaluation data: {', '.join(missing_features)}.")
    if errors:
        raise InvalidInput("The evaluation data does not match metadata.columns.", errors=errors)
    if not summary.values:
        return ColumnRoles(label, prediction, score, favorable, protected, features)

    def many() -> str:
        return (
            f"more than {MAX_DISTINCT_VALUES:,} distinct values (or more than the "
            f"{MAX_DISTINCT_BYTES // 2**20} MB kept of the checked columns' values)"
        )

    for field_, column in (("label", label), ("prediction", prediction)):
        values = summary.values[column]
        if values.missing:
            fail(field_, f"Column {column!r} has {values.missing} missing values.")
            continue
        if values.overflow:
            fail(field_, f"Column {column!r} must be binary; it has {many()}.")
            continue
        texts = summary.texts[column]
        if len(texts) > 2:
            shown = ", ".join(sorted(texts)[:5])
            fail(
                field_,
                f"Column {column!r} must be binary; it has {len(texts)} values ({shown}, ...).",
            )
    label_classes = summary.texts.get(label, set())
    predicted = summary.texts.get(prediction, set())
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
    overflowed = summary.values[label].overflow or summary.values[prediction].overflow
    if favorable_text not in label_values and not overflowed:
        errors.setdefault("metadata.columns.favorable_label", []).append(
            f"The favorable label {favorable!r} occurs in neither {label!r} nor {prediction!r}."
        )

    if score and summary.score is not None:
        if not summary.score.numeric:
            fail("score", f"Column {score!r} must be numeric with no missing values.")
        elif summary.score.out_of_range:
            fail("score", f"Column {score!r} must hold probabilities between 0 and 1.")

    for column, spec in protected.items():
        values = summary.values[column]
        if values.missing:
            fail(
                f"protected.{column}",
                f"Column {column!r} has {values.missing} missing values.",
            )
            continue
        if values.overflow:
            fail(f"protected.{column}", f"Column {column!r} has {many()}.")
            continue
        groups = summary.texts[column]
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


class _HashingReader(io.RawIOBase):
    """Reads a file from its start once, hashing the bytes and checking them as UTF-8 as
    they pass, so one read serves the digest, the encoding check and the parser."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        fileobj.seek(0)
        self._file = fileobj
        self._digest = hashlib.sha256()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._not_utf8 = ""
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(min(len(buffer), BLOCK_BYTES))
        self._digest.update(data)
        if not self._not_utf8:
            try:
                self._utf8.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                # Reported by finish(): a bad header line has its own message on the way.
                self._not_utf8 = f"near byte {self.size + exc.start:,}: {exc.reason}"
        self.size += len(data)
        buffer[: len(data)] = data
        return len(data)

    def finish(self) -> str:
        """Read whatever the parser left, and the sha256 of the whole file (a ValueError if
        it is not UTF-8, as pandas would refuse it)."""
        while self.readinto(bytearray(min(BLOCK_BYTES, 1 << 20))):
            pass
        self._file.seek(0)
        if self._not_utf8:
            raise ValueError(f"The file is not UTF-8 ({self._not_utf8}).")
        return self._digest.hexdigest()


def _role_columns(columns: dict[str, Any], present: Collection[str]) -> list[str]:
    """The columns whose values are checked (features need only exist), in order, once."""
    wanted = [columns["label"], columns["prediction"], *columns["protected"]]
    return [c for c in dict.fromkeys(wanted) if c in present]


def _check_csv(fileobj: IO[bytes], columns: dict[str, Any]) -> tuple[str, int, int, _Summary]:
    """Read a CSV once, in blocks: its sha256, size, row count and the checks' summary."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pandas._libs.parsers import STR_NA_VALUES  # the missing markers pandas reads

    raw = _HashingReader(fileobj)
    stream = io.BufferedReader(raw, buffer_size=64 * 1024)
    header = _header_line(stream)
    if not header:
        raise InvalidInput.for_field(
            FIELD, "Could not read the file as CSV: No columns to parse from file"
        )
    _check_columns(header, "CSV header")
    # pandas names a column without a name by its position.
    names = [name or f"Unnamed: {i}" for i, name in enumerate(header)]
    present = set(names)
    validate_columns(_Summary(present, {}, None, {}), columns)  # names first, before any data
    checked = _role_columns(columns, present)
    score = columns.get("score") or ""
    budget = [MAX_DISTINCT_BYTES]
    values = {c: _Values(budget) for c in checked}
    scores = _Scores()
    nulls = sorted(STR_NA_VALUES)
    short: list[list[str | None]] = []

    def add(batch: pa.RecordBatch | pa.Table) -> None:
        for name in checked:
            values[name].add(batch.column(name))
        if score:
            scores.add(batch.column(score))

    def add_short() -> None:
        # Rows with fewer fields than the header: pandas fills the rest as missing.
        table = pa.table(
            {
                name: pa.array(
                    [None if i >= len(row) or row[i] in STR_NA_VALUES else row[i] for row in short],
                    pa.string(),
                )
                for i, name in enumerate(names)
                if name in values or name == score
            }
        )
        add(table)
        short.clear()

    def on_invalid(row: Any) -> str:
        if row.actual_columns >= row.expected_columns:
            return "error"
        try:  # a quote left open to the end of the file is short too: pandas refuses it
            short.append(list(next(csv.reader([row.text], strict=True), [])))
        except csv.Error:
            return "error"
        return "skip"

    include = list(dict.fromkeys([*checked, *([score] if score else [])]))
    rows = 0
    try:
        if stream.peek(1):
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=names, block_size=BLOCK_BYTES, use_threads=False
                ),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=True, invalid_row_handler=on_invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    include_columns=include,
                    column_types={name: pa.string() for name in include},
                    null_values=nulls,
                    strings_can_be_null=True,
                ),
            )
            for batch in reader:
                rows += batch.num_rows
                add(batch)
                if len(short) >= 10_000:
                    rows += len(short)
                    add_short()
        rows += len(short)
        if short:
            add_short()
        digest = raw.finish()
    except (pa.ArrowInvalid, ValueError) as exc:
        message = str(exc)
        if "straddles" in message:
            message = f"A row is longer than the {BLOCK_BYTES // 2**20} MB read at a time."
        raise InvalidInput.for_field(
            FIELD, f"Could not read the file as CSV: {message[:300]}"
        ) from exc
    finally:
        fileobj.seek(0)
    texts = _texts_from_csv(values)
    return digest, raw.size, rows, _Summary(present, values, scores if score else None, texts)


def _check_parquet(fileobj: IO[bytes], columns: dict[str, Any]) -> tuple[int, _Summary]:
    """Read a Parquet file's checked columns batch by batch: its row count and the summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = fileobj.seek(0, io.SEEK_END)
    fileobj.seek(max(size - 8, 0))
    _check_parquet_tail(size, fileobj.read(8))
    fileobj.seek(0)
    try:
        parquet = pq.ParquetFile(fileobj, buffer_size=BLOCK_BYTES, pre_buffer=False)
        _check_parquet_width(parquet.metadata.num_columns)
        schema = parquet.schema_arrow
        names = list(schema.names)
        _check_columns(names, "Parquet file")
        # pandas turns the stored index back into the index: not a column of the frame.
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        present = [n for n in names if n not in {i for i in index if isinstance(i, str)}]
        validate_columns(_Summary(present, {}, None, {}), columns)
        checked = _role_columns(columns, present)
        score = columns.get("score") or ""
        budget = [MAX_DISTINCT_BYTES]
        values = {c: _Values(budget) for c in checked}
        scores = _Scores()
        include = list(dict.fromkeys([*checked, *([score] if score else [])]))
        rows = 0
        for batch in parquet.iter_batches(
            batch_size=PARQUET_BATCH_ROWS, columns=include, use_threads=False
        ):
            rows += batch.num_rows
            for name in checked:
                values[name].add(batch.column(name))
            if score:
                scores.add(batch.column(score))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput.for_field(FIELD, f"Could not read the file as PARQUET: {exc}") from exc
    finally:
        fileobj.seek(0)
    texts = {
        name: _texts_from_arrow(v, schema.field(name).type)
        for name, v in values.items()
        if not v.overflow
    }
    return rows, _Summary(present, values, scores if score else None, texts)


def dataset_check(fileobj: IO[bytes], filename: str, columns: dict[str, Any]) -> CheckedData:
    """Read an uploaded evaluation set once, in bounded blocks, and check it against the
    declared column roles: its digest, size, format and row count, or InvalidInput."""
    fileobj.seek(0)
    head = fileobj.read(8)
    fileobj.seek(0)
    fmt = detect_format(filename, head)
    if fmt == "parquet":
        digest, size = sha256_of(fileobj)  # the footer comes first: a second, plain read
        rows, summary = _check_parquet(fileobj, columns)
    else:
        digest, size, rows, summary = _check_csv(fileobj, columns)
    if not rows:
        raise InvalidInput.for_field(FIELD, "The file has no rows.")
    roles = validate_columns(summary, columns)
    return CheckedData(digest, size, fmt, rows, roles)


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
