"""Load the demo data and print the demo users with their passwords (demo mode only)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from registry import demo as registry_demo
from reviews import demo


class Command(BaseCommand):
    help = (
        "Create demo users (one a superuser), the credit-default model, three versions and the "
        "initial release in production, and print the passwords and a CI token. Refused unless "
        "all hold: GATEHOUSE_DEMO=1; no HTTPS production setting (SSL redirect, HSTS, secure "
        "cookies); DEBUG on, or the embedded setup (SQLite in GATEHOUSE_DATA_DIR and the folder "
        "broker, as `make run` uses); and no data in the database but the demo's own."
    )

    def handle(self, *args, **options) -> None:
        refusal = registry_demo.seed_refusal()
        if refusal:
            raise CommandError(refusal)
        passwords = demo.seed()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Demo accounts (demo mode only):"))
        for name, password in passwords.items():
            self.stdout.write(f"  {name:<24} {password}")
