"""Walk the audit chain and report the first broken link; exit 1 when one is found."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from registry.audit import audit_verify


class Command(BaseCommand):
    help = "Verify the hash chain of the audit log; exits non-zero at the first broken link."

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        report = audit_verify()
        elapsed = time.perf_counter() - started
        if not report.ok:
            brk = report.first_break
            raise CommandError(
                f"Audit chain BROKEN at event #{brk.seq}: {brk.reason}. "
                f"{report.checked} events before it verified."
            )
        rate = report.checked / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain OK: {report.checked} events, head #{report.last_seq} "
                f"{report.last_hash[:16]}… ({elapsed:.2f}s, {rate:,.0f} events/s)"
            )
        )
