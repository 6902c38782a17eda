"""Benchmark: the pages at scale, side by side with the same pages on a small data set.

Seeds a throwaway database (a scratch database next to ``--database-url`` on PostgreSQL,
dropped afterwards unless ``--keep``; a temporary SQLite file otherwise):

- a small model with one version, registered through the real service with its reports
  computed by the real runners (fairness, performance, KPIs, SHAP, LIME and a one-off LIME
  row): the peer, and the source of realistic result JSON for everything below;
- 1,000 models with one version and three reports each (bulk_create);
- one model with 200 versions x 100 reports (35 fairness, 1 performance, 20 KPI, 14 SHAP,
  10 LIME and 20 one-off LIME rows per version, each with a copy of the real result of its
  kind; the newest of each kind has the current params), 60 versions in review;
- ``--audit-events`` chained audit events (default 1,000,000), hashed with the real chain
  definition and bulk-inserted (COPY on PostgreSQL).

Then it requests each page with Django's test client, interleaving the big and the small
side, and prints p50/p95 (ms), queries per request, response size and the big/small ratio:
dashboard, model list, model page, version page, version comparison and audit page. The big
side is a reviewer of the team owning the 1,001 big models; the small side a reviewer of the
team owning the small model only.

    .venv/bin/python benchmarks/pages.py --database-url postgres://postgres@127.0.0.1:5432/gatehouse_pages
    .venv/bin/python benchmarks/pages.py --audit-events 100000   # SQLite, quicker
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BIG_MODELS = 1000
BIG_VERSIONS = 200
IN_REVIEW = 60
# (kind, how many per version, one-off) — 100 reports per version.
MIX = [
    ("fairness", 35, False),
    ("performance", 1, False),
    ("kpi", 20, False),
    ("shap", 14, False),
    ("lime", 10, False),
    ("lime", 20, True),
]
BATCH = 20_000


def setup_django(database_url: str, data_dir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["GATEHOUSE_DATA_DIR"] = data_dir
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("GATEHOUSE_BOOTSTRAP_SAMPLES", "200")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings")
    import django

    django.setup()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def seed_small():
    """The small model and its one version, through the real services and runners."""
    from explain import services as explain_services
    from explain.models import Report
    from registry import services
    from registry.roles import Role
    from reviews import services as review_services
    from tests.builders import Candidate, make_user, skops_model_bytes

    big_team = services.team_create(actor=None, slug="bench-big", name="Big")
    small_team = services.team_create(actor=None, slug="bench-small", name="Small")
    engineer = make_user("bench-eng", [Role.ML_ENGINEER], [big_team, small_team])
    make_user("bench-big", [Role.REVIEWER], [big_team])
    make_user("bench-small", [Role.REVIEWER], [small_team])
    make_user("bench-auditor", [Role.AUDITOR])
    small = services.model_create(
        actor=engineer, name="small-model", title="Small", owner_team=small_team, risk_tier="high"
    )
    big = services.model_create(
        actor=engineer, name="big-model", title="Big", owner_team=big_team, risk_tier="high"
    )
    kpis = [
        {"name": "Accuracy", "metric_key": "accuracy", "comparator": ">=", "target": 0.7},
        {
            "name": "Review rate",
            "metric_key": "manual_review_rate",
            "comparator": "<=",
            "target": 0.3,
        },
    ]
    for model in (small, big):
        services.objective_create(actor=engineer, model=model, title="Good loans", kpis=kpis)
    ci = services.ci_account_create(actor=None, name="bench-ci", models=[small, big])
    version = (
        Candidate(version="1.0", model_bytes=skops_model_bytes())
        .register(actor=ci.token.user, token=ci.token, model=small)
        .version
    )
    for report in Report.objects.filter(status="queued"):
        explain_services.report_run(report_id=report.pk)
    one_off = explain_services.report_request(
        actor=engineer, version=version, kind="lime", params={"rows": [3]}
    )
    explain_services.report_run(report_id=one_off.report.pk)
    review_services.review_request(actor=engineer, version=version)
    return big, engineer, version


def seed_big(big, engineer, small_version) -> None:
    """1,000 one-version models and one model with 200 versions x 100 reports."""
    from django.db import transaction
    from django.utils import timezone

    from explain.models import Report
    from explain.selectors import latest_reports
    from registry.models import EvaluationDataset, ModelVersion, RegisteredModel, VersionStatus
    from reviews.models import ProductionEvent

    templates = latest_reports(small_version)
    one_off_template = Report.objects.get(version=small_version, params__rows=[3])
    evaluation = small_version.evaluation_data
    now = timezone.now()
    base = {
        f: getattr(small_version, f)
        for f in (
            "artifact_uri",
            "artifact_sha256",
            "code_commit",
            "training_data_uri",
            "training_data_sha256",
            "metrics",
            "params",
            "tags",
        )
    }

    def version_row(model, name, status):
        return ModelVersion(
            model=model,
            version=name,
            status=status,
            submitted_by=engineer,
            content_sha256=_digest(f"{model.name}/{name}"),
            **base,
        )

    def evaluation_row(version):
        return EvaluationDataset(
            version=version,
            file=evaluation.file.name,
            format=evaluation.format,
            sha256=evaluation.sha256,
            size_bytes=evaluation.size_bytes,
            row_count=evaluation.row_count,
            label_column=evaluation.label_column,
            prediction_column=evaluation.prediction_column,
            score_column=evaluation.score_column,
            favorable_label=evaluation.favorable_label,
            protected=evaluation.protected,
            feature_columns=evaluation.feature_columns,
        )

    def report_row(version, template, params, index):
        return Report(
            version=version,
            kind=template.kind,
            params=params,
            params_sha256=_digest(f"{template.kind}/{index}/{json.dumps(params)}"),
            status="succeeded",
            progress=100,
            result=template.result,
            result_sha256=template.result_sha256,
            engine_versions=template.engine_versions,
            requested_by=engineer if params.get("rows") else None,
            finished_at=now,
            started_at=now,
            enqueued_at=now,
        )

    with transaction.atomic():
        statuses = [VersionStatus.PRODUCTION, VersionStatus.IN_REVIEW, VersionStatus.REGISTERED]
        models = RegisteredModel.objects.bulk_create(
            RegisteredModel(
                name=f"model-{i:04d}",
                title=f"Model {i:04d}",
                owner_team=big.owner_team,
                risk_tier="limited",
                created_by=engineer,
            )
            for i in range(BIG_MODELS)
        )
        versions = ModelVersion.objects.bulk_create(
            version_row(m, "1.0", statuses[i % 3]) for i, m in enumerate(models)
        )
        EvaluationDataset.objects.bulk_create(evaluation_row(v) for v in versions)
        Report.objects.bulk_create(
            (
                report_row(v, templates[kind], templates[kind].params, 0)
                for v in versions
                for kind in ("fairness", "performance", "kpi")
            ),
            batch_size=5000,
        )

        names = [f"1.{n}" for n in range(BIG_VERSIONS)]
        big_versions = ModelVersion.objects.bulk_create(
            version_row(
                big,
                name,
                VersionStatus.IN_REVIEW
                if n >= BIG_VERSIONS - IN_REVIEW
                else VersionStatus.PRODUCTION
                if n == BIG_VERSIONS - IN_REVIEW - 1
                else VersionStatus.ARCHIVED,
            )
            for n, name in enumerate(names)
        )
        EvaluationDataset.objects.bulk_create(evaluation_row(v) for v in big_versions)
        rows = []
        for v in big_versions:
            for kind, count, one_off in MIX:
                template = one_off_template if one_off else templates[kind]
                for i in range(count):
                    if one_off:
                        params = {**template.params, "rows": [i]}
                    elif i < count - 1:  # older runs with other params; the newest is current
                        params = {**template.params, "seed": 1000 + i}
                    else:
                        params = template.params
                    rows.append(report_row(v, template, params, (one_off, i)))
            if len(rows) >= BATCH:
                Report.objects.bulk_create(rows, batch_size=5000)
                rows = []
        Report.objects.bulk_create(rows, batch_size=5000)
        ProductionEvent.objects.bulk_create(
            ProductionEvent(
                model=big,
                version=v,
                replaced=prev,
                action="promoted",
                actor=engineer,
                reason=f"Better than {prev.version if prev else 'nothing'}",
                approvals=[],
                at=now - timedelta(days=len(big_versions) - n),
            )
            for n, (prev, v) in enumerate(
                zip(
                    [None, *big_versions[: BIG_VERSIONS - IN_REVIEW - 1]],
                    big_versions[: BIG_VERSIONS - IN_REVIEW],
                    strict=False,
                )
            )
            if n % 10 == 0 or n == BIG_VERSIONS - IN_REVIEW - 1
        )


def seed_audit(count: int) -> None:
    """``count`` chained events after the current head, hashed as ``audit_record`` does."""
    from audit_export import append_chained  # this folder's chain seeder

    def events(start: int):
        rng = random.Random(0)
        moment = datetime(2025, 1, 1)
        for seq in range(start, start + count):
            moment += timedelta(microseconds=rng.randrange(1, 2_000_000))
            model = "big-model" if seq % 3 else f"model-{seq % BIG_MODELS:04d}"
            payload = {
                "kind": "fairness",
                "version": f"1.{seq % BIG_VERSIONS}",
                "result_sha256": f"{seq:064x}",
            }
            yield (
                seq,
                moment,
                "system",
                "report.completed",
                "explain.report",
                str(seq),
                model,
                payload,
            )

    append_chained(events)


def pages() -> list[tuple[str, str, str]]:
    """(page, big URL, small URL)."""
    newest, older = f"1.{BIG_VERSIONS - 1}", f"1.{BIG_VERSIONS // 2}"
    return [
        ("dashboard", "/", "/"),
        ("model list", "/models/", "/models/"),
        ("model page", "/models/big-model/", "/models/small-model/"),
        (
            "version page",
            f"/models/big-model/versions/{newest}/",
            "/models/small-model/versions/1.0/",
        ),
        (
            "comparison",
            f"/models/big-model/?compare={newest}&with={older}",
            "/models/small-model/?compare=1.0&with=1.0",
        ),
        ("audit page", "/audit/", "/audit/"),
    ]


def measure(rounds: int, warmup: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    users = get_user_model().objects
    clients = {}
    for side in ("big", "small"):
        clients[side] = Client()
        clients[side].force_login(users.get(username=f"bench-{side}"))

    def get(side: str, url: str) -> tuple[float, int]:
        started = time.perf_counter()
        response = clients[side].get(url)
        seconds = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code)
        return seconds * 1000, len(response.content)

    header = (
        f"{'page':13} {'big p50':>9} {'big p95':>9} {'q':>4} {'KB':>6}   "
        f"{'small p50':>9} {'small p95':>9} {'q':>4} {'KB':>5}   {'p95 ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, big_url, small_url in pages():
        for _ in range(warmup):
            get("big", big_url), get("small", small_url)
        counts = {}
        for side, url in (("big", big_url), ("small", small_url)):
            with CaptureQueriesContext(connection) as captured:
                _, size = get(side, url)
            counts[side] = (len(captured), size)
        times: dict[str, list[float]] = {"big": [], "small": []}
        for _ in range(rounds):
            times["big"].append(get("big", big_url)[0])
            times["small"].append(get("small", small_url)[0])
        stats = {}
        for side, values in times.items():
            values.sort()
            p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
            stats[side] = (statistics.median(values), p95)
        print(
            f"{name:13} {stats['big'][0]:9.1f} {stats['big'][1]:9.1f} {counts['big'][0]:4d} "
            f"{counts['big'][1] / 1024:6.0f}   {stats['small'][0]:9.1f} {stats['small'][1]:9.1f} "
            f"{counts['small'][0]:4d} {counts['small'][1] / 1024:5.0f}   "
            f"{stats['big'][1] / stats['small'][1]:8.1f}x",
            flush=True,
        )


def scratch_database(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "gatehouse") + "_bench"
    return urlunsplit(parts._replace(path="/" + name)), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL server to use")
    parser.add_argument("--audit-events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20, help="requests per page and side")
    parser.add_argument("--warmup", type=int, default=2, help="requests before measuring")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept before")
    args = parser.parse_args()

    pg = args.database_url.startswith(("postgres://", "postgresql://"))
    data_dir = (
        str(Path(tempfile.gettempdir()) / "gatehouse-pages-bench")
        if args.keep or args.reuse
        else tempfile.mkdtemp(prefix="gatehouse-pages-bench-")
    )
    os.makedirs(data_dir, exist_ok=True)
    url = args.database_url if pg else f"sqlite:///{data_dir}/pages-bench.sqlite3"
    if pg and args.reuse:
        url, _ = scratch_database(args.database_url)
    setup_django(url, data_dir)
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, as in the test suite
    old_name = None
    if args.reuse:
        call_command("migrate", verbosity=0)  # a database kept by an older checkout
    else:
        if pg:
            _, name = scratch_database(args.database_url)
            connection.settings_dict.setdefault("TEST", {})["NAME"] = name
            old_name = connection.settings_dict["NAME"]
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        else:
            call_command("migrate", verbosity=0)
    try:
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        if not args.reuse:
            started = time.perf_counter()
            big, engineer, small_version = seed_small()
            seed_big(big, engineer, small_version)
            seed_audit(args.audit_events)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            from explain.models import Report

            print(
                f"seeded {BIG_MODELS + 2:,} models, {BIG_VERSIONS} versions x 100 reports, "
                f"{Report.objects.count():,} reports, {args.audit_events:,} audit events "
                f"in {time.perf_counter() - started:.0f} s"
            )
        print(f"{args.rounds} requests per page and side, interleaved; times in ms\n")
        measure(args.rounds, args.warmup)
    finally:
        if pg and not args.keep and not args.reuse:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        if not args.keep and not args.reuse:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
