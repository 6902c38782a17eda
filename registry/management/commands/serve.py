"""Serve the web app and a Celery worker (with its beat scheduler) together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import socket
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
        # Links in e-mails and webhooks point at the address served here, unless one is set.
        env.setdefault("GATEHOUSE_BASE_URL", f"http://{options['addrport']}")
        worker = subprocess.Popen(worker_cmd, env=env)  # noqa: S603
        web = subprocess.Popen(web_cmd, env=env)  # noqa: S603
        try:
            self._when_listening(options["addrport"], web)
            self.stdout.write(self._welcome(options["addrport"]))
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

    @staticmethod
    def _when_listening(addrport: str, web: subprocess.Popen[bytes], seconds: float = 60) -> None:
        """Wait until the web server accepts connections (or has exited), so the welcome
        comes after its start-up lines rather than scrolled away among them."""
        host, _, port = addrport.rpartition(":")
        deadline = time.monotonic() + seconds
        while web.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection((host or "127.0.0.1", int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)

    @staticmethod
    def _welcome(addrport: str) -> str:
        """Where Gatehouse is, who can sign in and where their passwords are kept, what next."""
        from registry import demo  # pandas and numpy: only once the server is up

        url = f"http://{addrport}/"
        lines = ["", "=" * 72, f"Gatehouse is running on {url} with a Celery worker."]
        passwords = demo.passwords_file()
        if settings.DEMO_MODE and passwords.exists():
            lines.append(f"Demo accounts (passwords kept in {passwords}):")
            for line in passwords.read_text().splitlines():
                name, _, password = line.partition("\t")
                lines.append(f"  {name:<12} {password}")
            lines.append(
                f"Next: sign in at {url} as mlengineer, open credit-default and request a "
                "review of 1.1.0; then sign it off as reviewer and riskofficer."
            )
        else:
            lines.append("Next: create an administrator with `manage.py createsuperuser`.")
        lines += ["Ctrl-C stops both.", "=" * 72, ""]
        return "\n".join(lines)
