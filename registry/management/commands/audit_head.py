"""Print the head of the audit chain as one JSON line, to keep outside Gatehouse."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from registry.audit.anchors import chain_anchor


class Command(BaseCommand):
    help = (
        'Print the audit chain head as {"at": ..., "hash": ..., "seq": ...}. Keep the lines '
        "somewhere else (audit_head >> anchors.jsonl); audit_verify --anchor anchors.jsonl "
        "then fails if the chain was truncated or rewritten, e.g. by restoring an old backup."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(chain_anchor().line())
