"""Built bundles kept in storage under the digest of what they cover, so a download of an
unchanged bundle serves the stored file instead of building it again (seconds: the audit
files, the report, its PDF).

The key is the sha256 of everything the bundle shows that can change:

- the bundle format and its layout (the template and this package's code, so a deploy that
  changes either rebuilds);
- the model's and the version's facts the manifest lists;
- the (seq, hash) of the model's audit events, except the records of someone reading the trail
  (``bundle.exported``, ``audit.exported``);
- each report's id, kind, status, params, result hash, attempts and times, and its files' hashes;
- the gates' evaluation now (policy, sign-offs and whether each still counts: expiry, roles
  and team membership change outside the model's events).

Left out, on purpose: the chain head and ``created_at``/``created_by``. Every export records a
``bundle.exported`` event of the model, which moves the head and would be the newest included
event, so keying on them would rebuild on every download. A served bundle is what a build at
its ``created_at`` gave: its manifest says so (``upto_seq``, ``head``), its events and chain run
verify offline as they did, and its head is still a head the live chain holds. The
``bundle.exported`` event of each download records the digest of the manifest actually served.

Files live under ``bundles/<version id>/<key>.zip``; storing one deletes that version's
older ones. A file that cannot be read as a zip with a manifest counts as missing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from datetime import datetime
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.template.engine import Engine

from explain.models import Report, ReportFile
from registry.models import AuditEvent, ModelVersion
from registry.offline import BUNDLE_FORMAT, MANIFEST

from .. import gates
from .build import TEMPLATE, Bundle, bundle_filename, bundle_subject

DIRECTORY = "bundles"
# Records of reading the trail, not of anything done to the model (see the module docstring).
READ_ACTIONS = ("bundle.exported", "audit.exported")


@functools.cache
def _layout_digest() -> str:
    """sha256 of the template and of this package's code: what shapes a bundle's bytes."""
    digest = hashlib.sha256(Engine.get_default().get_template(TEMPLATE).source.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _events_digest(model_name: str) -> str:
    events = (
        AuditEvent.objects.filter(model_name=model_name)
        .exclude(action__in=READ_ACTIONS)
        .order_by("seq")
        .values_list("seq", "hash")
    )
    digest = hashlib.sha256()
    for seq, event_hash in events.iterator(chunk_size=5000):
        digest.update(f"{seq}:{event_hash}\n".encode())
    return digest.hexdigest()


def bundle_key(version: ModelVersion, *, now: datetime) -> str:
    """The digest of everything a bundle of ``version`` built at ``now`` would show."""
    reports = Report.objects.filter(version=version).order_by("pk")
    files = ReportFile.objects.filter(report__version=version).order_by("pk")
    parts = {
        "format": BUNDLE_FORMAT,
        "layout": _layout_digest(),
        "subject": bundle_subject(version),
        "events": _events_digest(version.model.name),
        "reports": list(
            reports.values_list(
                "pk",
                "kind",
                "status",
                "params_sha256",
                "result_sha256",
                "attempts",
                "started_at",
                "finished_at",
            )
        ),
        "files": list(files.values_list("report_id", "name", "sha256")),
        "gates": gates.evaluate(version, now=now).as_dict(),
    }
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _name(version: ModelVersion, key: str) -> str:
    return f"{DIRECTORY}/{version.pk}/{key}.zip"


def bundle_cached(version: ModelVersion, key: str) -> Bundle | None:
    """The stored bundle of ``version`` under ``key``, opened, or None."""
    try:
        fh = default_storage.open(_name(version, key), "rb")
    except OSError:
        return None
    try:
        with zipfile.ZipFile(fh) as archive:
            data = archive.read(MANIFEST)
        manifest = json.loads(data)
        size = fh.seek(0, 2)
        fh.seek(0)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        fh.close()
        return None
    return Bundle(
        file=fh,
        filename=bundle_filename(version),
        manifest=manifest,
        manifest_sha256=hashlib.sha256(data).hexdigest(),
        size=size,
    )


def bundle_store(version: ModelVersion, key: str, bundle: Bundle) -> None:
    """Keep ``bundle`` under ``key`` and drop the version's older bundles; rewinds its file."""
    name = _name(version, key)
    if not default_storage.exists(name):
        saved = default_storage.save(name, File(bundle.file))
        if saved != name:  # another request stored the same bundle meanwhile
            default_storage.delete(saved)
    bundle.file.seek(0)
    folder = f"{DIRECTORY}/{version.pk}"
    for other in default_storage.listdir(folder)[1]:
        if other != f"{key}.zip":
            default_storage.delete(f"{folder}/{other}")
