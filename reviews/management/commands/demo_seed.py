"""Load the demo data and print the demo users with their passwords (demo mode only)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reviews import demo


class Command(BaseCommand):
    help = "Create demo users, the credit-default model, three versions and the initial release in production (GATEHOUSE_DEMO=1 only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "Demo data is refused unless GATEHOUSE_DEMO=1 (never in production)."
            )
        passwords = demo.seed()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Demo accounts (demo mode only):"))
        for name, password in passwords.items():
            self.stdout.write(f"  {name:<24} {password}")
