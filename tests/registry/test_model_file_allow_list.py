"""The model-file allow-list is written out by defining module; each name must still be the
scikit-learn object it names, so an upgrade that moves one shows here, not as a refusal."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from registry import model_files

SPECS = {"estimators": model_files._ESTIMATORS, "internals": model_files._INTERNALS}


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_every_allowed_name_is_the_object_it_names(spec):
    for module_name, names in spec.items():
        module = importlib.import_module(module_name)
        for name in names:
            obj = getattr(module, name)
            assert f"{obj.__module__}.{obj.__qualname__}" == f"{module_name}.{name}"


def test_the_allow_list_is_built_without_importing_scikit_learn():
    code = (
        "import sys; from registry import model_files; "
        "assert 'sklearn.linear_model._logistic.LogisticRegression' in model_files.allowed_types(); "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
