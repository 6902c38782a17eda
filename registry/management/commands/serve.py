"""Serve the web app and a Celery worker (with its beat scheduler) together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together, for a laptop or a demo."

    def add_arguments(self, parser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, **options) -> None:
        schedule = settings.DATA_DIR / "celerybeat-schedule"
        worker_cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gatehouse",
            "worker",
            "--beat",
            f"--schedule={schedule}",
            f"--concurrency={options['concurrency']}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        # runserver with DEBUG off (make run) serves no static files itself: WhiteNoise does,
        # from the finders (WHITENOISE_USE_FINDERS), so no collectstatic is needed.
        web_cmd = [sys.executable, "manage.py", "runserver", options["addrport"], "--noreload"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(worker_cmd, env=env)  # noqa: S603
        web = subprocess.Popen(web_cmd, env=env)  # noqa: S603
        self.stdout.write(
            f"Gatehouse on http://{options['addrport']}/ with a Celery worker. Ctrl-C stops both."
        )
        try:
            while worker.poll() is None and web.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in (web, worker):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in (web, worker):
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.stdout.write("Stopped the web server and the worker.")
