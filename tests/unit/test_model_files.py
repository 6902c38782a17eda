"""Model files: pickles and joblib are refused, skops is audited against the allow-list."""

from __future__ import annotations

import ast
import hashlib
import io
import pickle
import resource
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from registry import model_files, sandbox, sandbox_child, skops_archive
from registry.model_files import (
    ACCEPTED_FORMATS,
    UnsafeModelFile,
    detect_format,
    inspect_model_file,
    load_model,
    load_model_limited,
)
from tests.skops_files import skops_bomb, skops_with_schema

SIDE_EFFECTS: list[str] = []


def double(values):
    """A user-defined function: skops would have to import and call it."""
    return values * 2


class Sneaky(BaseEstimator, ClassifierMixin):
    """A custom class whose state restoring would run code if it were ever loaded."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)

    def __setstate__(self, state):
        SIDE_EFFECTS.append("loaded")
        self.__dict__.update(state)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.3, size=300) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("module", [model_files, sandbox, sandbox_child, skops_archive])
def test_module_never_imports_an_unpickler(module) -> None:
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & {
        "pickle",
        "joblib",
        "cloudpickle",
        "dill",
    }


def test_pickle_file_is_refused(tmp_path: Path, data) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression().fit(*data)))
    for call in (inspect_model_file, load_model):
        with pytest.raises(UnsafeModelFile, match="pickle") as caught:
            call(path)
        assert ACCEPTED_FORMATS in str(caught.value)


def test_pickle_content_under_a_skops_name_is_refused(tmp_path: Path, data) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(LogisticRegression().fit(*data)))
    with pytest.raises(UnsafeModelFile, match="pickle"):
        load_model(path)


def test_joblib_file_is_refused(tmp_path: Path, data) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(*data), path)
    with pytest.raises(UnsafeModelFile, match="joblib") as caught:
        load_model(path)
    assert ACCEPTED_FORMATS in str(caught.value)


def test_compressed_joblib_content_is_refused(tmp_path: Path, data) -> None:
    path = tmp_path / "model.bin"
    joblib.dump(LogisticRegression().fit(*data), path, compress=3)
    with pytest.raises(UnsafeModelFile, match="joblib") as caught:
        inspect_model_file(path)
    assert "zlib" in str(caught.value)


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (b"\x80\x05\x95", "", "pickle"),
        (b"\x08\x01\x12", "model.onnx", "ONNX"),
        (b"PK\x03\x04", "model.pt", "PyTorch"),
        (b"hello", "notes.txt", "not a recognised model file"),
    ],
)
def test_other_formats_are_named(head: bytes, filename: str, expected: str) -> None:
    with pytest.raises(UnsafeModelFile, match=expected) as caught:
        detect_format(head, filename)
    assert ACCEPTED_FORMATS in str(caught.value)


def test_skops_is_detected() -> None:
    assert detect_format(b"PK\x03\x04rest", "model.skops") == "skops"


def test_function_transformer_with_custom_function_is_refused(data) -> None:
    model = Pipeline([("f", FunctionTransformer(double)), ("lr", LogisticRegression())])
    blob = sio.dumps(model.fit(*data))
    with pytest.raises(UnsafeModelFile, match=r"not on the allow-list: .*double"):
        load_model(blob)


def test_custom_class_is_refused_without_running_it(tmp_path: Path, data) -> None:
    path = tmp_path / "model.skops"
    sio.dump(Sneaky().fit(*data), path)
    with pytest.raises(UnsafeModelFile, match=r"Sneaky"):
        inspect_model_file(path)
    with pytest.raises(UnsafeModelFile, match=r"Sneaky"):
        load_model(path)
    assert SIDE_EFFECTS == []


def test_non_estimator_root_is_refused() -> None:
    with pytest.raises(UnsafeModelFile, match="not a scikit-learn estimator"):
        load_model(sio.dumps({"weights": [1, 2, 3]}))


def test_zip_without_schema_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.pkl", b"\x80\x05.")
    with pytest.raises(UnsafeModelFile, match="Not a valid skops file"):
        inspect_model_file(buffer.getvalue())


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(),
        lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
        lambda: Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]),
        lambda: RandomForestClassifier(n_estimators=5, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
        # skops writes arrays its members share once, referred to again under one __id__.
        lambda: CalibratedClassifierCV(LogisticRegression(), cv=3),
    ],
    ids=[
        "logistic",
        "gradient-boosting",
        "pipeline",
        "random-forest",
        "hist-gradient-boosting",
        "calibrated-shared-arrays",
    ],
)
def test_trusted_skops_models_load_and_predict_identically(tmp_path: Path, data, make) -> None:
    X, y = data
    original = make().fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(original, path)

    info = inspect_model_file(path)
    loaded = load_model(path)

    blob = path.read_bytes()
    assert info.format == "skops"
    assert info.sha256 == hashlib.sha256(blob).hexdigest()
    assert info.size == len(blob)
    assert info.estimator_class == type(original).__name__
    assert type(loaded) is type(original)
    np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))


def test_inspection_names_every_type_in_the_file(data) -> None:
    info = inspect_model_file(sio.dumps(GradientBoostingClassifier(n_estimators=3).fit(*data)))
    assert "sklearn.tree._tree.Tree" in info.types
    assert "sklearn.ensemble._gb.GradientBoostingClassifier" in info.types


def test_tree_with_out_of_range_child_is_refused(data) -> None:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(*data)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10_000
    state["nodes"] = nodes
    model.tree_.__setstate__(state)
    with pytest.raises(UnsafeModelFile, match="child index is out of range"):
        load_model(sio.dumps(model))


def test_tree_reading_beyond_the_input_is_refused(data) -> None:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(*data)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["feature"][0] = 50
    state["nodes"] = nodes
    model.tree_.__setstate__(state)
    with pytest.raises(UnsafeModelFile, match="split feature is out of range"):
        load_model(sio.dumps(model))


@pytest.mark.parametrize(
    "ids",
    [lambda i: 1000 + i, lambda i: None, lambda i: 0],
    ids=["distinct-ids", "no-ids", "zero-ids"],
)
def test_one_member_read_many_times_is_refused_without_reading_it(data, ids) -> None:
    # 100 KB that skops would expand to 100 x 8 MB: it read the member once per reference.
    bomb = skops_bomb(data, references=100, member_mb=8, ids=ids)
    assert len(bomb) < 150_000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    for call in (inspect_model_file, load_model):
        with pytest.raises(UnsafeModelFile, match=r"'bomb\.npy' from more than one object"):
            call(bomb)

    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grew_mb < 100


def test_a_member_missing_from_the_archive_is_refused(data) -> None:
    bomb = skops_bomb(data, references=1, member_mb=1)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        schema = archive.read("schema.json").replace(b"bomb.npy", b"gone.npy")
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as copy:
            for name in archive.namelist():
                copy.writestr(name, schema if name == "schema.json" else archive.read(name))
    with pytest.raises(UnsafeModelFile, match=r"missing member 'gone\.npy'"):
        inspect_model_file(out.getvalue())


def test_a_schema_over_the_memory_limit_is_a_clear_refusal(data, settings) -> None:
    # Two million empty objects: 6 MB of JSON, some 20 KB zipped, far more once parsed.
    def change(attributes):
        attributes["padding_"] = [{} for _ in range(2_000_000)]
        return {}

    bomb = skops_with_schema(data, change)
    settings.GATEHOUSE_MODEL_MEMORY_MB = 100

    with pytest.raises(UnsafeModelFile, match="needs more than 100 MB of memory") as caught:
        inspect_model_file(bomb)
    assert "GATEHOUSE_MODEL_MEMORY_MB" in str(caught.value)


def test_checking_past_the_time_limit_is_a_clear_refusal(data, settings) -> None:
    settings.GATEHOUSE_MODEL_LOAD_SECONDS = 0.01
    with pytest.raises(UnsafeModelFile, match=r"took longer than 0\.01 seconds"):
        inspect_model_file(sio.dumps(LogisticRegression().fit(*data)))


def test_the_worker_loads_only_what_a_limited_child_loaded(data, settings) -> None:
    original = LogisticRegression().fit(*data)
    blob = sio.dumps(original)

    loaded = load_model_limited(blob)
    np.testing.assert_array_equal(loaded.predict(data[0]), original.predict(data[0]))

    # scikit-learn alone needs more address space than this: the child is refused.
    settings.GATEHOUSE_MODEL_MEMORY_MB = 150
    with pytest.raises(UnsafeModelFile, match="needs more than 150 MB of memory"):
        load_model_limited(blob)


def test_the_child_sees_no_secrets(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/x")
    env = sandbox._child_env()
    assert not {"DJANGO_SECRET_KEY", "DATABASE_URL"} & set(env)
    assert env["OPENBLAS_NUM_THREADS"] == "1"


def test_a_schema_naming_thousands_of_types_is_refused_in_the_child(data) -> None:
    # Only the allow-list would refuse these, in the web process, after a large reply.
    def change(attributes):
        attributes["many_"] = [{"__class__": f"C{i}", "__module__": "m"} for i in range(1001)]
        return {}

    with pytest.raises(UnsafeModelFile, match="too many types"):
        inspect_model_file(skops_with_schema(data, change))
