"""Benchmark: registering and reading a version, Gatehouse against MLflow, on PostgreSQL.

Both servers run under gunicorn with the same worker count on the same PostgreSQL (each its
own, freshly made database), and are measured interleaved in one run: for each client count,
Gatehouse registers, MLflow creates, Gatehouse reads, MLflow reads, round after round.

- register: ``POST /api/v1/models/{name}/versions/`` with the metadata and a 200-row CSV
  (multipart), against MLflow's ``create_model_version`` (``POST
  /api/2.0/mlflow/model-versions/create``) carrying the same CSV text as a tag, so
  both requests have the same payload size;
- get: ``GET /api/v1/models/{name}/versions/{v}/`` against MLflow's ``get_model_version``.

No report worker runs (the reports' messages wait on the broker): this measures the web
process. MLflow lives in its own venv, ``.venv-mlflow/`` (made on first use, gitignored), so it
never touches the app's pins.

``--memory`` instead prints the peak RSS of one registration (the service the API view calls,
in a fresh process on SQLite) for growing CSVs, next to its floor measured in the same run: a
fresh process of the same set-up that only hashes the file and streams it through pyarrow's
CSV reader in the same blocks (``registry.evaluation.BLOCK_BYTES``). Both should stay flat
in the number of rows; the ratio is what registration adds to reading the file at all.

Run:  .venv/bin/python benchmarks/register.py [--rounds 3] [--src DIR]
      .venv/bin/python benchmarks/register.py --memory 200000 2000000 5000000
``--src`` serves another checkout of Gatehouse (e.g. the base commit, for before figures).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = ROOT / ".venv-mlflow"
MLFLOW_PIN = ["mlflow==3.17.2", "psycopg2-binary==2.9.10"]
PG = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
WORKERS = 2
ROWS = 200
MODEL = "bench-credit"


# --- set-up ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_database(name: str) -> str:
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True)
    return f"{PG}/{name}"


def _mlflow_python() -> Path:
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", MLFLOW_VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *MLFLOW_PIN], check=True)
    return python


def _wait_for(port: int, path: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server on {port} did not answer in {seconds}s")


def _csv(rows: int, seed: int = 0) -> bytes:
    """The shape of ``tests.builders.evaluation_frame``: two protected columns, two features,
    a binary label and prediction and a score."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sex = rng.choice(["male", "female"], rows)
    income = rng.normal(50, 10, rows).round(2)
    debt = rng.uniform(0, 1, rows).round(3)
    score = 1 / (1 + np.exp(-(0.08 * (income - 50) - 2 * (debt - 0.5) + (sex == "male") * 0.4)))
    frame = pd.DataFrame(
        {
            "sex": sex,
            "age_group": rng.choice(["young", "middle", "old"], rows),
            "income": income,
            "debt_ratio": debt,
            "repaid": (rng.random(rows) < score).astype(int),
            "approved": (score >= 0.5).astype(int),
            "score": score.round(5),
        }
    )
    return frame.to_csv(index=False).encode()


def _metadata(version: str) -> dict:
    return {
        "version": version,
        "artifact_uri": f"s3://models/credit/{version}.skops",
        "artifact_sha256": "a" * 64,
        "code_commit": "0123456789abcdef0123456789abcdef01234567",
        "training_data_uri": "s3://data/train.csv",
        "training_data_sha256": "b" * 64,
        "metrics": {"accuracy": 0.81},
        "params": {"max_depth": 3},
        "tags": {"branch": "main"},
        "columns": {
            "label": "repaid",
            "prediction": "approved",
            "score": "score",
            "favorable_label": 1,
            "protected": {"sex": {"privileged": ["male"]}, "age_group": {"privileged": ["middle"]}},
            "features": ["income", "debt_ratio"],
        },
    }


SEED = """
from registry import services
from registry.models import RegisteredModel, Team
from django.contrib.auth import get_user_model
admin = get_user_model().objects.create_superuser("bench-admin", "b@example.com", "x" * 20)
team = Team.objects.create(slug="bench", name="Bench")
model = services.model_create(actor=admin, name="MODEL", title="Bench", owner_team=team, risk_tier="high")
print(services.ci_account_create(actor=None, name="ci-bench", models=[model]).secret)
""".replace("MODEL", MODEL)


class Gatehouse:
    def __init__(self, src: Path, python: str, tmp: Path) -> None:
        self.src, self.python, self.port = src, python, _free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": _fresh_database("gatehouse_register_bench"),
            "GATEHOUSE_DATA_DIR": str(tmp / "gatehouse"),
            "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
            "GATEHOUSE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(src),
        }
        run = dict(cwd=src, env=self.env, check=True)
        subprocess.run([python, "manage.py", "migrate", "-v0", "--no-input"], **run)
        out = subprocess.run(
            [python, "manage.py", "shell", "-c", SEED], capture_output=True, text=True, **run
        )
        self.secret = out.stdout.strip().splitlines()[-1]
        gunicorn = str(Path(python).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [gunicorn, "-w", str(WORKERS), "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
             "gatehouse.wsgi:application"],
            cwd=src, env=self.env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for(self.port, "/api/v1/models/", self.proc)

    def register(self, conn: http.client.HTTPConnection, version: str, csv: bytes) -> int:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'
                f"{json.dumps(_metadata(version))}\r\n--{boundary}\r\n"
                'Content-Disposition: form-data; name="evaluation_data"; filename="evaluation.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + csv
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {
            "Authorization": f"Bearer {self.secret}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        conn.request("POST", f"/api/v1/models/{MODEL}/versions/", body, headers)
        return _status(conn, 201)

    def get(self, conn: http.client.HTTPConnection, version: str) -> int:
        headers = {"Authorization": f"Bearer {self.secret}"}
        conn.request("GET", f"/api/v1/models/{MODEL}/versions/{version}/", headers=headers)
        return _status(conn, 200)


class MLflow:
    def __init__(self, tmp: Path) -> None:
        python = _mlflow_python()
        self.port = _free_port()
        db = _fresh_database("mlflow_register_bench").replace(
            "postgres://", "postgresql+psycopg2://"
        )
        self.proc = subprocess.Popen(
            [str(python.parent / "mlflow"), "server", "--backend-store-uri", db,
             "--default-artifact-root", str(tmp / "mlruns"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(WORKERS),
             "--gunicorn-opts", "--log-level warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _wait_for(self.port, "/health", self.proc, seconds=180)
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        self._post(conn, "registered-models/create", {"name": MODEL})

    def _post(self, conn, path: str, payload: dict) -> int:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        conn.request("POST", f"/api/2.0/mlflow/{path}", body, headers)
        return _status(conn, 200)

    def register(self, conn: http.client.HTTPConnection, version: str, csv: bytes) -> int:
        payload = {
            "name": MODEL,
            "source": f"s3://models/credit/{version}.skops",
            "tags": [{"key": "evaluation_csv", "value": csv.decode()}],
        }
        return self._post(conn, "model-versions/create", payload)

    def get(self, conn: http.client.HTTPConnection, version: str) -> int:
        conn.request("GET", f"/api/2.0/mlflow/model-versions/get?name={MODEL}&version={version}")
        return _status(conn, 200)


def _status(conn: http.client.HTTPConnection, expected: int) -> int:
    response = conn.getresponse()
    body = response.read()
    if response.status != expected:
        raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
    return response.status


# --- load -----------------------------------------------------------------------------------


def _load(call, port: int, names: list[str], clients: int) -> tuple[float, list[float]]:
    """Run ``call(conn, name)`` for every name from ``clients`` threads; (req/s, latencies)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    work = iter(names)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while True:
            with lock:
                name = next(work, None)
            if name is None:
                break
            start = time.perf_counter()
            try:
                call(conn, name)
            except Exception as exc:
                errors.append(exc)
                break
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return len(names) / (time.perf_counter() - start), latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _line(label: str, rates: list[float], lat: list[float]) -> str:
    return (
        f"  {label:<10} {statistics.median(rates):7.1f} req/s  "
        f"p50 {_pct(lat, 0.5):6.1f} ms  p99 {_pct(lat, 0.99):6.1f} ms"
    )


def run_http(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-register-bench-"))
    servers: list[subprocess.Popen] = []
    try:
        ours = Gatehouse(Path(args.src).resolve(), args.python, tmp)
        servers.append(ours.proc)
        peer = MLflow(tmp)
        servers.append(peer.proc)
        csv = _csv(ROWS)
        print(
            f"gunicorn {WORKERS} workers each, PostgreSQL, {ROWS}-row CSV ({len(csv):,} bytes), "
            f"{args.rounds} interleaved rounds; Gatehouse from {ours.src}"
        )
        counter = iter(range(10**9))
        for clients in (1, 8):
            n = args.requests * (2 if clients > 1 else 1)
            stats: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
            warm = [f"w{next(counter)}" for _ in range(10)]
            for side in (ours, peer):
                _load(lambda c, v, s=side: s.register(c, v, csv), side.port, warm, clients)
            for _ in range(args.rounds):
                names = {side: [f"1.{next(counter)}" for _ in range(n)] for side in ("g", "m")}
                for op in ("register", "get"):
                    for key, side in (("g", ours), ("m", peer)):
                        if op == "register":
                            versions = names[key]
                            call = lambda c, v, s=side: s.register(c, v, csv)  # noqa: E731
                        else:
                            versions = (
                                names[key] if key == "g" else [str(i) for i in range(1, n + 1)]
                            )
                            call = side.get
                        rate, lat = _load(call, side.port, versions, clients)
                        rates, lats = stats.setdefault((op, key), ([], []))
                        rates.append(rate)
                        lats.extend(lat)
            print(f"{clients} client{'s' if clients > 1 else ''}:")
            for op in ("register", "get"):
                g, m = stats[(op, "g")], stats[(op, "m")]
                print(_line(f"{op} GH", *g))
                print(_line(f"{op} MLf", *m))
                ratio = statistics.median(g[0]) / statistics.median(m[0])
                print(f"  {op}: Gatehouse / MLflow = {ratio:.2f}x")
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
        for proc in servers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


# --- memory ---------------------------------------------------------------------------------

MEMORY_CHILD = """
import io, os, resource, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.builders import Candidate
from registry import services
from registry.models import Team
from explain import services as explain_services
from django.contrib.auth import get_user_model
admin = get_user_model().objects.create_superuser("a", "a@example.com", "x" * 20)
team = Team.objects.create(slug="t", name="T")
model = services.model_create(actor=admin, name="m", title="M", owner_team=team)
path, mode = sys.argv[1], sys.argv[2]


def floor():
    import hashlib
    import pyarrow.csv as pacsv
    from registry import evaluation
    BLOCK_BYTES = getattr(evaluation, "BLOCK_BYTES", 1 << 20)  # (a checkout from before it)
    with open(path, "rb") as fh:
        digest = hashlib.sha256()
        while chunk := fh.read(BLOCK_BYTES):
            digest.update(chunk)
    options = pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False)
    for _ in pacsv.open_csv(path, read_options=options):
        pass


before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == "floor":
    floor()
else:
    with open(path, "rb") as fh:
        explain_services.version_register(
            actor=admin, model=model, metadata=Candidate().metadata(), evaluation_file=fh
        )
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before // 1024, peak // 1024, round(took, 2))
"""


def _memory_child(args: argparse.Namespace, path: Path, mode: str) -> tuple[int, int, float]:
    """(RSS before, peak RSS in MB, seconds) of ``mode`` on ``path`` in a fresh process."""
    data_dir = path.parent / mode  # its own SQLite database
    data_dir.mkdir()
    env = {
        **os.environ,
        "GATEHOUSE_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "gatehouse.settings",
        "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
        "PYTHONPATH": str(Path(args.src).resolve()),
    }
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [args.python, "-c", MEMORY_CHILD, str(path), mode],
        cwd=args.src, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    base, peak, took = out.stdout.split()[-3:]
    return int(base), int(peak), float(took)


def run_memory(args: argparse.Namespace) -> None:
    block = _csv(100_000)
    header, body = block.split(b"\n", 1)
    print(
        "peak RSS in a fresh process (SQLite, file on disk): one registration against its floor,\n"
        "hashing the file and streaming it through pyarrow's CSV reader in the same blocks;\n"
        "'+MB' is the growth over the process before the call"
    )
    print(f"  {'rows':>9} {'MB':>7}  {'register':>22}  {'floor':>22}  register/floor (+MB)")
    for rows in args.memory:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "evaluation.csv"
            with path.open("wb") as fh:
                fh.write(header + b"\n")
                for _ in range(rows // 100_000):
                    fh.write(body)
            ours = _memory_child(args, path, "register")
            floor = _memory_child(args, path, "floor")
            size = path.stat().st_size / 1e6
            grew = [peak - base for base, peak, _ in (ours, floor)]
            cells = [
                f"{p:5} MB (+{g:4}) {t:6.2f} s"
                for (_, p, t), g in zip((ours, floor), grew, strict=True)
            ]
            print(
                f"  {rows:>9,} {size:7.1f}  {cells[0]:>22}  {cells[1]:>22}  "
                f"{grew[0] / max(grew[1], 1):.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(ROOT), help="the Gatehouse checkout to serve")
    parser.add_argument("--python", default=sys.executable, help="its Python")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="per round at 1 client")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--memory", type=int, nargs="*", help="rows of each memory case")
    args = parser.parse_args()
    if args.memory:
        run_memory(args)
    else:
        run_http(args)


if __name__ == "__main__":
    main()
