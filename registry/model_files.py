"""Checking and loading uploaded model files without ever unpickling them.

Only skops files are accepted. A file is audited by reading its ``schema.json`` (plain
data, nothing is imported or run): every type it names must be on our allow-list, and no
zipped member may be read more than once or add up past the size cap (many array entries
pointing at one ``.npy`` made a 100 KB file take gigabytes). Only then is it loaded with
``skops.io.loads(..., trusted=...)``. After loading, the node arrays of tree models are
bounds-checked, because scikit-learn indexes them without checks and skops cannot vouch
for their content.

Limits. Parsing and loading crafted files can still take memory or time out of proportion
to their size, so neither the web request nor the worker does it first in its own process
(``registry.sandbox``):

* registration (``inspect_model_file``) parses the archive in a child limited to
  ``GATEHOUSE_MODEL_MEMORY_MB`` and ``GATEHOUSE_MODEL_LOAD_SECONDS`` that imports only the
  standard library and returns the names it found as JSON; the allow-list is applied here
  (skops's own audit, which needs scikit-learn, runs where the model is loaded);
* the worker (``load_model_limited``) first has a limited child audit, load and
  tree-check the very bytes it read, and loads them in its own process (SHAP and LIME need
  the object) only once that child succeeded. Loading is deterministic, so the second load
  needs what the first proved to fit. Nothing crosses the boundary but JSON.

Tree models can still be crafted to be slow to predict with (very deep or very many
trees); the explain worker runs them under the Celery time limits set in settings.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sandbox
from .skops_archive import (
    ACCEPTED_FORMATS,
    MAX_SCHEMA_BYTES,
    MAX_UNCOMPRESSED_BYTES,
    UnsafeModelFile,
    archive_facts,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "MAX_SCHEMA_BYTES",
    "MAX_UNCOMPRESSED_BYTES",
    "ModelFileInfo",
    "UnsafeModelFile",
    "detect_format",
    "inspect_model_file",
    "load_model",
    "load_model_limited",
]

_PICKLE_SUFFIXES = {".pkl", ".pickle"}
_JOBLIB_SUFFIXES = {".joblib"}
_OTHER_FORMATS = {
    ".onnx": "an ONNX file",
    ".pt": "a PyTorch file (a zip of pickles)",
    ".pth": "a PyTorch file (a zip of pickles)",
    ".h5": "an HDF5/Keras file",
    ".keras": "a Keras file",
    ".safetensors": "a safetensors file",
    ".json": "a JSON file",
    ".zip": "a zip archive",
}
# Compressed joblib dumps start with the compressor's own magic number.
_COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
    b"\x04\x22\x4d\x18": "lz4",
    b"ZF": "zlib (old joblib)",
}
_ZIP_MAGIC = b"PK\x03\x04"

# Public estimators, by the module that defines them: the name skops records for each type.
# Written out for the pinned scikit-learn (1.9.1) rather than resolved by importing it, which
# took 1.5 s of the first registration with a model file in each web process;
# tests/registry/test_model_file_allow_list.py checks each name still is the object it names.
_ESTIMATORS: dict[str, tuple[str, ...]] = {
    "sklearn.linear_model._logistic": ("LogisticRegression", "LogisticRegressionCV"),
    "sklearn.linear_model._stochastic_gradient": ("SGDClassifier",),
    "sklearn.linear_model._ridge": ("RidgeClassifier", "Ridge"),
    "sklearn.linear_model._perceptron": ("Perceptron",),
    "sklearn.linear_model._base": ("LinearRegression",),
    "sklearn.linear_model._coordinate_descent": ("Lasso", "ElasticNet"),
    "sklearn.tree._classes": (
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
    ),
    "sklearn.ensemble._forest": (
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    ),
    "sklearn.ensemble._gb": ("GradientBoostingClassifier", "GradientBoostingRegressor"),
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting": (
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    ),
    "sklearn.ensemble._weight_boosting": ("AdaBoostClassifier",),
    "sklearn.ensemble._voting": ("VotingClassifier",),
    "sklearn.ensemble._stacking": ("StackingClassifier",),
    "sklearn.preprocessing._data": (
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "Normalizer",
        "Binarizer",
        "QuantileTransformer",
        "PowerTransformer",
    ),
    "sklearn.preprocessing._encoders": ("OneHotEncoder", "OrdinalEncoder"),
    "sklearn.preprocessing._target_encoder": ("TargetEncoder",),
    "sklearn.preprocessing._discretization": ("KBinsDiscretizer",),
    "sklearn.preprocessing._label": ("LabelEncoder", "LabelBinarizer"),
    "sklearn.preprocessing._polynomial": ("PolynomialFeatures", "SplineTransformer"),
    # Its func must itself be allowed below, so arbitrary callables are refused.
    "sklearn.preprocessing._function_transformer": ("FunctionTransformer",),
    "sklearn.impute._base": ("SimpleImputer", "MissingIndicator"),
    "sklearn.compose._column_transformer": ("ColumnTransformer",),
    "sklearn.pipeline": ("Pipeline", "FeatureUnion"),
    "sklearn.feature_selection._univariate_selection": ("SelectKBest", "SelectPercentile"),
    "sklearn.feature_selection._variance_threshold": ("VarianceThreshold",),
    "sklearn.feature_selection._from_model": ("SelectFromModel",),
    "sklearn.naive_bayes": ("GaussianNB", "BernoulliNB"),
    "sklearn.discriminant_analysis": ("LinearDiscriminantAnalysis",),
    "sklearn.neural_network._multilayer_perceptron": ("MLPClassifier",),
    "sklearn.calibration": ("CalibratedClassifierCV",),
    "sklearn.isotonic": ("IsotonicRegression",),
    "sklearn.dummy": ("DummyClassifier", "DummyRegressor"),
}

# Internal objects fitted estimators hold, and the few functions they reference.
_INTERNALS: dict[str, tuple[str, ...]] = {
    "sklearn.tree._tree": ("Tree",),
    "sklearn.ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    "sklearn.ensemble._hist_gradient_boosting.binning": ("_BinMapper",),
    "sklearn._loss.loss": (
        "HalfBinomialLoss",
        "HalfMultinomialLoss",
        "HalfSquaredError",
        "AbsoluteError",
        "ExponentialLoss",
        "HuberLoss",
        "PinballLoss",
    ),
    "sklearn._loss._loss": (
        "CyHalfBinomialLoss",
        "CyHalfMultinomialLoss",
        "CyHalfSquaredError",
        "CyAbsoluteError",
        "CyExponentialLoss",
        "CyHuberLoss",
        "CyPinballLoss",
    ),
    "sklearn._loss.link": (
        "Interval",
        "IdentityLink",
        "LogitLink",
        "HalfLogitLink",
        "MultinomialLogit",
    ),
    "sklearn.calibration": ("_CalibratedClassifier", "_SigmoidCalibration"),
    "sklearn.utils._bunch": ("Bunch",),
    "sklearn.utils.validation": ("check_array",),
    "sklearn.feature_selection._univariate_selection": ("f_classif", "f_regression", "chi2"),
}

_PLAIN_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.set",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.slice",
        "builtins.bytes",
        "collections.OrderedDict",
        "functools.partial",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        *(f"numpy.random.{n}" for n in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")),
        *(
            f"numpy.{t}"
            for t in (
                "bool",
                "bool_",
                "str_",
                "float16",
                "float32",
                "float64",
                "int8",
                "int16",
                "int32",
                "int64",
                "uint8",
                "uint16",
                "uint32",
                "uint64",
            )
        ),
    }
)


@dataclass(frozen=True)
class ModelFileInfo:
    """What a model file holds, found without running any of it."""

    format: str
    sha256: str
    size: int
    estimator_class: str
    types: list[str] = field(default_factory=list)


def _qualified_names(spec: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """The names in ``spec`` qualified by their module, as skops records them."""
    return frozenset(f"{module}.{name}" for module, names in spec.items() for name in names)


@functools.cache
def estimator_types() -> frozenset[str]:
    """Qualified names of the estimators a model file's root may be."""
    return _qualified_names(_ESTIMATORS)


@functools.cache
def allowed_types() -> frozenset[str]:
    """Qualified names of every type a model file may name."""
    return estimator_types() | _qualified_names(_INTERNALS) | _PLAIN_TYPES


def detect_format(head: bytes, filename: str) -> str:
    """Return ``"skops"`` for a skops file, or raise UnsafeModelFile naming what it is."""
    suffix = Path(filename or "").suffix.lower()
    name = repr(filename) if filename else "The file"
    if suffix in _JOBLIB_SUFFIXES:
        raise UnsafeModelFile(
            f"{name} is a joblib file; joblib files are pickles and loading them can run "
            f"arbitrary code. {ACCEPTED_FORMATS}."
        )
    if head[:1] == b"\x80" or suffix in _PICKLE_SUFFIXES:
        raise UnsafeModelFile(
            f"{name} is a pickle file; loading pickles can run arbitrary code. {ACCEPTED_FORMATS}."
        )
    compressor = _compressed_with(head)
    if compressor:
        raise UnsafeModelFile(
            f"{name} is {compressor}-compressed data, as joblib writes around a pickle; "
            f"it is not accepted. {ACCEPTED_FORMATS}."
        )
    if head.startswith(_ZIP_MAGIC) and suffix in {".skops", ""}:
        return "skops"
    if head.startswith(_ZIP_MAGIC):
        what = f"{_OTHER_FORMATS.get(suffix, 'a zip archive')}, not a skops file"
    elif suffix in _OTHER_FORMATS:
        what = f"{_OTHER_FORMATS[suffix]}, not a skops file"
    else:
        what = "not a recognised model file"
    raise UnsafeModelFile(
        f"{name} is {what}. {ACCEPTED_FORMATS}; save the model with "
        "skops.io.dump(model, 'model.skops')."
    )


def _compressed_with(head: bytes) -> str:
    """The compressor whose magic number starts ``head``, or an empty string."""
    for magic, name in _COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            return name
    # zlib: 0x78 then a flag byte making the 16-bit header a multiple of 31.
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return ""


def _read(path_or_bytes: str | Path | bytes) -> tuple[bytes, str]:
    """The file's bytes and a name to judge its extension by."""
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return bytes(path_or_bytes), ""
    path = Path(path_or_bytes)
    return path.read_bytes(), path.name


def _check_types(facts: dict[str, Any]) -> None:
    """Apply the allow-list to the types an archive names; raise UnsafeModelFile if refused."""
    refused = [t for t in facts["types"] if t not in allowed_types()]
    if refused:
        raise UnsafeModelFile(
            "The model file contains types that are not on the allow-list: "
            f"{', '.join(refused)}. Only scikit-learn estimators, pipelines and "
            "preprocessing steps (no custom classes or functions) are accepted."
        )
    if facts["root"] not in estimator_types():
        raise UnsafeModelFile(
            f"The model file holds a {facts['root']}, not a scikit-learn estimator."
        )


def _limited(task: str, data: bytes) -> Any:
    """Run a sandbox task with the configured limits; refusals become UnsafeModelFile."""
    from django.conf import settings

    try:
        return sandbox.run(
            task,
            data,
            memory_mb=settings.GATEHOUSE_MODEL_MEMORY_MB,
            seconds=settings.GATEHOUSE_MODEL_LOAD_SECONDS,
        )
    except sandbox.OverLimit as exc:
        raise UnsafeModelFile(
            f"The model file was refused: checking it {exc} (the limits are "
            "GATEHOUSE_MODEL_MEMORY_MB and GATEHOUSE_MODEL_LOAD_SECONDS)."
        ) from exc
    except sandbox.Refused as exc:
        raise UnsafeModelFile(str(exc)) from exc


def inspect_model_file(path_or_bytes: str | Path | bytes) -> ModelFileInfo:
    """Validate a model file in a limited child, running none of it; raise UnsafeModelFile."""
    data, filename = _read(path_or_bytes)
    fmt = detect_format(data[:16], filename)
    facts = _limited("model.inspect", data)
    _check_types(facts)
    return ModelFileInfo(
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        estimator_class=facts["class"],
        types=facts["types"],
    )


def load_model(path_or_bytes: str | Path | bytes) -> Any:
    """Load a skops model trusting only allow-listed types, then bounds-check its trees.

    This runs in the calling process with no limits: call it on bytes that
    ``load_model_limited`` (or the sandbox's load task) has proved to load.
    """
    import skops.io as sio

    # Read once and audit and load the same bytes, so the file cannot change in between.
    data, filename = _read(path_or_bytes)
    detect_format(data[:16], filename)
    _check_types(archive_facts(data))
    try:
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise UnsafeModelFile(f"Not a valid skops file ({exc}). {ACCEPTED_FORMATS}.") from exc
    # Belt and braces: skops's own audit must not name anything we do not allow.
    refused = [t for t in untrusted if t not in allowed_types()]
    if refused:
        raise UnsafeModelFile(f"The model file contains untrusted types: {', '.join(refused)}.")
    try:
        model = sio.loads(data, trusted=untrusted)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise UnsafeModelFile(f"The skops file could not be loaded: {exc}") from exc
    check_tree_structures(model)
    if not hasattr(model, "predict"):
        raise UnsafeModelFile(f"The model file holds a {type(model).__name__} with no predict().")
    return model


def load_task(data: bytes) -> dict[str, Any]:
    """The sandbox's load task: audit, load and tree-check; report only the class name."""
    return {"estimator": type(load_model(data)).__name__}


# (sha256, memory MB, seconds) of bytes a limited child has loaded in this process, so a
# SHAP and a LIME report on one file pay for the child once. Bounded; cleared when full.
_PROVEN: set[tuple[str, int, float]] = set()
_PROVEN_MAX = 256


def load_model_limited(path_or_bytes: str | Path | bytes) -> Any:
    """Load a model file once a limited child has loaded the same bytes within the limits."""
    from django.conf import settings

    data, filename = _read(path_or_bytes)
    detect_format(data[:16], filename)
    key = (
        hashlib.sha256(data).hexdigest(),
        settings.GATEHOUSE_MODEL_MEMORY_MB,
        settings.GATEHOUSE_MODEL_LOAD_SECONDS,
    )
    if key not in _PROVEN:
        _limited("model.load", data)
        if len(_PROVEN) >= _PROVEN_MAX:
            _PROVEN.clear()
        _PROVEN.add(key)
    return load_model(data)


def check_tree_structures(model: Any) -> None:
    """Raise UnsafeModelFile if any tree in ``model`` has out-of-range node indices."""
    import numpy as np
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    # (object, input width of the nearest estimator, whether it must equal the parent's)
    stack: list[tuple[Any, int | None, bool]] = [(model, None, False)]
    while stack:
        obj, width, strict = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            _check_tree(obj, width)
        elif isinstance(obj, TreePredictor):
            _check_predictor(obj, width)
        elif isinstance(obj, list | tuple):
            stack.extend((item, width, strict) for item in obj)
        elif isinstance(obj, dict):
            stack.extend((item, width, strict) for item in obj.values())
        elif isinstance(obj, np.ndarray) and obj.dtype == object:
            stack.extend((item, width, strict) for item in obj.ravel())
        elif type(obj).__module__.startswith("sklearn."):
            own = getattr(obj, "n_features_in_", None)
            own = int(own) if isinstance(own, int | np.integer) else width
            # Forests and gradient boosting call their trees without re-checking the input.
            if strict and width is not None and own != width:
                _refuse_tree(f"a member expects {own} features, its ensemble {width}")
            if getattr(obj, "_bin_mapper", None) is not None and own is not None:
                _check_bin_mapper(obj._bin_mapper, own)
            members_strict = isinstance(obj, BaseForest | BaseGradientBoosting)
            attrs = getattr(obj, "__dict__", {})
            stack.extend((value, own, members_strict) for value in attrs.values())


def _refuse_tree(reason: str) -> None:
    """Raise the error for a tree whose structure is unsafe to run."""
    raise UnsafeModelFile(f"The model file holds a malformed tree: {reason}.")


def _check_tree(tree: Any, n_features: int | None) -> None:
    """Children point forward inside the tree; split features are real input columns."""
    import numpy as np

    count = int(tree.node_count)
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    if not (len(left) == len(right) == len(feature) == count):
        _refuse_tree("node arrays disagree in length")
    if n_features is not None and int(tree.n_features) != n_features:
        _refuse_tree(f"it expects {tree.n_features} features, the estimator {n_features}")
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        _refuse_tree("a node has only one child")
    index = np.arange(count)
    inner = ~leaf
    for children in (left[inner], right[inner]):
        if np.any(children <= index[inner]) or np.any(children >= count):
            _refuse_tree("a child index is out of range")
    if np.any(feature[inner] < 0) or np.any(feature[inner] >= int(tree.n_features)):
        _refuse_tree("a split feature is out of range")


def _check_predictor(predictor: Any, n_features: int | None) -> None:
    """The same checks for a HistGradientBoosting TreePredictor's node records."""
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
        _refuse_tree("predictor nodes have the wrong layout")
    count = len(nodes)
    inner = ~nodes["is_leaf"].astype(bool)
    index = np.arange(count)
    for side in ("left", "right"):
        children = nodes[side][inner].astype(np.int64)
        if np.any(children <= index[inner]) or np.any(children >= count):
            _refuse_tree("a child index is out of range")
    features = nodes["feature_idx"][inner].astype(np.int64)
    if np.any(features < 0) or (n_features is not None and np.any(features >= n_features)):
        _refuse_tree("a split feature is out of range")
    categorical = inner & nodes["is_categorical"].astype(bool)
    bitsets = nodes["bitset_idx"][categorical].astype(np.int64)
    for table in (predictor.raw_left_cat_bitsets, predictor.binned_left_cat_bitsets):
        if np.any(bitsets < 0) or np.any(bitsets >= len(table)):
            _refuse_tree("a categorical split points outside its bitsets")


def _check_bin_mapper(mapper: Any, n_features: int) -> None:
    """The categorical map HistGradientBoosting predicts with must cover every feature."""
    is_categorical = getattr(mapper, "is_categorical_", None)
    if is_categorical is not None and len(is_categorical) != n_features:
        _refuse_tree("the categorical feature map does not match the number of features")
