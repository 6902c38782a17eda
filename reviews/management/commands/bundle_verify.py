"""Verify a version bundle: file hashes, audit event hashes, chain continuity; exit 1 if not."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry import offline


class Command(BaseCommand):
    help = (
        "Verify a version bundle (zip): every file against the manifest, every audit event "
        "against its hash, and the chain run that anchors them. Exits 1 when altered."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", help="Path of the bundle zip")

    def handle(self, *args, **options) -> None:
        path = Path(options["bundle"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        # The module tools/verify_bundle.py is a copy of: the auditors' checks, word for word.
        result = offline.verify_bundle(path)
        lines = offline.report_lines(result)
        if not result.ok:
            self.stdout.write("\n".join(lines[:-1]))
            raise CommandError(lines[-1])
        self.stdout.write("\n".join(lines[:-1]))
        self.stdout.write(self.style.SUCCESS(lines[-1]))
