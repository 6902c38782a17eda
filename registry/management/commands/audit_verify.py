"""Walk the audit chain and report the first broken link; exit 1 when one is found, or when
the chain no longer holds an anchor an auditor kept (``--expect-head``, ``--anchor``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.audit.anchors import Anchor, anchor_parse, anchor_problems, anchors_read
from registry.audit.chain import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the hash chain of the audit log; exits non-zero at the first broken link, "
        "or when a kept anchor (an earlier head) is no longer in the chain."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--expect-head",
            action="append",
            default=[],
            metavar="SEQ:HASH",
            help="An earlier head (from audit_head) the chain must still hold; repeatable",
        )
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="FILE",
            help="A file of anchors: audit_head's JSON lines, or a bundle's manifest.json",
        )

        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            metavar="N",
            help="Walk ranges of the chain in N processes (0: one per CPU); default 1",
        )

    def _anchors(self, options) -> list[Anchor]:
        anchors = []
        for text in options["expect_head"]:
            try:
                anchors.append(anchor_parse(text))
            except ValueError as exc:
                raise CommandError(f"--expect-head: {exc}") from exc
        for name in options["anchor"]:
            path = Path(name)
            try:
                anchors += anchors_read(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise CommandError(f"--anchor {path}: {exc}") from exc
        return anchors

    def handle(self, *args, **options) -> None:
        anchors = self._anchors(options)
        jobs = options["jobs"]
        if jobs < 0:
            raise CommandError("--jobs: a number of processes, 0 for one per CPU")
        started = time.perf_counter()
        report = audit_verify(jobs=jobs or os.cpu_count() or 1)
        elapsed = time.perf_counter() - started
        if report.first_break is not None:
            brk = report.first_break
            raise CommandError(
                f"Audit chain BROKEN at event #{brk.seq}: {brk.reason}. "
                f"{report.checked} events before it verified."
            )
        problems = anchor_problems(anchors)
        if problems:
            raise CommandError(
                "".join(f"FAIL {problem}\n" for problem in problems)
                + f"Audit chain does NOT hold {len(problems)} of {len(anchors)} anchor(s): it "
                f"verifies on its own up to #{report.last_seq}, but is not the chain that was "
                "anchored."
            )
        rate = report.checked / elapsed if elapsed > 0 else 0.0
        held = f", holds {len(anchors)} anchor(s)" if anchors else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain OK: {report.checked} events, head #{report.last_seq} "
                f"{report.last_hash[:16]}…{held} ({elapsed:.2f}s, {rate:,.0f} events/s)"
            )
        )
