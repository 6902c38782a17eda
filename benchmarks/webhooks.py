"""Benchmark: webhook delivery.

- throughput: N events (default 300) for one subscription, fanned out by the dispatcher and
  sent by 1 and then 2 Celery worker processes (prefork, concurrency 1 each) to a receiver on
  loopback that answers 200 at once: deliveries per second, from the dispatch to the last
  delivery stored as delivered;
- registration: the time of a version registration (``explain.services.version_register``,
  a 400-row evaluation CSV, in this process) with 10 matching subscriptions and with none,
  interleaved round by round: the fan-out is the dispatcher's work, not the request's, so
  the difference should be noise. The dispatcher's time for those events is printed too.

Runs on a throwaway database (a temporary SQLite file, or a scratch PostgreSQL database made
next to ``--database-url`` and dropped afterwards) and Redis database 8 (``--broker``; a
database nobody else uses: it is emptied afterwards). The embedded filesystem broker
(``--broker filesystem://``) polls every 0.2 s, which caps a worker at about 5 deliveries/s.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/webhooks.py [--events 300] [--rounds 15]
    .venv/bin/python benchmarks/webhooks.py --database-url postgres://postgres@127.0.0.1:5432/gatehouse
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Receiver(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _Receiver.lock:
            _Receiver.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _scratch_database(url: str | None, tmp: Path) -> tuple[str, Any]:
    if not url:
        return f"sqlite:///{tmp / 'bench.sqlite3'}", None
    base, _, _ = url.rpartition("/")
    name = f"gatehouse_webhooks_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)

    def drop() -> None:
        sql = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        subprocess.run(["psql", f"{base}/postgres", "-qc", sql], check=False)

    return f"{base}/{name}", drop


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "gatehouse", "worker", "--concurrency=1",
               "--pool=prefork", "--without-gossip", "--without-mingle", "--loglevel=WARNING",
               f"--hostname=bench-{uuid.uuid4().hex[:8]}@%h"]  # fmt: skip
    out = log.open("ab")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def throughput(workers: int, events: int, env: dict[str, str], tmp: Path, team, model) -> float:
    from django.db import transaction

    from events import dispatch
    from events.models import Delivery, DeliveryStatus
    from registry.audit.record import audit_record

    Delivery.objects.all().delete()
    log = tmp / f"workers-{workers}.log"
    processes = [_start_worker(env, log) for _ in range(workers)]
    try:
        time.sleep(1)
        # Workers are up once they consume: a warm-up delivery.
        with transaction.atomic():
            audit_record(actor=None, action="model.updated", obj=model, model_name=model.name)
        dispatch.dispatch()
        _wait(lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists(), 120,
              "the workers to start")  # fmt: skip
        Delivery.objects.all().delete()
        with transaction.atomic():
            for i in range(events):
                audit_record(actor=None, action="model.updated", obj=model,
                             model_name=model.name, payload={"i": i})  # fmt: skip
        started = time.perf_counter()
        while dispatch.dispatch():
            pass
        delivered = Delivery.objects.filter(status=DeliveryStatus.DELIVERED)
        _wait(lambda: delivered.count() == events, 600, f"{events} deliveries")
        return events / (time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def registration(rounds: int, team, model, admin) -> dict[str, list[float]]:
    from django.db import transaction

    from events import dispatch
    from events.models import Subscription
    from explain import services as explain_services
    from tests.builders import Candidate

    csv = Candidate().csv()
    metadata = Candidate().metadata()
    times: dict[str, list[float]] = {"none": [], "ten": [], "dispatch_ten": []}
    for number in range(rounds):
        for case in ("none", "ten"):
            Subscription.objects.all().delete()
            if case == "ten":
                for _ in range(10):
                    Subscription.objects.create(
                        team=team, url="https://ci.example.com/hook", secret="whsec_" + "A" * 43,
                        event_types=["version.*"],
                    )  # fmt: skip
            while dispatch.dispatch():  # start from a drained chain
                pass
            version = f"{number + 1}.{0 if case == 'none' else 1}.0"
            started = time.perf_counter()
            explain_services.version_register(
                actor=admin, token=None, model=model,
                metadata={**metadata, "version": version},
                evaluation_file=io.BytesIO(csv), model_file=None,
                model_filename="model.skops", idempotency_key="",
            )  # fmt: skip
            times[case].append(time.perf_counter() - started)
            if case == "ten":
                started = time.perf_counter()
                with transaction.atomic():
                    while dispatch.dispatch():
                        pass
                times["dispatch_ten"].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-webhooks-bench-"))
    database_url, drop = _scratch_database(args.database_url, tmp)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gatehouse.settings",
        "DATABASE_URL": database_url,
        "GATEHOUSE_DATA_DIR": str(tmp / "data"),
        "CELERY_BROKER_URL": args.broker,
        "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
        "GATEHOUSE_LOG_LEVEL": "WARNING",
        "GATEHOUSE_WEBHOOK_ALLOW_HTTP": "true",
        "GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    os.environ.update(env)
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from events.models import Subscription
        from registry import services
        from registry.models import Team

        call_command("migrate", verbosity=0, interactive=False)
        admin = get_user_model().objects.create_superuser("bench", "b@example.com", "x" * 20)
        team = Team.objects.create(slug="bench", name="Bench")
        model = services.model_create(actor=admin, name="bench-credit", title="Bench",
                                      owner_team=team, risk_tier="high")  # fmt: skip
        port = server.server_address[1]
        Subscription.objects.create(team=team, url=f"http://127.0.0.1:{port}/hook",
                                    secret="whsec_" + "A" * 43, event_types=["*"])  # fmt: skip
        database = "PostgreSQL" if args.database_url else "SQLite"
        print(f"webhook delivery, {database}, broker {args.broker.split(':')[0]}, "
              f"{os.cpu_count()} cores")  # fmt: skip
        for workers in (1, 2):
            rate = throughput(workers, args.events, env, tmp, team, model)
            print(f"  {workers} worker process(es): {rate:7.1f} deliveries/s "
                  f"({args.events} events)")  # fmt: skip

        times = registration(args.rounds, team, model, admin)
        none = statistics.median(times["none"]) * 1000
        ten = statistics.median(times["ten"]) * 1000
        print(f"registration (median of {args.rounds}, interleaved):")
        print(f"  no subscriptions:  {none:7.1f} ms")
        print(f"  10 subscriptions:  {ten:7.1f} ms  ({(ten - none) / none * 100:+.1f} %)")
        dispatch_ms = statistics.median(times["dispatch_ten"]) * 1000
        print(f"  the dispatcher's fan-out of its events to 10 subscriptions: {dispatch_ms:.1f} ms"
              " (in the worker, after the request)")  # fmt: skip
    finally:
        server.shutdown()
        from django.db import connections

        connections.close_all()
        if args.broker.startswith("redis"):
            import redis

            redis.Redis.from_url(args.broker).flushdb()  # the reports' messages, never consumed
        if drop is not None:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
