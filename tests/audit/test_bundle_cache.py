"""Bundle downloads are served from storage while nothing the bundle covers changed: the second
download is not rebuilt, still verifies, and its ``bundle.exported`` event names the file served;
a changed report, a new event of the model or a gate that no longer holds rebuilds it."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from explain.models import Report, ReportStatus
from explain.services import params_hash
from registry import services
from registry.audit.filters import AuditFilters
from registry.audit.services import audit_export_record
from registry.models import AuditEvent
from reviews import gates
from reviews.bundles import cache, export
from tests.builders import Candidate, run_tool, web

pytestmark = pytest.mark.django_db

URL = "/models/credit-default/versions/1.0.0/bundle.zip"


@pytest.fixture
def plain_version(model, engineer):
    """A version without reports: cheap to bundle."""
    return Candidate().register(actor=engineer, model=model).version


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """Each bundle_build call made by an export, by version."""
    calls: list[str] = []
    real = export.bundle_build

    def counting(*, version, actor, now=None):
        calls.append(version.version)
        return real(version=version, actor=actor, now=now)

    monkeypatch.setattr(export, "bundle_build", counting)
    return calls


def download(user) -> tuple[bytes, str]:
    response = web(user).get(URL)
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        digest = hashlib.sha256(archive.read("manifest.json")).hexdigest()
    assert response["X-Bundle-Manifest-SHA256"] == digest
    return data, digest


def stored(version) -> list[str]:
    return default_storage.listdir(f"{cache.DIRECTORY}/{version.pk}")[1]


def test_an_unchanged_bundle_is_served_from_storage(plain_version, auditor, builds, tmp_path):
    first, digest = download(auditor)
    second, again = download(auditor)

    assert builds == ["1.0.0"]  # built once
    assert second == first and again == digest
    exported = AuditEvent.objects.filter(action="bundle.exported").order_by("seq")
    assert [e.payload["manifest_sha256"] for e in exported] == [digest, digest]
    assert len(stored(plain_version)) == 1
    path = tmp_path / "b.zip"
    path.write_bytes(second)
    assert run_tool(path, tmp_path).code == 0


def test_another_auditor_gets_the_stored_bundle(plain_version, auditor, admin_user, builds):
    first, digest = download(auditor)
    second, _ = download(admin_user)

    assert builds == ["1.0.0"] and second == first
    event = AuditEvent.objects.filter(action="bundle.exported").order_by("-seq").first()
    assert (event.actor_name, event.payload["manifest_sha256"]) == ("adm", digest)


def test_a_changed_report_rebuilds(plain_version, auditor, builds, tmp_path):
    params = {"bootstrap_samples": 0}
    report = Report.objects.create(
        version=plain_version, kind="fairness", params=params, params_sha256=params_hash(params)
    )
    _, before = download(auditor)
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.FAILED, error="gone", finished_at=timezone.now()
    )
    data, after = download(auditor)

    assert builds == ["1.0.0", "1.0.0"] and after != before
    assert f"The fairness report #{report.pk} failed: gone" in read(data, "report.html")
    assert len(stored(plain_version)) == 1  # the older bundle was dropped
    path = tmp_path / "b.zip"
    path.write_bytes(data)
    assert run_tool(path, tmp_path).code == 0


def test_a_new_event_of_the_model_rebuilds_other_events_do_not(
    plain_version, model, other_model, engineer, admin_user, auditor, builds
):
    download(auditor)
    # Records of reading the trail, and events of other models (which move the chain head).
    audit_export_record(actor=auditor, fmt="csv", filters=AuditFilters(model=model.name), via="web")
    services.model_update(actor=admin_user, model=other_model, title="Churn v2")
    download(auditor)
    assert builds == ["1.0.0"]

    services.model_update(actor=engineer, model=model, title="Credit default v2")
    data, _ = download(auditor)
    assert builds == ["1.0.0", "1.0.0"]
    assert "Credit default v2" in read(data, "report.html")


def test_a_gate_that_reads_differently_rebuilds(plain_version, auditor, builds, monkeypatch):
    """Sign-offs lapse, and signers lose roles or leave the team, without an event of the
    model: the gates' evaluation is part of the key."""
    download(auditor)
    real = gates.evaluate

    def lapsed(version, *, now):
        result = real(version, now=now)
        result.checks[0].reason += " (changed)"
        return result

    monkeypatch.setattr(gates, "evaluate", lapsed)
    data, _ = download(auditor)

    assert builds == ["1.0.0", "1.0.0"]
    assert "(changed)" in read(data, "report.html")


def test_a_damaged_stored_file_is_rebuilt(plain_version, auditor, builds):
    first, _ = download(auditor)
    (name,) = stored(plain_version)
    path = f"{cache.DIRECTORY}/{plain_version.pk}/{name}"
    default_storage.delete(path)
    default_storage.save(path, io.BytesIO(first[: len(first) // 2]))

    again, _ = download(auditor)

    assert builds == ["1.0.0", "1.0.0"]
    assert zipfile.ZipFile(io.BytesIO(again)).testzip() is None


def read(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name).decode()
