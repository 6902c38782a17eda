"""Benchmark: export and verify a large audit log.

Seeds N audit events (default 1,000,000) into a throwaway database: a temporary SQLite file
by default, or a scratch database created next to ``--database-url`` (PostgreSQL) and
dropped afterwards. The chain is computed in Python with the real hash definition and
bulk-inserted (COPY on PostgreSQL, executemany on SQLite), stored exactly as the ORM stores
events. Then it measures, in the same run:

- CSV and JSONL export through the real streaming view (``/audit/export.csv``), each in a
  fresh child process that consumes the response in-process: rows/s, time to first byte,
  and memory as the child's resident set size (RSS; ``VmHWM`` high-water mark and its
  growth over the RSS before the stream, from /proc/self/status);
- ``registry.audit.chain.audit_verify()`` over the whole chain in this process (``jobs=1``)
  and in ``--jobs`` worker processes: events/s;
- the peer: sha256 of the very canonical bodies the chain hashes (built beforehand, held in
  memory), events/s, and the walk's ratio to it (the floor any verifier pays);
- the previous walk (``verify_events`` over ``iter_event_contents``: ORM values, a dict per
  event), for the before/after figure in the same run.

Each round runs every measurement once, in turn (interleaved), so load on the machine hits
all of them alike; the summary gives the median of the rounds.

    .venv/bin/python benchmarks/audit_export.py [--events N] [--rounds R] [--jobs J]
    .venv/bin/python benchmarks/audit_export.py --database-url postgres://postgres@127.0.0.1:5432/gatehouse
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AUDITOR = "bench-auditor"
BATCH = 20_000
MODELS = [f"model-{i:02d}" for i in range(40)]
ACTORS = ["system", *(f"person{i:02d}" for i in range(25))]
KINDS = ["fairness", "performance", "kpi", "shap", "lime"]


def setup_django(database_url: str, data_dir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["GATEHOUSE_DATA_DIR"] = data_dir
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings")
    import django

    django.setup()


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def synthetic_events(count: int, start_seq: int, seed: int = 0):
    """Realistic event contents (without hashes) in chain order; times are naive UTC."""
    rng = random.Random(seed)
    digests = [f"{rng.getrandbits(256):064x}" for _ in range(4096)]
    moment = datetime(2025, 1, 1)
    for seq in range(start_seq, start_seq + count):
        moment += timedelta(microseconds=rng.randrange(1, 2_000_000))
        roll = rng.random()
        if roll < 0.5:
            kind = KINDS[seq % len(KINDS)]
            action, otype = "report.completed", "explain.report"
            payload = {
                "version": f"1.{seq % 17}.{seq % 5}",
                "kind": kind,
                "result_sha256": digests[seq % 4096],
                "files": {"shap_bar.svg": digests[(seq * 7) % 4096]} if kind == "shap" else {},
            }
        elif roll < 0.75:
            action, otype = "version.registered", "registry.modelversion"
            payload = {
                "version": f"1.{seq % 17}.{seq % 5}",
                "content_sha256": digests[(seq * 3) % 4096],
                "evaluation_rows": 100 + seq % 99_000,
                "note": "Ré-entraîné sur les données de mars",
            }
        elif roll < 0.9:
            action, otype = "signoff.recorded", "reviews.signoff"
            payload = {"decision": "approved", "role": "reviewer", "policy_revision": 1}
        else:
            action, otype, payload = "model.updated", "registry.registeredmodel", {"title": "x"}
        yield (
            seq,
            moment,
            ACTORS[seq % len(ACTORS)],
            action,
            otype,
            str(seq % 10_000),
            MODELS[(seq * 13) % len(MODELS)],
            payload,
        )


def seed(count: int) -> float:
    """Append ``count`` synthetic chained events after the current head; returns seconds."""
    started = time.perf_counter()
    append_chained(lambda start: synthetic_events(count, start))
    return time.perf_counter() - started


def append_chained(make_events) -> None:
    """Append the events ``make_events(first_seq)`` yields — (seq, naive UTC time, actor,
    action, object type, object id, model, payload) in chain order — after the current head,
    hashed as ``audit_record`` hashes them (``registry.audit.chain.event_hash``) and stored as
    the ORM stores them (the payload in the canonical spelling its field writes), in bulk;
    then move the head."""
    from django.db import connection, transaction

    from registry.audit.chain import canonical_json, event_hash, format_time
    from registry.models import AuditChainHead

    head = AuditChainHead.objects.get(pk=1)
    prev_hash, last = head.hash, head.seq
    columns = (
        "seq, created_at, actor_name, action, object_type, object_id, model_name, payload, "
        "prev_hash, hash"
    )
    pg = connection.vendor == "postgresql"
    rows: list[tuple] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            if pg:
                with cursor.cursor.copy(f"COPY registry_auditevent ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * 10)
                cursor.executemany(
                    f"INSERT INTO registry_auditevent ({columns}) VALUES ({marks})",  # noqa: S608
                    rows,
                )
        rows.clear()

    if not pg:
        with connection.cursor() as cursor:  # keep the unique-hash index in memory
            cursor.execute("PRAGMA cache_size = -400000")
    seq = last
    for seq, moment, actor, action, otype, oid, model, payload in make_events(last + 1):
        hashed_time = moment.isoformat(timespec="microseconds") + "Z"
        if seq == last + 1:
            assert hashed_time == format_time(moment.replace(tzinfo=UTC))
        digest = event_hash(
            {
                "seq": seq,
                "created_at": hashed_time,
                "actor": actor,
                "action": action,
                "object_type": otype,
                "object_id": oid,
                "model": model,
                "payload": payload,
                "prev_hash": prev_hash,
            }
        )
        stored_time = moment.replace(tzinfo=UTC) if pg else str(moment)
        text = canonical_json(payload)
        rows.append((seq, stored_time, actor, action, otype, oid, model, text, prev_hash, digest))
        prev_hash = digest
        if len(rows) >= BATCH:
            flush()
    if rows:
        flush()
    AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev_hash)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_auditevent")


def measure_export(fmt: str) -> dict:
    """Consume the export view's streamed response in this process (a fresh child)."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from web.views.audit import audit_export

    user = get_user_model().objects.get(username=AUDITOR)
    request = RequestFactory().get(f"/audit/export.{fmt}")
    request.user = user
    rss_before, _ = rss_mb()
    started = time.perf_counter()
    response = audit_export(request, fmt=fmt)
    first = None
    size = lines = 0
    for chunk in response.streaming_content:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    response.close()
    _, peak = rss_mb()
    rows = lines - (1 if fmt == "csv" else 0)
    return {
        "format": fmt,
        "rows": rows,
        "bytes": size,
        "seconds": seconds,
        "first_byte_ms": (first or 0) * 1000,
        "rows_per_s": rows / seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak,
    }


def canonical_bodies() -> list[bytes]:
    """The exact bytes the chain hashes, one per event, for the peer measurement."""
    from registry.audit.chain import _canonical_body, iter_event_contents

    return [_canonical_body(event).encode("utf-8") for event in iter_event_contents()]


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the walk's worker processes)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def rates(work) -> tuple[float, float]:
    """(items per wall-clock second, per CPU second) of ``work()``, which returns how many
    items it did. On a loaded machine the second stays near what an idle core would give;
    the first does not."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    count = work()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return count / wall, count / max(cpu, 1e-6)


def measure_sha(bodies: list[bytes]) -> tuple[float, float]:
    """sha256 of each canonical body (hexdigest, as the walk compares): events/s."""
    import hashlib

    sha256 = hashlib.sha256

    def work() -> int:
        for body in bodies:
            sha256(body).hexdigest()
        return len(bodies)

    return rates(work)


def measure_verify(jobs: int) -> tuple[float, float]:
    """``audit_verify(jobs=...)`` over the whole chain: events/s."""
    from registry.audit.chain import audit_verify

    def work() -> int:
        report = audit_verify(jobs=jobs)
        assert report.ok, report.first_break
        return report.checked

    return rates(work)


def measure_previous_walk() -> tuple[float, float]:
    """The walk as it was before it read raw rows: ``verify_events`` over dicts."""
    from registry.audit.chain import iter_event_contents, verify_events

    def work() -> int:
        report = verify_events(iter_event_contents())
        assert report.ok, report.first_break
        return report.checked

    return rates(work)


def measure_export_child(fmt: str, url: str, data_dir: str) -> tuple[float, float]:
    """One export in a fresh child process; prints its details, returns rows/s."""
    command = [sys.executable, __file__, "--measure", fmt, "--database-url", url]
    out = subprocess.run(
        [*command, "--data-dir", data_dir], check=True, capture_output=True, text=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"  export {fmt:5}: {r['rows']:,} rows, {r['bytes'] / 1e6:,.0f} MB in "
        f"{r['seconds']:.1f} s = {r['rows_per_s']:,.0f} rows/s; first byte after "
        f"{r['first_byte_ms']:.0f} ms; peak RSS {r['rss_peak_mb']:.0f} MB "
        f"(+{r['rss_peak_mb'] - r['rss_before_mb']:.0f} MB while streaming)"
    )
    return r["rows_per_s"], r["rows_per_s"]  # the child's own rate (no CPU figure)


def child(args) -> None:
    setup_django(args.database_url, args.data_dir)
    print(json.dumps(measure_export(args.measure)))


def scratch_database(url: str) -> tuple[str, str]:
    """A PostgreSQL URL for a scratch database next to ``url``, and its name."""
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "gatehouse") + "_audit_bench"
    return urlunsplit(parts._replace(path="/" + name)), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="", help="PostgreSQL server to use")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--jobs", type=int, default=0, help="processes (default: CPU count)")
    parser.add_argument("--measure", choices=["csv", "jsonl"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        child(args)
        return

    data_dir = tempfile.mkdtemp(prefix="gatehouse-bench-")
    pg = args.database_url.startswith(("postgres://", "postgresql://"))
    url = args.database_url if pg else f"sqlite:///{data_dir}/audit-bench.sqlite3"
    setup_django(url, data_dir)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from registry import services

    old_name = None
    if pg:
        url, name = scratch_database(args.database_url)
        connection.settings_dict.setdefault("TEST", {})["NAME"] = name
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    else:
        call_command("migrate", verbosity=0)
    try:
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        user = get_user_model().objects.create_user(username=AUDITOR)
        services.user_assign_roles(actor=None, user=user, roles=["auditor"], teams=[])
        seconds = seed(args.events)
        print(
            f"seeded {args.events:,} chained events in {seconds:.1f} s "
            f"({args.events / seconds:,.0f} events/s, hashes computed in Python)"
        )
        bodies = canonical_bodies()
        count = len(bodies)
        connection.close()
        jobs = args.jobs or os.cpu_count() or 1
        runs: dict[str, list[tuple[float, float]]] = {}
        for round_no in range(1, args.rounds + 1):
            line = []
            for name, measure in (
                ("verify, 1 process", lambda: measure_verify(1)),
                (f"verify, {jobs} processes", lambda: measure_verify(jobs)),
                ("sha256 of the bodies", lambda: measure_sha(bodies)),
                ("previous walk", measure_previous_walk),
                ("export csv", lambda: measure_export_child("csv", url, data_dir)),
                ("export jsonl", lambda: measure_export_child("jsonl", url, data_dir)),
            ):
                rate = measure()
                runs.setdefault(name, []).append(rate)
                line.append(f"{name} {rate[0]:,.0f}/s")
            print(f"round {round_no}: " + "; ".join(line), flush=True)
        peer = runs["sha256 of the bodies"]
        print(f"medians of {args.rounds} rounds ({count:,} events):")
        for name, measured in runs.items():
            wall = statistics.median(r[0] for r in measured)
            if name.startswith("export"):
                print(f"  {name:24} {wall:>12,.0f} rows/s")
                continue
            cpu = statistics.median(r[1] for r in measured)
            # Ratios within each round (both measured under the same load), then the median.
            ratio = statistics.median(p[0] / r[0] for p, r in zip(peer, measured, strict=True))
            cpu_ratio = statistics.median(p[1] / r[1] for p, r in zip(peer, measured, strict=True))
            print(
                f"  {name:24} {wall:>12,.0f} events/s ({ratio:.1f}x the hashing time); "
                f"{cpu:,.0f} per CPU second ({cpu_ratio:.1f}x)"
            )
    finally:
        if pg:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
