#!/usr/bin/env python3
"""Verify a Gatehouse version bundle offline, with the Python standard library only.

    python3 tools/verify_bundle.py credit-default-1.0.0-bundle.zip

It needs nothing but the standard library, and it is where Gatehouse itself defines the
rules it checks (canonical JSON, the audit event hash and its fields, the CSV formula guard,
the manifest): the app imports them as ``registry.offline``, and ``tools/verify_bundle.py``
is a byte-identical copy of that module for auditors (a test holds the two identical;
``make verifier`` rewrites the copy). It checks that

- every file matches the sha256 and size in ``manifest.json``, no file is missing or
  extra, and the manifest itself is unaltered (its own ``manifest_sha256``);
- every audit event in ``audit/events.jsonl`` (the canonical copy) hashes to its ``hash``,
  ``audit/events.csv`` holds the same events field for field (a CSV cell that begins with
  ``'`` stands for its text without that one quote: the export adds it before any value that
  begins with ``=``, ``+``, ``-``, ``@``, tab, CR, LF or ``'`` so spreadsheets do not read a
  formula), and every event belongs to the bundle's model;
- ``audit/chain.jsonl`` is one unbroken run of the chain from the first to the last included
  event (each ``prev_hash`` is the previous ``hash``), starts from the manifest's anchors,
  and holds every included event with the same hashes;
- each report's result matches its ``result_sha256`` and each plot the sha256 its report
  recorded.

It prints the chain head the manifest recorded at build time (``audit.head``): the live
chain must still hold it (``manage.py audit_verify --expect-head SEQ:HASH``), or it was
truncated or rewritten since, e.g. by restoring an older backup.

Each finding names the file, or the event's sequence number and field when that can be
told. Exit status: 0 intact, 1 altered, 2 unreadable arguments.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

BUNDLE_FORMAT = "gatehouse-bundle/1"
MANIFEST = "manifest.json"
EVENTS_JSONL = "audit/events.jsonl"
EVENTS_CSV = "audit/events.csv"
CHAIN = "audit/chain.jsonl"
EVENT_COLUMNS = (
    "seq",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "model",
    "payload",
    "prev_hash",
    "hash",
)
HASHED_FIELDS = EVENT_COLUMNS[:-1]
# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# injection"), so the export writes such a cell with one extra leading "'"; the quote itself
# is in the set so that the guard can always be undone. In a bundle, a cell that begins with
# "'" stands for its text without that quote, and any other guarded start is an alteration.
CSV_GUARDED_LEADS = frozenset("=+-@\t\r\n'")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, no NaN: the same bytes for the same content."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_hash(content: Mapping[str, Any]) -> str:
    """The sha256 of an event's canonical content (the fields in HASHED_FIELDS)."""
    body = {name: content[name] for name in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def csv_guard(value: str) -> str:
    """The cell as written: one extra leading ``'`` when it begins with a character in
    CSV_GUARDED_LEADS, so no spreadsheet runs it. ``csv_unguard`` reverses it exactly."""
    return "'" + value if value[:1] in CSV_GUARDED_LEADS else value


def csv_unguard(cell: str) -> str:
    """The value a guarded CSV cell stands for: without the one leading ``'`` added."""
    return cell[1:] if cell[:1] == "'" else cell


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The one way a manifest is written: indented, sorted keys, trailing newline."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON without its own ``manifest_sha256``."""
    body = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return sha256(canonical_json(body).encode("utf-8"))


@dataclass(frozen=True)
class Finding:
    """One thing that does not hold: where (a file, or a file and an event) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Verification:
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    head: str = ""  # SEQ:HASH of the chain head when the bundle was built

    @property
    def ok(self) -> bool:
        return not self.findings

    def fail(self, where: str, what: str) -> None:
        finding = Finding(where, what)
        if finding not in self.findings:
            self.findings.append(finding)


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --- reading -------------------------------------------------------------------------------


def _read_zip(source: Any, out: Verification) -> dict[str, bytes] | None:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        out.fail(str(source), f"not a readable zip file ({exc})")
        return None
    contents: dict[str, bytes] = {}
    with archive:
        for info in archive.infolist():
            if info.filename in contents:
                out.fail(info.filename, "appears twice in the zip")
                continue
            try:
                contents[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
                out.fail(info.filename, f"altered: unreadable, its zip checksum fails ({exc})")
    return contents


def _read_manifest(contents: dict[str, bytes], out: Verification) -> dict[str, Any] | None:
    raw = contents.get(MANIFEST)
    if raw is None:
        out.fail(MANIFEST, "missing")
        return None
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        out.fail(MANIFEST, f"altered: not valid JSON ({exc})")
        return None
    if not isinstance(manifest, dict):
        out.fail(MANIFEST, "altered: not a JSON object")
        return None
    if manifest.get("format") != BUNDLE_FORMAT:
        out.fail(MANIFEST, f"altered or unknown: format is {manifest.get('format')!r}")
    if raw != manifest_bytes(manifest):
        out.fail(MANIFEST, "altered: its bytes differ from the form it is written in")
    elif manifest.get("manifest_sha256") != manifest_digest(manifest):
        out.fail(MANIFEST, "altered: its content does not match its manifest_sha256")
    out.manifest_sha256 = sha256(raw)
    return manifest


def _jsonl(data: bytes, name: str, out: Verification) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            out.fail(f"{name} line {number}", f"altered: not valid JSON ({exc})")
            continue
        if not isinstance(row, dict):
            out.fail(f"{name} line {number}", "altered: not a JSON object")
            continue
        rows.append(row)
    return rows


def _events_jsonl(data: bytes, out: Verification) -> list[dict[str, Any]]:
    events = []
    for number, row in enumerate(_jsonl(data, EVENTS_JSONL, out), 1):
        if tuple(row) != EVENT_COLUMNS:
            out.fail(f"{EVENTS_JSONL} line {number}", f"altered: fields are {list(row)}")
            if not set(EVENT_COLUMNS) <= set(row):
                continue
        events.append(row)
    return events


def _events_csv(data: bytes, out: Verification) -> list[dict[str, Any]]:
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
        header = next(reader, None)
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        out.fail(EVENTS_CSV, f"altered: not readable CSV ({exc})")
        return []
    if tuple(header or ()) != EVENT_COLUMNS:
        out.fail(EVENTS_CSV, f"altered: the header is {header}")
        return []
    events = []
    for number, row in enumerate(rows, 2):
        where = f"{EVENTS_CSV} line {number}"
        if len(row) != len(EVENT_COLUMNS):
            out.fail(where, f"altered: {len(row)} cells instead of {len(EVENT_COLUMNS)}")
            continue
        for name, cell in zip(EVENT_COLUMNS, row, strict=True):
            if cell[:1] in CSV_GUARDED_LEADS and cell[:1] != "'":
                out.fail(where, f"altered: field '{name}' begins with {cell[:1]!r} unguarded")
        event: dict[str, Any] = dict(zip(EVENT_COLUMNS, map(csv_unguard, row), strict=True))
        try:
            event["seq"] = int(event["seq"])
        except ValueError:
            out.fail(where, f"altered: field 'seq' is not a number ({_short(event['seq'])})")
        try:
            event["payload"] = json.loads(event["payload"])
        except ValueError:
            out.fail(where, "altered: field 'payload' is not valid JSON")
        events.append(event)
    return events


# --- checks --------------------------------------------------------------------------------


def _check_files(contents: dict[str, bytes], manifest: dict[str, Any], out: Verification) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, list):
        out.fail(MANIFEST, "altered: no list of files")
        return
    seen = set()
    for entry in listed:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            out.fail(MANIFEST, f"altered: a file entry without a path ({_short(entry)})")
            continue
        seen.add(path)
        data = contents.get(path)
        if data is None:
            out.fail(path, "missing from the zip")
        elif sha256(data) != entry.get("sha256"):
            out.fail(path, "altered: its sha256 does not match the manifest")
        elif len(data) != entry.get("size"):
            out.fail(path, "altered: its size does not match the manifest")
    for path in contents:
        if path != MANIFEST and path not in seen:
            out.fail(path, "not listed in the manifest (added)")
    out.checked.append(f"{len(seen)} files match their sha256 in the manifest")


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [name for name in EVENT_COLUMNS if a.get(name) != b.get(name)]


def _hash_ok(event: Mapping[str, Any], hash_event: Callable[[Mapping[str, Any]], str]) -> bool:
    try:
        return hash_event(event) == event.get("hash")
    except (KeyError, TypeError, ValueError):
        return False


def _check_events(
    jsonl: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    audit: dict[str, Any],
    out: Verification,
    hash_event: Callable[[Mapping[str, Any]], str],
) -> None:
    if len(rows) != len(jsonl):
        out.fail(EVENTS_CSV, f"altered: {len(rows)} events, but {EVENTS_JSONL} has {len(jsonl)}")
    if audit.get("events") != len(jsonl):
        out.fail(EVENTS_JSONL, f"{len(jsonl)} events, but the manifest lists {audit.get('events')}")
    model = audit.get("model")
    previous = None
    for index, event in enumerate(jsonl):
        row = rows[index] if index < len(rows) else None
        ok_jsonl = _hash_ok(event, hash_event)
        ok_csv = row is not None and _hash_ok(row, hash_event)
        differ = _differences(event, row) if row is not None else []
        seq = row["seq"] if row is not None and ok_csv else event.get("seq")
        if not ok_jsonl:
            where = f"{EVENTS_JSONL} event #{seq}"
            if row is not None and ok_csv and differ:
                for name in differ:
                    out.fail(
                        where,
                        f"altered: field '{name}' reads {_short(event.get(name))}; the "
                        f"hash-verified copy in {EVENTS_CSV} reads {_short(row[name])}",
                    )
            else:
                out.fail(where, "altered: its content does not match its hash")
        if row is not None and not ok_csv:
            where = f"{EVENTS_CSV} event #{event.get('seq') if ok_jsonl else row.get('seq')}"
            if ok_jsonl and differ:
                for name in differ:
                    out.fail(
                        where,
                        f"altered: field '{name}' reads {_short(row.get(name))}; the "
                        f"hash-verified copy in {EVENTS_JSONL} reads {_short(event[name])}",
                    )
            else:
                out.fail(where, "altered: its content does not match its hash")
        if ok_jsonl and ok_csv and differ:
            out.fail(
                f"{EVENTS_CSV} event #{seq}",
                f"altered: fields {differ} differ from {EVENTS_JSONL} (one copy was re-hashed)",
            )
        if event.get("model") != model:
            out.fail(f"{EVENTS_JSONL} event #{seq}", f"not an event of model {model!r}")
        if previous is not None and isinstance(seq, int) and seq <= previous:
            out.fail(f"{EVENTS_JSONL} event #{seq}", "out of chain order")
        previous = seq if isinstance(seq, int) else previous
    out.checked.append(
        f"{len(jsonl)} audit events of model {model!r}: each hash recomputed, "
        f"{EVENTS_CSV} agrees with {EVENTS_JSONL}"
    )


def _check_chain(
    chain: list[dict[str, Any]],
    jsonl: list[dict[str, Any]],
    audit: dict[str, Any],
    out: Verification,
) -> None:
    first, last = audit.get("first"), audit.get("last")
    if not jsonl and not chain:
        if first or last:
            out.fail(CHAIN, "empty, but the manifest names a first and last event")
        return
    if not chain:
        out.fail(CHAIN, "missing or empty")
        return
    previous: dict[str, Any] | None = None
    by_seq: dict[int, dict[str, Any]] = {}
    for link in chain:
        seq = link.get("seq")
        if previous is not None:
            if seq != previous.get("seq", 0) + 1:
                out.fail(f"{CHAIN} #{seq}", f"the run jumps from #{previous.get('seq')} to #{seq}")
            elif link.get("prev_hash") != previous.get("hash"):
                out.fail(f"{CHAIN} #{seq}", f"prev_hash is not the hash of #{previous['seq']}")
        if isinstance(seq, int):
            by_seq[seq] = link
        previous = link
    head, tail = chain[0], chain[-1]
    if not isinstance(first, dict) or (head.get("seq"), head.get("hash")) != (
        first.get("seq"),
        first.get("hash"),
    ):
        out.fail(CHAIN, f"starts at #{head.get('seq')}, not at the manifest's first event")
    if head.get("prev_hash") != audit.get("range_prev_hash"):
        out.fail(CHAIN, "does not start from the manifest's range_prev_hash")
    if not isinstance(last, dict) or (tail.get("seq"), tail.get("hash")) != (
        last.get("seq"),
        last.get("hash"),
    ):
        out.fail(CHAIN, f"ends at #{tail.get('seq')}, not at the manifest's last event")
    for event in jsonl:
        seq = event.get("seq")
        found = by_seq.get(seq) if isinstance(seq, int) else None
        where = f"{EVENTS_JSONL} event #{seq}"
        if found is None:
            out.fail(where, "not in the chain range of the bundle")
        elif (found.get("prev_hash"), found.get("hash")) != (
            event.get("prev_hash"),
            event.get("hash"),
        ):
            out.fail(where, f"its hashes differ from the chain's at #{seq}")
        elif found.get("included") is not True:
            out.fail(where, f"the chain does not list #{seq} as included")
    present = {event.get("seq") for event in jsonl}
    for link in chain:
        if link.get("included") is True and link.get("seq") not in present:
            out.fail(EVENTS_JSONL, f"event #{link.get('seq')} of the chain range is missing")
    out.checked.append(
        f"chain #{head.get('seq')}..#{tail.get('seq')} ({len(chain)} links) is continuous from "
        f"prev_hash {str(head.get('prev_hash'))[:16]}… to hash {str(tail.get('hash'))[:16]}…, "
        "and holds every included event"
    )


def _check_head(audit: dict[str, Any], out: Verification) -> None:
    """The chain head when the bundle was built: keep it to check the live chain later."""
    head = audit.get("head")
    if head is None:
        out.checked.append("no chain head recorded (a bundle from before heads were kept)")
        return
    seq = head.get("seq") if isinstance(head, dict) else None
    digest = head.get("hash") if isinstance(head, dict) else None
    last = audit.get("last")
    if not isinstance(last, dict):
        last = {}
    if (
        type(seq) is not int
        or not isinstance(digest, str)
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        out.fail(MANIFEST, f"altered: the chain head is not a seq and a sha256 ({_short(head)})")
    elif seq != audit.get("upto_seq") or seq < (last.get("seq") or 0):
        out.fail(
            MANIFEST, f"altered: the chain head #{seq} is not where the events were read up to"
        )
    else:
        out.head = f"{seq}:{digest}"
        out.checked.append(
            f"chain head when built: #{seq} {digest} at {head.get('at')}; the live chain must "
            f"still hold it: manage.py audit_verify --expect-head {seq}:{digest}"
        )


def _check_reports(contents: dict[str, bytes], out: Verification) -> None:
    count = 0
    for path, data in sorted(contents.items()):
        if not (path.startswith("reports/") and path.endswith(".json") and path.count("/") == 1):
            continue
        try:
            report = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            out.fail(path, "altered: not valid JSON")
            continue
        count += 1
        result, digest = report.get("result"), report.get("result_sha256")
        if result is not None and digest:
            try:
                recomputed = sha256(canonical_json(result).encode("utf-8"))
            except ValueError:
                recomputed = ""
            if recomputed != digest:
                out.fail(path, "altered: its result does not match its result_sha256")
        for entry in report.get("files") or []:
            plot = entry.get("path")
            if plot in contents and sha256(contents[plot]) != entry.get("sha256"):
                out.fail(plot, f"altered: does not match the sha256 recorded in {path}")
    out.checked.append(f"{count} report results match their result_sha256")


def verify_bundle(
    source: Any, *, hash_event: Callable[[Mapping[str, Any]], str] = event_hash
) -> Verification:
    """Check a bundle (a path or a binary file object) and collect every finding."""
    out = Verification()
    contents = _read_zip(source, out)
    if contents is None:
        return out
    manifest = _read_manifest(contents, out)
    if manifest is not None:
        _check_files(contents, manifest, out)
    audit = manifest.get("audit") if isinstance(manifest, dict) else None
    audit = audit if isinstance(audit, dict) else {}
    jsonl = _events_jsonl(contents.get(EVENTS_JSONL, b""), out)
    rows = _events_csv(contents[EVENTS_CSV], out) if EVENTS_CSV in contents else []
    for name in (EVENTS_JSONL, EVENTS_CSV, CHAIN):
        if name not in contents:
            out.fail(name, "missing from the zip")
    _check_events(jsonl, rows, audit, out, hash_event)
    _check_chain(_jsonl(contents.get(CHAIN, b""), CHAIN, out), jsonl, audit, out)
    _check_head(audit, out)
    _check_reports(contents, out)
    return out


def report_lines(result: Verification) -> list[str]:
    """What the command prints: each finding, or what was checked, and the verdict."""
    if result.ok:
        lines = [f"ok  {line}" for line in result.checked]
        lines.append(f"manifest sha256 {result.manifest_sha256}")
        lines.append(
            "Bundle intact. Compare the manifest sha256 with the bundle.exported event in the "
            "live audit log to tie this bundle to the chain."
        )
        return lines
    lines = [f"FAIL {finding}" for finding in result.findings]
    lines.append(f"Bundle NOT intact: {len(result.findings)} finding(s).")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: verify_bundle.py BUNDLE.zip", file=sys.stderr)
        return 2
    result = verify_bundle(args[0])
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    print("\n".join(report_lines(result)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
