"""After a restore: ``files_verify`` names every stored file that no longer matches its row,
and a chain head kept outside Gatehouse (``audit_head``, the API, the web download, or a
bundle's manifest) makes ``audit_verify`` fail when the chain was truncated or rewritten,
as restoring an older database backup does."""

from __future__ import annotations

import io
import json
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from explain.selectors import latest_reports
from explain.services import _store_files
from registry.audit.chain import format_time
from registry.models import AuditChainHead, AuditEvent
from reviews.bundles import bundle_build
from tests.builders import Candidate, client_for, record, run_tool, skops_model_bytes, web
from tests.registry.test_audit import tamper

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return str(caught.value)


# --- stored files --------------------------------------------------------------------------


@pytest.fixture
def stored(model, engineer):
    """A version with its evaluation data, its model file and one report plot on disk."""
    version = Candidate(model_bytes=skops_model_bytes()).register(actor=engineer, model=model)
    version = version.version
    report = next(iter(latest_reports(version).values()))
    _store_files(
        report, {"plot.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")}
    )
    return version


def test_intact_files_verify(stored):
    out = run("files_verify")

    assert "registry.evaluationdataset.file: 1 file(s), 0 problem(s)" in out
    assert "registry.modelfile.file: 1 file(s), 0 problem(s)" in out
    assert "explain.reportfile.file: 1 file(s), 0 problem(s)" in out
    assert "Stored files OK: 3 match their sha256." in out


def test_missing_and_altered_files_are_named(stored, settings):
    media = settings.MEDIA_ROOT
    evaluation = stored.evaluation_data.file.name
    model_file = stored.model_file.file.name
    plot = latest_reports(stored)
    plot = next(f for r in plot.values() for f in r.files.all()).file.name
    (media / evaluation).unlink()
    with open(media / model_file, "ab") as fh:
        fh.write(b"\0")
    (media / plot).write_bytes(b"<svg/>")

    message = refused("files_verify")

    assert f"FAIL {evaluation} (registry.evaluationdataset #" in message
    assert "evaluation data of credit-default@1.0.0): missing: not in storage" in message
    assert f"FAIL {model_file} (registry.modelfile #" in message
    assert "model file of credit-default@1.0.0): altered: sha256 " in message
    assert f"FAIL {plot} (explain.reportfile #" in message
    assert "plot.svg): altered: sha256 " in message
    assert message.endswith("Stored files do NOT match the database: 1 missing, 2 altered, of 3.")


def test_a_file_of_the_right_hash_but_another_size_is_altered(stored, settings):
    # The size is checked too: a row whose size no longer matches is named.
    evaluation = stored.evaluation_data
    type(evaluation).objects.filter(pk=evaluation.pk).update(size_bytes=evaluation.size_bytes + 1)

    message = refused("files_verify")

    assert f"altered: {evaluation.size_bytes} bytes, the row records" in message


# --- the chain head ------------------------------------------------------------------------


def head_line() -> dict:
    return json.loads(run("audit_head"))


def test_audit_head_prints_seq_hash_and_time(model):
    head = AuditChainHead.objects.get()
    last = AuditEvent.objects.get(seq=head.seq)

    line = run("audit_head")

    assert line == (
        f'{{"at":"{format_time(last.created_at)}","hash":"{head.hash}","seq":{head.seq}}}\n'
    )


def test_auditors_fetch_the_head_from_the_api_and_the_web(model, auditor, reviewer, outsider):
    expected = head_line()

    assert client_for(auditor).get("/api/v1/audit/head/").json() == expected
    download = web(auditor).get("/audit/head.json")
    assert json.loads(download.content) == expected
    assert f'filename="audit-head-{expected["seq"]}.json"' in download["Content-Disposition"]
    for person in (reviewer, outsider):
        assert client_for(person).get("/api/v1/audit/head/").json()["code"] == "forbidden"
        assert web(person).get("/audit/head.json").status_code == 403


def restore_older_backup(seq: int) -> None:
    """What restoring a database dump taken at event ``seq`` leaves: the events after it
    gone and the head back there (DELETE is refused by a trigger on PostgreSQL)."""
    kept = AuditEvent.objects.get(seq=seq)
    tamper("DELETE FROM registry_auditevent WHERE seq > %s", [seq])
    AuditChainHead.objects.filter(pk=1).update(seq=kept.seq, hash=kept.hash)


@pytest.fixture
def anchored(model, tmp_path):
    """An anchor kept after some events, then more events."""
    record(3, model_name=model.name)
    anchor = head_line()
    path = tmp_path / "anchors.jsonl"
    path.write_text(run("audit_head"))
    record(3, model_name=model.name)
    return anchor, path


def test_the_chain_holds_a_kept_anchor(anchored):
    anchor, path = anchored

    out = run(
        "audit_verify", "--anchor", str(path), "--expect-head", f"{anchor['seq']}:{anchor['hash']}"
    )

    assert "Audit chain OK" in out
    assert "holds 2 anchor(s)" in out


def test_a_chain_truncated_below_an_anchor_fails_naming_it(anchored):
    anchor, path = anchored
    restore_older_backup(anchor["seq"] - 2)

    assert "Audit chain OK" in run("audit_verify")  # on its own, the shorter chain is whole
    message = refused("audit_verify", "--anchor", str(path))

    assert (
        f"FAIL anchor #{anchor['seq']} {anchor['hash'][:16]}… of {anchor['at']}: the stored chain "
        f"ends at #{anchor['seq'] - 2}, before the anchor. It was truncated, or restored from a "
        "backup older than the anchor."
    ) in message
    assert "does NOT hold 1 of 1 anchor(s)" in message
    by_flag = refused("audit_verify", "--expect-head", f"{anchor['seq']}:{anchor['hash']}")
    assert f"FAIL anchor #{anchor['seq']} {anchor['hash'][:16]}…: the stored chain ends" in by_flag


def test_a_chain_rewritten_past_an_anchor_fails_naming_it(anchored, model):
    anchor, path = anchored
    restore_older_backup(anchor["seq"] - 1)
    record(5, model_name=model.name)  # life goes on after the restore, past the anchor's seq

    assert "Audit chain OK" in run("audit_verify")
    message = refused("audit_verify", "--anchor", str(path))

    assert f"FAIL anchor #{anchor['seq']} {anchor['hash'][:16]}…" in message
    assert f"event #{anchor['seq']} now has hash " in message
    assert "The chain was rewritten from there on" in message


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--expect-head", "12"], "--expect-head: '12' is not SEQ:HASH"),
        (["--expect-head", "3:" + "G" * 64], "is not SEQ:HASH"),
        (["--anchor", "/no/such/file"], "--anchor /no/such/file: "),
    ],
)
def test_an_unreadable_anchor_is_refused(db, args, error):
    assert error in refused("audit_verify", *args)


def test_a_bundle_carries_the_head_and_its_manifest_is_an_anchor(
    model, engineer, auditor, tmp_path
):
    Candidate().register(actor=engineer, model=model)
    head = head_line()
    data = bundle_build(version=model.versions.get(), actor=auditor).file.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = archive.read("manifest.json")
    path = tmp_path / "manifest.json"
    path.write_bytes(manifest)

    assert json.loads(manifest)["audit"]["head"] == head
    (tmp_path / "bundle.zip").write_bytes(data)
    tool = run_tool(tmp_path / "bundle.zip", tmp_path)
    assert tool.code == 0, tool.output
    assert f"audit_verify --expect-head {head['seq']}:{head['hash']}" in tool.output
    assert "holds 1 anchor(s)" in run("audit_verify", "--anchor", str(path))
    restore_older_backup(head["seq"] - 1)
    assert f"FAIL anchor #{head['seq']} " in refused("audit_verify", "--anchor", str(path))
