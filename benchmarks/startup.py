"""Benchmark: how long Gatehouse takes to start, against bare Python + Django in the same run.

Every measurement is a fresh child process; the cases run interleaved (round robin), so load
on the machine weighs on all of them alike, and the medians are printed side by side:

- ``python -c "import django"``: the floor every Django process pays (the peer baseline);
- a bare Django project's ``check`` (a throwaway settings module with the contrib apps and the
  admin's URLs): what a Django project costs before any app code;
- ``django.setup()`` plus the URL resolver (``gatehouse.urls`` and every app's routes): what
  a gunicorn worker loads before its first request, and what the check below loads;
- ``manage.py check``: every management command pays this first;
- ``gunicorn gatehouse.wsgi`` (one sync worker): from launch to the first HTTP response.

It also lists any ML or data library the URLconf imported (none is expected; the worker and
the report code import them where they are used).

    .venv/bin/python benchmarks/startup.py [--rounds 5] [--no-gunicorn]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
HEAVY = ("sklearn", "skops", "shap", "lime", "matplotlib", "aif360", "scipy", "weasyprint")
DATA = ("numpy", "pandas", "pyarrow")
# CPU seconds (user + system) of the last child each case ran: steadier than wall time when
# other work shares the machine.
CPU: list[float] = []

BARE_SETTINGS = """
SECRET_KEY = "bench"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "bare_urls"
STATIC_URL = "static/"
"""
BARE_URLS = """
from django.contrib import admin
from django.urls import path
urlpatterns = [path("admin/", admin.site.urls)]
"""
URLCONF_PROBE = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
import gatehouse.api_urls
print(json.dumps(sorted({n.split(".")[0] for n in sys.modules})))
"""


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of a child run (its CPU seconds are added to ``CPU``)."""
    cpu, started = cpu_of_children(), time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    CPU.append(cpu_of_children() - cpu)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return seconds, done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_first_response(env: dict[str, str]) -> float:
    """Seconds from launching gunicorn to the first HTTP response (any status) it sends."""
    port = free_port()
    gunicorn = str(Path(PY).with_name("gunicorn"))
    argv = [
        gunicorn,
        "gatehouse.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "1",
        "--log-level",
        "error",
    ]
    cpu, started = cpu_of_children(), time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/login/")
                conn.getresponse().read()
                return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
        raise SystemExit("gunicorn did not answer within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        CPU.append(cpu_of_children() - cpu)  # up to its exit, shortly after the response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-gunicorn", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        (bare / "bare_settings.py").write_text(BARE_SETTINGS)
        (bare / "bare_urls.py").write_text(BARE_URLS)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gatehouse.settings",
            "GATEHOUSE_DATA_DIR": str(bare / "data"),
            "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "memory://"),
        }
        bare_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bare_settings", "PYTHONPATH": tmp}
        cases = {
            'python -c "import django"': lambda: timed([PY, "-c", "import django"], env, ROOT)[0],
            "bare Django project: check": lambda: timed(
                [PY, "-m", "django", "check"], bare_env, bare
            )[0],
            "gatehouse: django.setup() + URLconf": lambda: timed(
                [PY, "-c", URLCONF_PROBE], env, ROOT
            )[0],
            "gatehouse: manage.py check": lambda: timed([PY, "manage.py", "check"], env, ROOT)[0],
        }
        if not args.no_gunicorn:
            cases["gatehouse: gunicorn to first response"] = lambda: gunicorn_first_response(env)

        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, run in cases.items():
                times[name].append(run())
                cpu[name].append(CPU[-1] if CPU else 0.0)
        _, probe = timed([PY, "-c", URLCONF_PROBE], env, ROOT)
        loaded = set(json.loads(probe.splitlines()[-1]))

    floor = statistics.median(times['python -c "import django"'])
    bare_check = statistics.median(times["bare Django project: check"])
    print(f"start-up, median of {args.rounds} interleaved rounds (each a fresh process)")
    bare_cpu = statistics.median(cpu["bare Django project: check"])
    print(
        f"{'':40} {'median':>8} {'min':>8} {'x import django':>16} {'x bare check':>13} "
        f"{'CPU':>7} {'CPU x bare check':>17}"
    )
    for name, values in times.items():
        median, used = statistics.median(values), statistics.median(cpu[name])
        print(
            f"{name:40} {median:7.2f}s {min(values):7.2f}s {median / floor:15.1f}x "
            f"{median / bare_check:12.1f}x {used:6.2f}s {used / bare_cpu:16.1f}x"
        )
    print(f"ML libraries the URLconf imported: {sorted(loaded & set(HEAVY)) or 'none'}")
    print(f"data libraries the URLconf imported: {sorted(loaded & set(DATA)) or 'none'}")


if __name__ == "__main__":
    main()
