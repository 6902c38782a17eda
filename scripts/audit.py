"""Audit the locked dependencies for known vulnerabilities with pip-audit, and say plainly
when the vulnerability data could not be reached.

pip-audit reports "No known vulnerabilities found" even when it skipped every package
(a package its service cannot look up, or no network). Here a skipped package is not a
pass: the run exits 2 and names what was not checked.

Exit codes: 0 every package checked, none vulnerable; 1 a known vulnerability;
2 some packages could not be checked (no data, no network, service error).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def audit(pip_audit: str, lock: Path, service: str, timeout: int) -> dict:
    """pip-audit's JSON report of one lock file; an unreachable service raises RuntimeError."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        command = [
            pip_audit,
            "--disable-pip",
            "--require-hashes",
            "-r",
            str(lock),
            "--vulnerability-service",
            service,
            "--timeout",
            str(timeout),
            "--format",
            "json",
            "--output",
            str(out),
            "--progress-spinner",
            "off",
        ]
        run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if not out.exists() or not out.read_text().strip():
            reason = (run.stderr or run.stdout).strip().splitlines()
            raise RuntimeError(reason[-1] if reason else f"pip-audit exited {run.returncode}")
        return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="+", type=Path)
    parser.add_argument("--pip-audit", default="pip-audit")
    parser.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    parser.add_argument("--timeout", type=int, default=15)
    args = parser.parse_args()

    vulnerable, unchecked, checked = [], [], 0
    for lock in args.locks:
        try:
            report = audit(args.pip_audit, lock, args.service, args.timeout)
        except RuntimeError as exc:
            print(f"audit: {lock}: could not reach vulnerability data ({exc}).")
            return 2
        for dep in report.get("dependencies", []):
            name = f"{dep['name']}=={dep['version']}" if "version" in dep else dep["name"]
            if "skip_reason" in dep:
                unchecked.append((lock, name, dep["skip_reason"]))
                continue
            checked += 1
            for vuln in dep.get("vulns", []):
                fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
                vulnerable.append((lock, name, vuln["id"], fixed))

    for lock, name, vuln_id, fixed in vulnerable:
        print(f"VULNERABLE {lock}: {name}: {vuln_id} (fixed in {fixed})")
    if unchecked:
        print(
            f"NOT CHECKED: {len(unchecked)} of {len(unchecked) + checked} packages could not be "
            f"looked up in the {args.service} vulnerability data; this is not a pass."
        )
        for lock, name, reason in unchecked[:10]:
            print(f"  {lock}: {name}: {reason}")
        if len(unchecked) > 10:
            print(f"  ... and {len(unchecked) - 10} more")
    print(
        f"audit: {checked} packages checked against {args.service}, "
        f"{len(vulnerable)} known vulnerabilities, {len(unchecked)} not checked."
    )
    if vulnerable:
        return 1
    return 2 if unchecked else 0


if __name__ == "__main__":
    sys.exit(main())
