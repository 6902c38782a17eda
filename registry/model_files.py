"""Checking and loading uploaded model files without ever unpickling them.

Only skops files are accepted. A file is audited by reading its ``schema.json`` (plain
data, nothing is imported or run) and every type it names must be on our allow-list;
only then is it loaded with ``skops.io.loads(..., trusted=...)``. After loading, the node
arrays of tree models are bounds-checked, because scikit-learn indexes them without
checks and skops cannot vouch for their content.

Tree models can still be crafted to be slow or memory hungry (very deep or very many
trees); the explain worker runs them under the Celery time limits set in settings.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ACCEPTED_FORMATS = "Accepted model formats: skops (.skops)"

# Sum of the declared uncompressed sizes in the archive; guards against zip bombs.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_SCHEMA_BYTES = 64 * 1024**2

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

# Public estimators, by public module; resolved to the defining module skops records.
_ESTIMATORS: dict[str, tuple[str, ...]] = {
    "sklearn.linear_model": (
        "LogisticRegression",
        "LogisticRegressionCV",
        "SGDClassifier",
        "RidgeClassifier",
        "Perceptron",
        "LinearRegression",
        "Ridge",
        "Lasso",
        "ElasticNet",
    ),
    "sklearn.tree": (
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
    ),
    "sklearn.ensemble": (
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "AdaBoostClassifier",
        "VotingClassifier",
        "StackingClassifier",
    ),
    "sklearn.preprocessing": (
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "Normalizer",
        "Binarizer",
        "QuantileTransformer",
        "PowerTransformer",
        "OneHotEncoder",
        "OrdinalEncoder",
        "TargetEncoder",
        "KBinsDiscretizer",
        "LabelEncoder",
        "LabelBinarizer",
        "PolynomialFeatures",
        "SplineTransformer",
        # Its func must itself be allowed below, so arbitrary callables are refused.
        "FunctionTransformer",
    ),
    "sklearn.impute": ("SimpleImputer", "MissingIndicator"),
    "sklearn.compose": ("ColumnTransformer",),
    "sklearn.pipeline": ("Pipeline", "FeatureUnion"),
    "sklearn.feature_selection": (
        "SelectKBest",
        "SelectPercentile",
        "VarianceThreshold",
        "SelectFromModel",
    ),
    "sklearn.naive_bayes": ("GaussianNB", "BernoulliNB"),
    "sklearn.discriminant_analysis": ("LinearDiscriminantAnalysis",),
    "sklearn.neural_network": ("MLPClassifier",),
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
    "sklearn.feature_selection": ("f_classif", "f_regression", "chi2"),
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


class UnsafeModelFile(ValueError):
    """The uploaded model file is not in an accepted format or holds untrusted types."""


@dataclass(frozen=True)
class ModelFileInfo:
    """What a model file holds, found without running any of it."""

    format: str
    sha256: str
    size: int
    estimator_class: str
    untrusted_types: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


def _qualified_names(spec: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """Fully qualified names (defining module) of the objects named in ``spec``."""
    names = set()
    for module_name, attrs in spec.items():
        module = importlib.import_module(module_name)
        for attr in attrs:
            obj = getattr(module, attr, None)
            if obj is None:  # not in this scikit-learn version
                continue
            names.add(f"{obj.__module__}.{obj.__qualname__}")
    return frozenset(names)


ESTIMATOR_TYPES = _qualified_names(_ESTIMATORS)
ALLOWED_TYPES = ESTIMATOR_TYPES | _qualified_names(_INTERNALS) | _PLAIN_TYPES


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


def _schema(data: bytes) -> dict[str, Any]:
    """The parsed ``schema.json`` of a skops archive, after size checks."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED_BYTES:
            raise UnsafeModelFile("The skops file is too large once uncompressed.")
        info = archive.getinfo("schema.json")
        if info.file_size > MAX_SCHEMA_BYTES:
            raise UnsafeModelFile("The skops file's schema.json is too large.")
        schema = json.loads(archive.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as exc:
        if isinstance(exc, UnsafeModelFile):
            raise
        raise UnsafeModelFile(f"Not a valid skops file ({exc}). {ACCEPTED_FORMATS}.") from exc
    if not isinstance(schema, dict) or "__class__" not in schema or "protocol" not in schema:
        raise UnsafeModelFile(f"Not a valid skops file (bad schema.json). {ACCEPTED_FORMATS}.")
    return schema


def _walk_types(schema: dict[str, Any]) -> Iterator[str]:
    """Every ``module.Class`` (or function) named anywhere in a skops schema."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                yield f"{node['__module__']}.{node['__class__']}"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _inspect(data: bytes, filename: str) -> ModelFileInfo:
    """Audit skops bytes against the allow-list; nothing in them is imported or run."""
    import skops.io as sio

    fmt = detect_format(data[:16], filename)
    schema = _schema(data)
    types = sorted(set(_walk_types(schema)))
    refused = [t for t in types if t not in ALLOWED_TYPES]
    if refused:
        raise UnsafeModelFile(
            "The model file contains types that are not on the allow-list: "
            f"{', '.join(refused)}. Only scikit-learn estimators, pipelines and "
            "preprocessing steps (no custom classes or functions) are accepted."
        )
    root = f"{schema['__module__']}.{schema['__class__']}"
    if root not in ESTIMATOR_TYPES:
        raise UnsafeModelFile(f"The model file holds a {root}, not a scikit-learn estimator.")
    try:
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise UnsafeModelFile(f"Not a valid skops file ({exc}). {ACCEPTED_FORMATS}.") from exc
    # Belt and braces: skops's own audit must not name anything we do not allow.
    refused = [t for t in untrusted if t not in ALLOWED_TYPES]
    if refused:
        raise UnsafeModelFile(
            f"The model file contains untrusted types: {', '.join(refused)}."
        )  # pragma: no cover - the schema walk above sees every type skops sees
    return ModelFileInfo(
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        estimator_class=str(schema["__class__"]),
        untrusted_types=untrusted,
        types=types,
    )


def inspect_model_file(path_or_bytes: str | Path | bytes) -> ModelFileInfo:
    """Validate a model file without executing anything; raise UnsafeModelFile if refused."""
    data, filename = _read(path_or_bytes)
    return _inspect(data, filename)


def load_model(path_or_bytes: str | Path | bytes) -> Any:
    """Load a skops model trusting only allow-listed types, then bounds-check its trees."""
    import skops.io as sio

    # Read once and audit and load the same bytes, so the file cannot change in between.
    data, filename = _read(path_or_bytes)
    info = _inspect(data, filename)
    try:
        model = sio.loads(data, trusted=info.untrusted_types)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise UnsafeModelFile(f"The skops file could not be loaded: {exc}") from exc
    check_tree_structures(model)
    if not hasattr(model, "predict"):
        raise UnsafeModelFile(f"The model file holds a {type(model).__name__} with no predict().")
    return model


def check_tree_structures(model: Any) -> None:
    """Raise UnsafeModelFile if any tree in ``model`` has out-of-range node indices."""
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
