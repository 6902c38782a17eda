"""Writing the zip: files with their sha256 for the manifest, the reports' JSON and plots,
and the run of the audit chain that anchors the included events."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from json.encoder import encode_basestring as _quote
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from explain import kinds
from explain.models import Report
from registry.models import AuditEvent

CHAIN_CHUNK = 2000


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
    raw = kinds.spec(report.kind).raw_data_files if report.kind in kinds.KINDS else ()
    for stored in report.files.all():
        if stored.name in raw:
            # Raw evaluation values stay in Gatehouse: the record names the file and its digest.
            files.append(
                {
                    "name": stored.name,
                    "path": None,
                    "content_type": stored.content_type,
                    "sha256": stored.sha256,
                    "left_out": "raw evaluation values",
                }
            )
            continue
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
