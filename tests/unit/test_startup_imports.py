"""Start-up stays light: loading the URLconf (what `manage.py check`, every command and every
gunicorn worker do first) imports no ML library. Those load where they are used: the worker's
runners and engines, and a model file's allow-list on first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The libraries that made `manage.py check` take seconds (scikit-learn alone took 3.8 s).
HEAVY = ("sklearn", "skops", "shap", "lime", "matplotlib", "aif360", "scipy", "weasyprint")
# The data libraries only the upload checks and the reports need.
DATA = ("numpy", "pandas", "pyarrow")

PROBE = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
import gatehouse.urls, gatehouse.api_urls
get_resolver().url_patterns
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _loaded_by_urlconf() -> set[str]:
    """Top-level packages a fresh interpreter holds after django.setup() and the URLconf."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "gatehouse.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_urlconf_imports_no_ml_or_data_library():
    loaded = _loaded_by_urlconf()

    assert "gatehouse" in loaded and "rest_framework" in loaded  # the probe did load the app
    heavy, data = sorted(loaded & set(HEAVY)), sorted(loaded & set(DATA))
    assert heavy == []
    assert data == []
