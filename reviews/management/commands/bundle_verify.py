"""Verify a version bundle: file hashes, audit event hashes, chain continuity; exit 1 if not."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry.audit_chain import event_hash


@cache
def offline_verifier() -> ModuleType:
    """tools/verify_bundle.py, the standard-library verifier auditors run on their own."""
    path = Path(settings.BASE_DIR) / "tools" / "verify_bundle.py"
    spec = importlib.util.spec_from_file_location("gatehouse_verify_bundle", path)
    if spec is None or spec.loader is None:
        raise CommandError(f"The bundle verifier is missing: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


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
        verifier = offline_verifier()
        # The same checks as the offline tool, with Gatehouse's own event hash.
        result = verifier.verify_bundle(path, hash_event=event_hash)
        lines = verifier.report_lines(result)
        if not result.ok:
            self.stdout.write("\n".join(lines[:-1]))
            raise CommandError(lines[-1])
        self.stdout.write("\n".join(lines[:-1]))
        self.stdout.write(self.style.SUCCESS(lines[-1]))
