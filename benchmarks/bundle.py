"""Benchmark: downloading a version's audit bundle, first (built) against unchanged (stored).

Seeds the demo data (``demo_seed``: the credit-default model, three versions, the release in
production) into a throwaway SQLite database, runs every queued report in-process (fairness,
performance, KPIs, SHAP, LIME), then downloads the production version's bundle through the
real page (``/models/<name>/versions/<version>/bundle.zip``) as the demo auditor, in the same
run:

- the first download, which builds the bundle (report, PDF, audit files) and stores it;
- unchanged downloads after it, served from storage (target: at most 200 ms);
- a download after a new event of the model (an objective added), which rebuilds.

Each download consumes the whole response and records its ``bundle.exported`` event.

    .venv/bin/python benchmarks/bundle.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(data_dir: str) -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ["GATEHOUSE_DATA_DIR"] = data_dir
    os.environ["GATEHOUSE_DEMO"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings")
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="unchanged downloads to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        setup_django(data_dir)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client

        from explain.models import Report, ReportStatus
        from explain.services import report_run
        from registry import services
        from registry.models import ModelVersion, VersionStatus

        call_command("migrate", verbosity=0)
        call_command("demo_seed", stdout=io.StringIO())
        started = time.perf_counter()
        for pk in Report.objects.filter(status=ReportStatus.QUEUED).values_list("pk", flat=True):
            report_run(report_id=pk)
        seeded = time.perf_counter() - started
        version = ModelVersion.objects.select_related("model").get(status=VersionStatus.PRODUCTION)
        url = f"/models/{version.model.name}/versions/{version.version}/bundle.zip"
        client = Client(HTTP_HOST="localhost")
        client.force_login(get_user_model().objects.get(username="auditor"))

        def download() -> tuple[float, int]:
            started = time.perf_counter()
            response = client.get(url)
            size = sum(len(chunk) for chunk in response.streaming_content)
            assert response.status_code == 200, response.status_code
            return time.perf_counter() - started, size

        first, size = download()
        unchanged = [download()[0] for _ in range(args.repeat)]
        services.objective_create(
            actor=get_user_model().objects.get(username="mlengineer"),
            model=version.model,
            title="Benchmark objective",
            kpis=[],
        )
        changed, _ = download()

    median = statistics.median(unchanged)
    print(f"bundle of {url} ({size / 1e6:.1f} MB; reports run in {seeded:.1f} s)")
    print(f"first download (built, stored)      {first * 1000:9.0f} ms")
    print(
        f"unchanged download (stored), median {median * 1000:9.0f} ms "
        f"(max {max(unchanged) * 1000:.0f} ms, {args.repeat} downloads)  "
        f"{first / median:.0f}x faster"
    )
    print(f"after a new event of the model      {changed * 1000:9.0f} ms (rebuilt)")


if __name__ == "__main__":
    main()
