"""Version bundles: what they hold, who may export them, and that both verifiers (the
management command and the standard-library script) accept a fresh one and name exactly
what was altered in a changed one."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import json
import random
import re
import sys
import zipfile
import zlib
from html import unescape
from pathlib import Path

import pytest

from registry import offline
from registry.audit import chain as audit_chain
from registry.audit import encoders
from registry.audit.chain import canonical_json, event_hash
from registry.models import AuditEvent
from registry.offline import manifest_bytes, manifest_digest
from reviews.bundles import build as bundles
from reviews.management.commands import bundle_verify
from tests.builders import (
    OFFLINE,
    ROOT,
    TOOL,
    Built,
    Candidate,
    biased_frame,
    client_for,
    register,
    run_command,
    run_tool,
    web,
)

pytestmark = pytest.mark.django_db


def load_tool():
    spec = importlib.util.spec_from_file_location("verify_bundle_under_test", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rewrite(data: bytes, changes: dict[str, bytes | None]) -> bytes:
    """The zip with some files replaced (None drops one)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in changes:
                if changes[info.filename] is not None:
                    dst.writestr(info, changes[info.filename])
            else:
                dst.writestr(info, src.read(info))
    return out.getvalue()


def resealed(data: bytes, changes: dict[str, bytes]) -> bytes:
    """What a careful forger does: change files and recompute the manifest to match."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        if entry["path"] in changes:
            entry["sha256"] = hashlib.sha256(changes[entry["path"]]).hexdigest()
            entry["size"] = len(changes[entry["path"]])
    manifest["manifest_sha256"] = manifest_digest(manifest)
    return rewrite(data, {**changes, "manifest.json": manifest_bytes(manifest)})


def flip(content: bytes, at: int | None = None) -> bytes:
    at = len(content) // 2 if at is None else at
    return content[:at] + bytes([content[at] ^ 0x01]) + content[at + 1 :]


def check_both(data: bytes, tmp_path: Path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return run_command(path), run_tool(path, tmp_path)


# --- contents ------------------------------------------------------------------------------


def test_the_bundle_holds_every_part(built: Built):
    names = built.names()
    manifest = json.loads(built.read("manifest.json"))

    kinds = {
        name.split("/")[1].split("-")[0]
        for name in names
        if name.endswith(".json") and name.count("/") == 1 and name.startswith("reports/")
    }
    assert kinds == {"fairness", "performance", "kpi", "shap", "lime", "reference"}
    # The drift reference's raw values stay out; its record names the file and its digest.
    (reference,) = [n for n in names if n.startswith("reports/reference-")]
    (samples,) = json.loads(built.read(reference))["files"]
    assert samples["path"] is None and len(samples["sha256"]) == 64
    assert not [n for n in names if n.endswith("reference-samples.json")]
    assert {"report.html", "report.pdf", "manifest.json"} <= set(names)
    assert {"audit/events.jsonl", "audit/events.csv", "audit/chain.jsonl"} <= set(names)
    plots = [n for n in names if n.count("/") == 2 and n.startswith("reports/")]
    assert plots and all(n.endswith(".svg") for n in plots)
    assert sorted(f["path"] for f in manifest["files"]) == sorted(set(names) - {"manifest.json"})
    for entry in manifest["files"]:
        data = built.read(entry["path"])
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert built.read("report.pdf").startswith(b"%PDF-")
    assert manifest["policy_revision"] == 1
    assert set(manifest["engine_versions"]) == {
        name.removeprefix("reports/").removesuffix(".json")
        for name in names
        if name.endswith(".json") and name.count("/") == 1 and name.startswith("reports/")
    }
    assert manifest["manifest_sha256"] == manifest_digest(manifest)
    assert built.read("manifest.json") == manifest_bytes(manifest)


def test_each_report_file_carries_its_result_params_and_engines(built: Built):
    for name in built.names():
        if name.startswith("reports/") and name.count("/") == 1:
            report = json.loads(built.read(name))
            assert set(report) >= {"result", "params", "engine_versions", "result_sha256"}
            expected = hashlib.sha256(canonical_json(report["result"]).encode()).hexdigest()
            assert report["result_sha256"] == expected
            for plot in report["files"]:
                if plot["path"] is None:  # raw evaluation values, left out of bundles
                    assert plot["left_out"] == "raw evaluation values"
                    continue
                assert hashlib.sha256(built.read(plot["path"])).hexdigest() == plot["sha256"]


def test_the_report_tells_the_whole_story(built: Built):
    html = built.read("report.html").decode()

    for text in (
        "Rank loan applications for manual review",  # intended use
        "Risk tier</dt><dd>High",
        "Credit risk (<code>credit-risk</code>)",  # owner team
        "Fewer manual reviews",  # objective
        "<code>complaint_rate</code>",
        "KPI complaint_rate has no value",  # a limitation
        "Statistical parity difference",  # fairness with intervals
        "the 2 most important features",  # SHAP
        "No feature was flagged as a proxy",
        "I have reviewed this version and its reports and approve it for production.",
        "under policy revision 1",
        "subject sha256",
        "quarterly release",  # the promotion
        "rev (Reviewer), risk (Risk officer)",  # roles in words
        "audit/chain.jsonl",
    ):
        assert text in html, text
    assert 'src="reports/' in html  # plots by their path inside the bundle
    assert "http://" not in html and "https://" not in html


def test_the_audit_files_hold_the_models_events_with_their_chain(built: Built):
    jsonl = [json.loads(line) for line in built.read("audit/events.jsonl").decode().splitlines()]
    chain = [json.loads(line) for line in built.read("audit/chain.jsonl").decode().splitlines()]
    manifest = json.loads(built.read("manifest.json"))["audit"]

    assert jsonl == built.model_events
    assert all(event_hash(e) == e["hash"] for e in jsonl)
    assert [c["seq"] for c in chain] == list(range(jsonl[0]["seq"], jsonl[-1]["seq"] + 1))
    assert {c["seq"] for c in chain if c["included"]} == {e["seq"] for e in jsonl}
    assert any(not c["included"] for c in chain)  # other events sit in between...
    assert all(set(c) == {"seq", "prev_hash", "hash", "included"} for c in chain)  # ...hashes only
    by_seq = {e["seq"]: e for e in built.all_events}
    assert all(
        (c["prev_hash"], c["hash"]) == (by_seq[c["seq"]]["prev_hash"], by_seq[c["seq"]]["hash"])
        for c in chain
    )
    assert manifest["first"] == {"seq": jsonl[0]["seq"], "hash": jsonl[0]["hash"]}
    assert manifest["last"] == {"seq": jsonl[-1]["seq"], "hash": jsonl[-1]["hash"]}
    assert manifest["range_prev_hash"] == jsonl[0]["prev_hash"]
    assert manifest["events"] == len(jsonl)


# --- the report's PDF ----------------------------------------------------------------------

NEAR_EMPTY = 0.2  # a last page filled less than this is a page the reader turns for nothing


def _text(box, out: list[str]) -> list[str]:
    if getattr(box, "text", None):
        out.append(box.text)
    for child in getattr(box, "children", []):
        _text(child, out)
    return out


@pytest.fixture(scope="module")
def pdf_pages(built) -> list[tuple[str, float]]:
    """The bundle's report laid out again from its own HTML and plots: each page's text and how
    much of its height the content fills (WeasyPrint's page boxes, without the margin boxes)."""
    from reviews.bundles.pdf import render_document

    plots = {
        name: (built.read(name), "image/svg+xml")
        for name in built.names()
        if name.startswith("reports/") and name.endswith(".svg")
    }
    document = render_document(built.read("report.html").decode(), plots)
    pages = []
    for page in document.pages:
        box = page._page_box
        body = [child for child in box.children if type(child).__name__ != "MarginBox"]
        bottom = max(
            (
                d.position_y + d.margin_height()
                for b in body
                for d in b.descendants()
                if type(d).__name__ == "TextBox" or not getattr(d, "children", None)
            ),
            default=box.content_box_y(),
        )
        text = " ".join(" ".join(_text(b, [])) for b in body)
        pages.append((re.sub(r"\s+", " ", text), (bottom - box.content_box_y()) / box.height))
    return pages


def _streams(pdf: bytes) -> bytes:
    """The PDF with its compressed streams inflated, to search for what they hold."""
    out = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        with contextlib.suppress(zlib.error):
            out.append(zlib.decompress(match.group(1)))
    return b"\n".join(out)


def test_the_pdf_first_page_summarises_the_decision_findings_limitations_and_signers(
    pdf_pages,
):
    first, _ = pdf_pages[0]

    assert "Summary Decision all 7 gates pass Version 1.0.0 is production." in first
    assert "Fairness pass every metric's interval lies inside its policy band." in first
    assert "Limitations • KPI complaint_rate has no value" in first
    assert "Signers risk (Risk officer): Approved" in first
    assert "rev (Reviewer): Approved" in first


def test_the_pdf_has_no_near_empty_last_page(pdf_pages, built):
    fills = [fill for _, fill in pdf_pages]

    assert fills[-1] >= NEAR_EMPTY, fills
    assert len(pdf_pages) == _streams(built.read("report.pdf")).count(b"/Type /Page/")
    assert "Audit trail" in pdf_pages[-1][0]  # the last section ends the report


def test_the_pdf_is_tagged_pdf_a_3a_and_the_same_bytes_from_the_same_html(built):
    from reviews.bundles.pdf import render_pdf

    pdf = built.read("report.pdf")
    inside = _streams(pdf)
    assert pdf.startswith(b"%PDF-1.7")
    assert b'pdfaid:part="3" pdfaid:conformance="A"' in inside
    assert b"/StructTreeRoot" in inside and b"/MarkInfo <</Marked true>>" in inside
    assert b"/OutputIntents" in inside and b"/Lang (en)" in inside
    plots = {
        name: (built.read(name), "image/svg+xml")
        for name in built.names()
        if name.startswith("reports/") and name.endswith(".svg")
    }
    assert render_pdf(built.read("report.html").decode(), plots) == pdf


def test_the_fairness_intervals_are_drawn_with_their_colours(built):
    html = built.read("report.html").decode()

    whiskers = re.findall(r'<svg class="whisker".*?</svg>', html)
    assert len(whiskers) == 4  # one per metric of the one comparison
    # Colours are the SVG's own attributes: the PDF draws them without the site's stylesheet.
    assert all('class="wb-band" fill="#dafbe1"' in w for w in whiskers)
    assert all(re.search(r'class="wb-ci wb-pass" stroke="#[0-9a-f]{6}"', w) for w in whiskers)


def test_the_shap_plots_say_what_they_show_not_their_file_names(built):
    html = built.read("report.html").decode()
    report = json.loads(built.read(resolve(built, "reports/shap-*.json")))
    rows = report["result"]["sample"]["explained_rows"]
    figures = re.findall(
        r'<figure><img src="([^"]+)" alt="([^"]*)"><figcaption>(.*?)</figcaption>', html
    )

    assert sorted(Path(src).name for src, _, _ in figures) == [
        "shap_beeswarm.svg",
        "shap_importance.svg",
    ]
    for src, alt, caption in figures:
        caption = unescape(re.sub(r"<[^>]+>", "", caption))
        assert src not in alt and src not in caption
        if src.endswith("shap_importance.svg"):
            assert unescape(alt) == (
                f"SHAP summary: features ranked by mean |SHAP value| over {rows} explained rows"
            )
        else:
            assert unescape(alt).startswith(f"SHAP beeswarm: one dot per explained row ({rows})")
            assert caption.startswith("SHAP values per row: how each feature pushes")


def test_the_summary_names_the_failing_fairness_metrics_and_the_blocking_gates(model, engineer):
    from django.template.loader import render_to_string
    from django.utils import timezone

    from explain.presenters import fairness_findings
    from explain.selectors import latest_reports
    from reviews.bundles.context import _report_context

    version = register(engineer, model, frame=biased_frame(), shap=False)
    reports = list(version.reports.all())
    context = _report_context(version, reports, {}, timezone.now(), engineer, [])
    html = render_to_string(bundles.TEMPLATE, context)
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split('id="summary"')[1]))
    summary = summary.split("Model card")[0]

    findings = fairness_findings(latest_reports(version)["fairness"].result)
    assert findings and findings[0]["verdict"] == "fail"
    assert "Fairness fail on these metrics" in summary
    shown = findings[: len(context["summary"]["findings"])]
    assert len(shown) == 4 and all(f"fail {f['text']}" in unescape(summary) for f in shown)
    assert (
        "Summary Decision 4 of 7 gates block Version 1.0.0 is registered; it may not be "
        "promoted until these pass: Review requested:" in summary
    )
    # Limitations on page one leave the gates to the decision above them.
    assert "Limitations The fairness verdict is fail. No model file was uploaded" in summary
    assert "Gate “" not in summary
    assert "Signers No sign-offs." in summary


# --- verification of an intact bundle ------------------------------------------------------


def test_a_fresh_bundle_verifies_with_both_verifiers(built: Built, tmp_path):
    command, tool = check_both(built.data, tmp_path)

    assert command.code == 0, command.output
    assert tool.code == 0, tool.output
    for outcome in (command, tool):
        assert "Bundle intact." in outcome.output
        assert f"{len(built.model_events)} audit events of model 'credit-default'" in outcome.output
    manifest_sha = hashlib.sha256(built.read("manifest.json")).hexdigest()
    assert f"manifest sha256 {manifest_sha}" in tool.output


def test_the_standalone_verifier_hashes_exactly_like_gatehouse(built: Built):
    tool = load_tool()
    rng = random.Random(11)
    chars = 'aZ"\\\n\x00é€😀\u2028'
    samples = list(built.all_events)
    for seq in range(300):
        text = lambda: "".join(rng.choice(chars) for _ in range(rng.randrange(6)))  # noqa: E731
        samples.append(
            {
                "seq": seq,
                **{f: text() for f in ("created_at", "actor", "action", "object_type")},
                **{f: text() for f in ("object_id", "model", "prev_hash")},
                "payload": {text(): [rng.random(), rng.randrange(-(10**20), 10**20), text(), None]},
            }
        )
    for content in samples:
        assert tool.event_hash(content) == event_hash(content)
        assert tool.canonical_json(content) == canonical_json(content)
        # The chain walk's faster spelling of the same hash.
        fast = hashlib.sha256(audit_chain._canonical_body(content).encode()).hexdigest()
        assert fast == event_hash(content)
    assert tool.HASHED_FIELDS == (
        "seq",
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "model",
        "payload",
        "prev_hash",
    )


def test_the_standalone_verifier_uses_the_standard_library_only():
    for source in (TOOL, OFFLINE):
        tree = ast.parse(source.read_text())
        imported = {
            (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }

        assert imported - {"__future__"} <= set(sys.stdlib_module_names), source


def test_the_auditors_verifier_is_a_byte_identical_copy_of_the_apps_rules():
    # The rules are written once, in registry/offline.py; `make verifier` rewrites the copy.
    assert TOOL.read_bytes() == OFFLINE.read_bytes(), "run `make verifier`"
    assert offline.__file__ == str(OFFLINE)


def test_the_app_uses_the_offline_rules_themselves():
    assert audit_chain.event_hash is offline.event_hash
    assert audit_chain.canonical_json is offline.canonical_json
    assert audit_chain.HASHED_FIELDS is offline.HASHED_FIELDS
    assert encoders.csv_guard is offline.csv_guard
    assert encoders.EXPORT_COLUMNS is offline.EVENT_COLUMNS
    assert bundles.manifest_bytes is offline.manifest_bytes
    assert bundles.manifest_digest is offline.manifest_digest
    assert bundle_verify.offline is offline  # a normal import, no module loaded by path


def test_an_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"not a zip at all")

    assert run_tool(path, tmp_path).code == 1
    assert "not a readable zip file" in run_tool(path, tmp_path).output
    assert run_command(path).code == 1


# --- one changed byte anywhere -------------------------------------------------------------

ROLES = [
    "manifest.json",
    "report.html",
    "report.pdf",
    "audit/events.jsonl",
    "audit/events.csv",
    "audit/chain.jsonl",
    "reports/fairness-*.json",
    "reports/performance-*.json",
    "reports/kpi-*.json",
    "reports/shap-*.json",
    "reports/lime-*.json",
    "reports/reference-*.json",
    "reports/*/shap_importance.svg",
    "reports/*/shap_beeswarm.svg",
]


def resolve(built: Built, role: str) -> str:
    return next(name for name in built.names() if Path(name).match(role))


def test_the_roles_cover_every_file_in_the_bundle(built: Built):
    assert sorted(resolve(built, role) for role in ROLES) == sorted(built.names())


@pytest.mark.parametrize("role", ROLES)
def test_one_changed_byte_in_any_file_is_found_and_named(built: Built, role, tmp_path):
    name = resolve(built, role)
    data = rewrite(built.data, {name: flip(built.read(name))})

    command, tool = check_both(data, tmp_path)

    for outcome in (command, tool):
        assert outcome.code == 1, outcome.output
        assert f"FAIL {name}: altered" in outcome.output, outcome.output
        assert "Bundle NOT intact" in outcome.output


def test_a_corrupted_zip_entry_is_named(built: Built, tmp_path):
    raw = bytearray(built.data)
    with zipfile.ZipFile(io.BytesIO(built.data)) as archive:
        info = archive.getinfo("report.html")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0xFF

    command, tool = check_both(bytes(raw), tmp_path)

    for outcome in (command, tool):
        assert outcome.code == 1
        assert "report.html: altered" in outcome.output


# --- one changed audit event ---------------------------------------------------------------


def events_and_rows(built: Built):
    lines = built.read("audit/events.jsonl").decode().splitlines()
    return [json.loads(line) for line in lines], built.read("audit/events.csv").decode()


CHANGES = {
    "payload": lambda e: {**e["payload"], "note": "edited"},
    "actor": lambda e: "mallory",
    "created_at": lambda e: e["created_at"].replace("T", "T0").replace("T00", "T1", 1)[:27],
    "action": lambda e: "nothing.happened",
    "prev_hash": lambda e: "0" * 64,
    "hash": lambda e: "f" * 64,
}


@pytest.mark.parametrize("field", list(CHANGES))
@pytest.mark.parametrize("reseal", [False, True], ids=["as-is", "manifest-resealed"])
def test_one_changed_field_of_one_event_is_named(built: Built, field, reseal, tmp_path):
    events, _ = events_and_rows(built)
    target = events[len(events) // 2]
    changed = [{**e, field: CHANGES[field](e)} if e["seq"] == target["seq"] else e for e in events]
    body = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in changed)
    change = {"audit/events.jsonl": body.encode()}
    data = resealed(built.data, change) if reseal else rewrite(built.data, change)

    command, tool = check_both(data, tmp_path)

    for outcome in (command, tool):
        assert outcome.code == 1, outcome.output
        culprit = f"FAIL audit/events.jsonl event #{target['seq']}: altered: field '{field}'"
        assert culprit in outcome.output, outcome.output
        if reseal:
            assert "sha256 does not match the manifest" not in outcome.output
        else:
            assert "FAIL audit/events.jsonl: altered: its sha256 does not match" in outcome.output


def test_a_changed_csv_cell_is_named_against_the_jsonl(built: Built, tmp_path):
    _, text = events_and_rows(built)
    lines = text.splitlines(keepends=True)
    cells = lines[3].split(",")
    seq = int(cells[0])
    cells[2] = "mallory"  # the actor
    lines[3] = ",".join(cells)

    command, tool = check_both(
        resealed(built.data, {"audit/events.csv": "".join(lines).encode()}), tmp_path
    )

    for outcome in (command, tool):
        assert outcome.code == 1
        assert (
            f"FAIL audit/events.csv event #{seq}: altered: field 'actor' reads 'mallory'"
            in outcome.output
        )


def test_a_removed_event_is_missed_by_the_chain(built: Built, tmp_path):
    events, text = events_and_rows(built)
    gone = events[2]["seq"]
    jsonl = [
        line
        for line in built.read("audit/events.jsonl").decode().splitlines(True)
        if f'"seq":{gone},' not in line
    ]
    csv_lines = [line for line in text.splitlines(True) if not line.startswith(f"{gone},")]
    change = {
        "audit/events.jsonl": "".join(jsonl).encode(),
        "audit/events.csv": "".join(csv_lines).encode(),
    }

    command, tool = check_both(resealed(built.data, change), tmp_path)

    for outcome in (command, tool):
        assert outcome.code == 1
        assert f"event #{gone} of the chain range is missing" in outcome.output


def test_a_broken_link_in_the_chain_run_is_named(built: Built, tmp_path):
    chain = [json.loads(line) for line in built.read("audit/chain.jsonl").decode().splitlines()]
    other = next(c for c in chain[1:-1] if not c["included"])
    other["hash"] = "e" * 64
    body = "".join(json.dumps(c, separators=(",", ":")) + "\n" for c in chain)

    command, tool = check_both(resealed(built.data, {"audit/chain.jsonl": body.encode()}), tmp_path)

    for outcome in (command, tool):
        assert outcome.code == 1
        assert (
            f"FAIL audit/chain.jsonl #{other['seq'] + 1}: prev_hash is not the hash of #{other['seq']}"
            in outcome.output
        )


# --- access and the audit event ------------------------------------------------------------


@pytest.fixture
def plain_version(model, engineer):
    """A version without reports: cheap to bundle."""
    return Candidate().register(actor=engineer, model=model).version


def test_an_auditor_downloads_the_bundle_and_it_is_recorded(plain_version, auditor, tmp_path):
    response = web(auditor).get("/models/credit-default/versions/1.0.0/bundle.zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert 'filename="credit-default-1.0.0-bundle.zip"' in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest_raw = archive.read("manifest.json")
    digest = hashlib.sha256(manifest_raw).hexdigest()
    assert response["X-Bundle-Manifest-SHA256"] == digest
    event = AuditEvent.objects.get(action="bundle.exported")
    assert (event.actor_name, event.model_name) == ("aud", "credit-default")
    assert event.payload["manifest_sha256"] == digest
    assert response["X-Audit-Event-Seq"] == str(event.seq)  # the page shows it after export
    ours = AuditEvent.objects.filter(model_name="credit-default", seq__lt=event.seq)
    assert event.payload["last_seq"] == ours.order_by("-seq").first().seq
    assert event.payload["events"] == ours.count()
    path = tmp_path / "b.zip"
    path.write_bytes(data)
    assert run_tool(path, tmp_path).code == 0


def test_the_version_page_says_the_export_is_building_and_shows_what_was_recorded(
    plain_version, auditor, reviewer
):
    page = "/models/credit-default/versions/1.0.0/"
    html = web(auditor).get(page).content.decode()

    assert 'data-bundle><button class="primary">Export bundle</button>' in html
    assert 'role="status" aria-live="polite" data-bundle-status>' in html
    assert '<script src="/static/gatehouse/bundle.js" defer></script>' in html
    script = (ROOT / "static" / "gatehouse" / "bundle.js").read_text()
    assert "X-Bundle-Manifest-SHA256" in script and "X-Audit-Event-Seq" in script
    assert "bundle.js" not in web(reviewer).get(page).content.decode()


def test_a_reviewer_of_the_model_may_not_export_it(plain_version, reviewer):
    response = web(reviewer).get("/models/credit-default/versions/1.0.0/bundle.zip")

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="bundle.exported").exists()


def test_an_outsider_gets_404(plain_version, outsider):
    response = web(outsider).get("/models/credit-default/versions/1.0.0/bundle.zip")

    assert response.status_code == 404


def test_the_api_bundle_follows_the_same_rules(plain_version, admin_user, reviewer, outsider):
    url = "/api/v1/models/credit-default/versions/1.0.0/bundle/"

    assert client_for(outsider).get(url).status_code == 404
    refused = client_for(reviewer).get(url, HTTP_ACCEPT="application/zip")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    response = client_for(admin_user).get(url, HTTP_ACCEPT="application/zip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert AuditEvent.objects.filter(action="bundle.exported", actor_name="adm").count() == 1


def test_the_version_page_offers_the_export_to_auditors_only(plain_version, auditor, reviewer):
    url = "/models/credit-default/versions/1.0.0/"
    button = "Export bundle"

    assert button in web(auditor).get(url).content.decode()
    assert button not in web(reviewer).get(url).content.decode()
