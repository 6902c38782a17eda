"""Loaded with ``-p tests.environment`` before Django starts: keep test runs away from the
developer's ./var data folder and broker."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if "GATEHOUSE_DATA_DIR" not in os.environ:
    _data_dir = tempfile.mkdtemp(prefix="gatehouse-test-")
    os.environ["GATEHOUSE_DATA_DIR"] = _data_dir
    atexit.register(shutil.rmtree, _data_dir, ignore_errors=True)
# Unit tests never reach a broker; integration tests start their own and say so.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("GATEHOUSE_BOOTSTRAP_SAMPLES", "200")
