"""Building a version's bundle."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from datetime import datetime
from tempfile import SpooledTemporaryFile
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from explain.models import Report
from registry.audit.anchors import chain_anchor
from registry.audit.chain import HASHED_FIELDS, format_time
from registry.audit.exports import export_chunks
from registry.audit.record import actor_label
from registry.models import AuditEvent, ModelVersion
from registry.offline import BUNDLE_FORMAT, MANIFEST, manifest_bytes, manifest_digest

from .archive import _chain_lines, _json_file, _report_files, _report_record, _ZipWriter
from .context import _report_context
from .pdf import render_pdf

# Bundles stay in memory up to this size, then spill to a temporary file.
SPOOL_BYTES = 32 * 1024 * 1024
TEMPLATE = "reviews/bundle_report.html"


@dataclass
class Bundle:
    """A built bundle: the zip (rewound), its name, and its manifest."""

    file: Any
    filename: str
    manifest: dict[str, Any]
    manifest_sha256: str
    size: int
    # Every stored file it should hold was read (a plot missing from storage is noted instead).
    complete: bool = True
    # The ``bundle.exported`` event that recorded serving it (set by ``bundle_export``).
    audit_seq: int | None = None


def bundle_filename(version: ModelVersion) -> str:
    """The name a version's bundle downloads as."""
    return f"{version.model.name}-{version.version}-bundle.zip"


def bundle_subject(version: ModelVersion) -> dict[str, Any]:
    """The model's and the version's facts the manifest lists."""
    model = version.model
    evaluation = getattr(version, "evaluation_data", None)
    model_file = getattr(version, "model_file", None)
    return {
        "model": {
            "name": model.name,
            "title": model.title,
            "owner_team": model.owner_team.slug,
            "risk_tier": model.risk_tier,
        },
        "version": {
            "version": version.version,
            "status": version.status,
            "content_sha256": version.content_sha256,
            "artifact_sha256": version.artifact_sha256,
            "code_commit": version.code_commit,
            "training_data_sha256": version.training_data_sha256,
            "evaluation_data_sha256": evaluation.sha256 if evaluation else None,
            "model_file_sha256": model_file.sha256 if model_file else None,
        },
    }


def bundle_build(*, version: ModelVersion, actor, now: datetime | None = None) -> Bundle:
    """Assemble a version's bundle. Reads only; ``bundle_export`` records the export."""
    moment = now or timezone.now()
    model = version.model
    # Events are append-only: everything up to today's head reads the same in every pass.
    # The head is also written into the manifest, so an auditor can later check that the
    # live chain still holds it (``audit_verify --anchor manifest.json``).
    head = chain_anchor()
    upto = head.seq
    events = AuditEvent.objects.filter(model_name=model.name, seq__lte=upto)
    ends = events.values("seq", "prev_hash", "hash")
    first, last = ends.order_by("seq").first(), ends.order_by("-seq").first()
    reports = list(
        Report.objects.filter(version=version)
        .select_related("requested_by")
        .prefetch_related("files")
        .order_by("kind", "created_at", "pk")
    )
    spool = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - handed to the response
    plots: dict[str, tuple[bytes, str]] = {}
    notes: list[str] = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer = _ZipWriter(archive, moment)
        report_index = []
        for report in reports:
            files = _report_files(report, writer, plots, notes)
            path = f"reports/{report.kind}-{report.pk}.json"
            writer.write(path, _json_file(_report_record(report, files)))
            report_index.append(
                {
                    "id": report.pk,
                    "kind": report.kind,
                    "status": report.status,
                    "result_sha256": report.result_sha256,
                    "path": path,
                }
            )
        count = writer.stream("audit/events.jsonl", export_chunks(events, "jsonl"))
        writer.stream("audit/events.csv", export_chunks(events, "csv"))
        links = (
            writer.stream("audit/chain.jsonl", _chain_lines(first["seq"], last["seq"], model.name))
            if first and last
            else writer.stream("audit/chain.jsonl", [])
        )
        audit = {
            "model": model.name,
            "events": count,
            "upto_seq": upto,
            "head": head.as_dict(),
            "first": {"seq": first["seq"], "hash": first["hash"]} if first else None,
            "last": {"seq": last["seq"], "hash": last["hash"]} if last else None,
            "range_prev_hash": first["prev_hash"] if first else None,
            "chain_links": links,
            "event_hash": "sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of "
            + ", ".join(HASHED_FIELDS),
        }
        context = _report_context(version, reports, audit, moment, actor, notes)
        html = render_to_string(TEMPLATE, context)
        writer.write("report.html", html.encode())
        writer.write("report.pdf", render_pdf(html, plots))
        manifest = {
            "format": BUNDLE_FORMAT,
            "created_at": format_time(moment),
            "created_by": actor_label(actor),
            **bundle_subject(version),
            "policy_revision": context["gates"].policy.revision,
            "engine_versions": {f"{r.kind}-{r.pk}": r.engine_versions for r in reports},
            "reports": report_index,
            "audit": audit,
            "files": sorted(writer.files, key=lambda f: f["path"]),
        }
        manifest["manifest_sha256"] = manifest_digest(manifest)
        data = manifest_bytes(manifest)
        writer.write_unlisted(MANIFEST, data)
    size = spool.tell()
    spool.seek(0)
    return Bundle(
        file=spool,
        filename=bundle_filename(version),
        manifest=manifest,
        manifest_sha256=hashlib.sha256(data).hexdigest(),
        size=size,
        complete=not notes,
    )
