"""Version bundles: one zip that lets an auditor check a version offline.

It holds the report (``report.html`` and ``report.pdf`` from one template), every report's
JSON and plots, the model's audit events with their hashes (JSONL and CSV), the run of the
chain that anchors them (``audit/chain.jsonl``), and ``manifest.json`` with the sha256 of
every file. ``tools/verify_bundle.py`` (standard library only) and ``manage.py
bundle_verify`` check one. Events of one model are a filter of the chain, not a contiguous
piece of it: each included event is checked against its own hash, and the chain run lists
(seq, prev_hash, hash) of every event from the first to the last included one, so the
verifier can see that the run is unbroken and that each included event sits in it, without
the payloads of other models' events.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring as _quote
from tempfile import SpooledTemporaryFile
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import FileResponse
from django.template.loader import render_to_string
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from explain.models import Report, ReportKind, ReportStatus
from explain.presenters import fairness_sections
from explain.selectors import latest_reports
from registry.api.audit import IgnoreClientFormat
from registry.audit import actor_label, audit_record
from registry.audit_chain import HASHED_FIELDS, format_time
from registry.errors import NotAllowed
from registry.exports import can_export, chain_anchor, export_chunks
from registry.models import AuditEvent, ModelVersion, VersionStatus
from registry.offline import BUNDLE_FORMAT, MANIFEST, manifest_bytes, manifest_digest
from registry.selectors import version_for_user
from registry.types import Actor, SignedInRequest

from . import gates, selectors

# Bundles stay in memory up to this size, then spill to a temporary file.
SPOOL_BYTES = 32 * 1024 * 1024
CHAIN_CHUNK = 2000
SHAP_TOP = 10


@dataclass
class Bundle:
    """A built bundle: the zip (rewound), its name, and its manifest."""

    file: Any
    filename: str
    manifest: dict[str, Any]
    manifest_sha256: str
    size: int


class _ZipWriter:
    """Adds files to a zip and remembers each one's sha256 and size for the manifest."""

    def __init__(self, archive: zipfile.ZipFile, moment: datetime) -> None:
        self.archive = archive
        self.date_time = moment.astimezone(UTC).timetuple()[:6]
        self.files: list[dict[str, Any]] = []

    def _info(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def write(self, path: str, data: bytes) -> None:
        self.archive.writestr(self._info(path), data)
        self.files.append(
            {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )

    def write_unlisted(self, path: str, data: bytes) -> None:
        """A file the manifest does not list: the manifest itself."""
        self.archive.writestr(self._info(path), data)

    def stream(self, path: str, chunks: Iterable[bytes]) -> int:
        """Write chunk by chunk (constant memory); returns the number of lines written."""
        digest, size, lines = hashlib.sha256(), 0, 0
        with self.archive.open(self._info(path), "w", force_zip64=True) as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
        self.files.append({"path": path, "sha256": digest.hexdigest(), "size": size})
        return lines


def _json_file(value: Any) -> bytes:
    return (
        json.dumps(value, cls=DjangoJSONEncoder, indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    ).encode()


def _chain_lines(first: int, last: int, model_name: str) -> Iterator[bytes]:
    """(seq, prev_hash, hash, included) of every event from ``first`` to ``last``."""
    links = (
        AuditEvent.objects.filter(seq__gte=first, seq__lte=last)
        .order_by("seq")
        .values_list("seq", "prev_hash", "hash", "model_name")
        .iterator(chunk_size=5000)
    )
    lines: list[str] = []
    for seq, prev, digest, model in links:
        included = "true" if model == model_name else "false"
        lines.append(
            f'{{"seq":{seq},"prev_hash":{_quote(prev)},"hash":{_quote(digest)},'
            f'"included":{included}}}\n'
        )
        if len(lines) >= CHAIN_CHUNK:
            yield "".join(lines).encode()
            lines.clear()
    if lines:
        yield "".join(lines).encode()


def _report_record(report: Report, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": report.pk,
        "kind": report.kind,
        "status": report.status,
        "params": report.params,
        "params_sha256": report.params_sha256,
        "result": report.result,
        "result_sha256": report.result_sha256,
        "engine_versions": report.engine_versions,
        "error": report.error,
        "attempts": report.attempts,
        "requested_by": report.requested_by.get_username() if report.requested_by else "system",
        "created_at": report.created_at,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "files": files,
    }


def _report_files(
    report: Report, writer: _ZipWriter, plots: dict[str, tuple[bytes, str]], notes: list[str]
) -> list[dict[str, Any]]:
    files = []
    for stored in report.files.all():
        path = f"reports/{report.pk}/{stored.name}"
        try:
            with stored.file.open("rb") as fh:
                data = fh.read()
        except OSError:
            notes.append(f"The plot {stored.name} of report #{report.pk} is missing from storage.")
            continue
        writer.write(path, data)
        plots[path] = (data, stored.content_type)
        files.append(
            {
                "name": stored.name,
                "path": path,
                "content_type": stored.content_type,
                "sha256": stored.sha256,
            }
        )
    return files


# --- the report ----------------------------------------------------------------------------


def _objectives(version: ModelVersion, kpi: dict[str, Any] | None) -> list[dict[str, Any]]:
    measured = {row["id"]: row for row in (kpi or {}).get("kpis", []) if "id" in row}
    out = []
    for objective in version.model.objectives.prefetch_related("kpis"):
        rows = []
        for definition in objective.kpis.all():
            row = measured.get(definition.pk)
            rows.append(
                {
                    "name": definition.name,
                    "metric_key": definition.metric_key,
                    "target": f"{definition.comparator} {definition.target:g} {definition.unit}",
                    "blocking": definition.blocking,
                    "value": row.get("value") if row else None,
                    "source": (row.get("source") or "") if row else "",
                    "status": row.get("status") if row else "not measured",
                }
            )
        out.append({"title": objective.title, "description": objective.description, "kpis": rows})
    return out


def _blocking(version: ModelVersion, gate: gates.GateResult) -> list[gates.Check]:
    """Failing gates; once promoted, "review requested" no longer applies."""
    settled = version.status in (VersionStatus.PRODUCTION, VersionStatus.ARCHIVED)
    return [c for c in gate.failing if not (settled and c.key == "status")]


def _limitations(
    version: ModelVersion,
    gate: gates.GateResult,
    latest: dict[str, Report],
    reports: list[Report],
    notes: list[str],
) -> list[str]:
    done = ReportStatus.SUCCEEDED
    result = {kind: r.result for kind, r in latest.items() if r.status == done and r.result}
    items: list[str] = []
    fairness = result.get(ReportKind.FAIRNESS)
    if fairness:
        if fairness.get("verdict") != "pass":
            items.append(f"The fairness verdict is {fairness.get('verdict')}.")
        items += [f"Fairness: {warning}" for warning in fairness.get("warnings", [])]
    for row in (result.get(ReportKind.KPI) or {}).get("kpis", []):
        if row.get("status") == "missing":
            items.append(
                f"KPI {row['metric_key']} has no value: nothing computes it and CI did not "
                "report it."
            )
        elif row.get("status") == "not_met":
            items.append(
                f"KPI {row['metric_key']} is not met: {row.get('value'):.4g} against "
                f"{row['comparator']} {row['target']:g}."
            )
    shap = result.get(ReportKind.SHAP)
    if shap:
        sample = shap.get("sample", {})
        if sample.get("explained_rows", 0) < sample.get("total_rows", 0):
            items.append(
                f"SHAP explains a sample of {sample['explained_rows']} of "
                f"{sample['total_rows']} rows (cap {sample.get('max_rows')}, "
                f"{sample.get('strategy', 'sampled')})."
            )
        for w in shap.get("proxies", {}).get("warnings", []):
            items.append(
                f"Possible proxy: {w['feature']} for {w['attribute']} (normalised mutual "
                f"information {w['nmi']:.2f}, importance rank {w['rank']})."
            )
    if not hasattr(version, "model_file"):
        items.append("No model file was uploaded, so the model could not be explained.")
    for kind in gates.required_kinds(gate.policy):
        if kind not in result:
            items.append(f"There is no successful {kind} report.")
    for report in reports:
        if report.status == ReportStatus.FAILED:
            items.append(f"The {report.kind} report #{report.pk} failed: {report.error[:300]}")
    items += [f"Gate “{c.name}” does not pass: {c.reason}." for c in _blocking(version, gate)]
    items += [
        f"The sign-off by {s.signoff.signer_name} does not count: {s.reason}."
        for s in gate.standings
        if not s.counts
    ]
    return items + notes


def _report_context(
    version: ModelVersion,
    reports: list[Report],
    audit: dict[str, Any],
    moment: datetime,
    actor: Actor,
    notes: list[str],
) -> dict[str, Any]:
    latest = latest_reports(version)
    gate = gates.evaluate(version, now=moment)
    done = ReportStatus.SUCCEEDED

    def result(kind: str) -> dict[str, Any] | None:
        report = latest.get(kind)
        return report.result if report and report.status == done else None

    fairness, kpi, shap = (
        result(ReportKind.FAIRNESS),
        result(ReportKind.KPI),
        result(ReportKind.SHAP),
    )
    lime = result(ReportKind.LIME)
    shap_report = latest.get(ReportKind.SHAP)
    return {
        "model": version.model,
        "version": version,
        "evaluation": getattr(version, "evaluation_data", None),
        "model_file": getattr(version, "model_file", None),
        "created_at": moment,
        "created_by": actor_label(actor),
        "gates": gate,
        "blocking": _blocking(version, gate),
        "objectives": _objectives(version, kpi),
        "kpi": kpi,
        "fairness": fairness,
        "fairness_sections": fairness_sections(fairness) if fairness else [],
        "performance": result(ReportKind.PERFORMANCE),
        "shap": shap,
        "shap_top": (shap or {}).get("global_importance", [])[:SHAP_TOP],
        "shap_plots": [f"reports/{shap_report.pk}/{f.name}" for f in shap_report.files.all()]
        if shap and shap_report
        else [],
        "lime_rows": len((lime or {}).get("rows", [])),
        "limitations": _limitations(version, gate, latest, reports, notes),
        "signoffs": gate.standings[::-1],
        "timeline": selectors.timeline(version.model),
        "reports": reports,
        "audit": audit,
    }


class _BundleFetcher:
    """Hands WeasyPrint the bundle's own plots and nothing else: no network, no disk."""

    BASE = "https://bundle.invalid/"

    def __new__(cls, plots: dict[str, tuple[bytes, str]]):
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        class Fetcher(URLFetcher):
            def fetch(self, url, headers=None):
                if url.startswith("data:"):  # images inlined in the plots' SVG
                    return super().fetch(url, headers)
                path = url.removeprefix(cls.BASE)
                if not url.startswith(cls.BASE) or path not in plots:
                    raise ValueError(f"not part of the bundle: {url}")
                data, content_type = plots[path]
                return URLFetcherResponse(url, body=data, headers={"Content-Type": content_type})

        return Fetcher()


def render_pdf(html: str, plots: dict[str, tuple[bytes, str]]) -> bytes:
    """The report as PDF, from the same HTML, with the plots taken from the bundle."""
    from weasyprint import HTML

    return HTML(
        string=html, base_url=_BundleFetcher.BASE, url_fetcher=_BundleFetcher(plots)
    ).write_pdf()


# --- building ------------------------------------------------------------------------------


def bundle_build(*, version: ModelVersion, actor: Actor, now: datetime | None = None) -> Bundle:
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
        html = render_to_string("reviews/bundle_report.html", context)
        writer.write("report.html", html.encode())
        writer.write("report.pdf", render_pdf(html, plots))
        evaluation = getattr(version, "evaluation_data", None)
        model_file = getattr(version, "model_file", None)
        manifest = {
            "format": BUNDLE_FORMAT,
            "created_at": format_time(moment),
            "created_by": actor_label(actor),
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
        filename=f"{model.name}-{version.version}-bundle.zip",
        manifest=manifest,
        manifest_sha256=hashlib.sha256(data).hexdigest(),
        size=size,
    )


def bundle_export(*, actor: Actor, version: ModelVersion) -> Bundle:
    """Build a version's bundle for an auditor or admin and record ``bundle.exported`` with
    the manifest's sha256, which ties the file to the chain."""
    if not can_export(actor):
        raise NotAllowed("Only auditors and admins export bundles.")
    bundle = bundle_build(version=version, actor=actor)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="bundle.exported",
            obj=version,
            model_name=version.model.name,
            payload={
                "version": version.version,
                "manifest_sha256": bundle.manifest_sha256,
                "size": bundle.size,
                "files": len(bundle.manifest["files"]),
                "events": bundle.manifest["audit"]["events"],
                "last_seq": (bundle.manifest["audit"]["last"] or {}).get("seq"),
            },
        )
    return bundle


def _response(bundle: Bundle) -> FileResponse:
    response = FileResponse(
        bundle.file, as_attachment=True, filename=bundle.filename, content_type="application/zip"
    )
    response["Content-Length"] = str(bundle.size)
    response["X-Bundle-Manifest-SHA256"] = bundle.manifest_sha256
    response["Cache-Control"] = "no-store"
    return response


# --- views ---------------------------------------------------------------------------------


@login_required
def version_bundle(request: SignedInRequest, name: str, version: str) -> FileResponse:
    """Download a version's bundle: auditors and admins; 404 for people outside the model."""
    obj = version_for_user(request.user, name, version)
    return _response(bundle_export(actor=request.user, version=obj))


class VersionBundleView(APIView):
    """A version's audit bundle as a zip (auditors and admins)."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientFormat

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="report.html, report.pdf, reports/, audit/ and manifest.json; "
                "the X-Bundle-Manifest-SHA256 header is recorded in bundle.exported",
            ),
            403: OpenApiResponse(description="Only auditors and admins export bundles"),
            404: OpenApiResponse(description="No such model or version for you"),
        },
    )
    def get(self, request, name: str, version: str):
        obj = version_for_user(request.user, name, version, request.auth)
        return _response(bundle_export(actor=request.user, version=obj))
