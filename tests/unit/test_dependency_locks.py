"""The dependency locks: runtime apart from test tools, every package pinned with hashes, and
an audit that never passes packages it could not check."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(name: str) -> dict[str, tuple[str, int]]:
    """package -> (version, number of hashes) of a lock file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / name).read_text().splitlines():
        if match := PIN.match(line):
            current = _normal(match[1])
            pins[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            pytest.fail(f"{name}: unpinned line {line!r}")
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    out = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        out[_normal(name.split("[")[0])] = version
    return out


def test_every_locked_package_is_pinned_with_hashes():
    for name in ("requirements.lock", "requirements-test.lock"):
        pins = _lock(name)
        assert pins, name
        unhashed = [package for package, (_, hashes) in pins.items() if hashes == 0]
        assert unhashed == [], f"{name} has packages without hashes: {unhashed}"


def test_runtime_lock_holds_the_project_dependencies_and_no_test_tools():
    runtime = _lock("requirements.lock")
    for package, version in _requirement_names(_project()["dependencies"]).items():
        assert runtime.get(package, ("missing",))[0] == version, package
    test_tools = _requirement_names(_project()["optional-dependencies"]["test"])
    leaked = sorted(set(test_tools) & set(runtime))
    assert leaked == [], f"test tools in the runtime lock: {leaked}"


def test_test_lock_adds_the_test_tools_at_the_runtime_versions():
    runtime, full = _lock("requirements.lock"), _lock("requirements-test.lock")
    changed = {p: (v, full.get(p, ("missing",))[0]) for p, (v, _) in runtime.items()}
    assert {p: pair for p, pair in changed.items() if pair[0] != pair[1]} == {}
    for package, version in _requirement_names(_project()["optional-dependencies"]["test"]).items():
        assert full.get(package, ("missing",))[0] == version, package


FAKE_PIP_AUDIT = """
import json, sys
out = sys.argv[sys.argv.index("--output") + 1]
json.dump({"dependencies": %s, "fixes": []}, open(out, "w"))
"""


@pytest.mark.parametrize(
    ("dependencies", "code", "says"),
    [
        ([{"name": "django", "version": "5.2.19", "vulns": []}], 0, "1 packages checked"),
        (
            [
                {"name": "django", "version": "5.2.19", "vulns": []},
                {"name": "celery", "skip_reason": "Dependency not found on PyPI"},
            ],
            2,
            "NOT CHECKED: 1 of 2 packages",
        ),
        (
            [
                {
                    "name": "django",
                    "version": "5.2.0",
                    "vulns": [{"id": "PYSEC-1", "fix_versions": ["5.2.1"]}],
                }
            ],
            1,
            "VULNERABLE requirements.lock: django==5.2.0: PYSEC-1 (fixed in 5.2.1)",
        ),
    ],
)
def test_audit_fails_plainly_when_packages_were_not_checked(tmp_path, dependencies, code, says):
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_PIP_AUDIT % json.dumps(dependencies))
    fake.chmod(0o755)
    run = subprocess.run(
        [sys.executable, "scripts/audit.py", "requirements.lock", "--pip-audit", str(fake)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == code, run.stdout + run.stderr
    assert says in run.stdout


def test_audit_says_when_the_service_cannot_be_reached(tmp_path):
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.exit('ConnectionError: no route')\n")
    fake.chmod(0o755)
    run = subprocess.run(
        [sys.executable, "scripts/audit.py", "requirements.lock", "--pip-audit", str(fake)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "could not reach vulnerability data (ConnectionError: no route)" in run.stdout
