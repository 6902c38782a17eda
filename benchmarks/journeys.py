"""Benchmark: each role's job in a real browser, and the weight of every page it shows.

Seeds the demo into a throwaway data folder (SQLite, the embedded broker), starts
``manage.py serve`` (the web server and a Celery worker, as ``make run``) on a free port and
drives Debian's Chromium with Playwright through the four jobs of the demo's 1.1.0, one person
after the other, as a person would (clicking the dashboard's links, never typing a URL but the log-in page's):

- engineer (mlengineer): log in, open the candidate, request review;
- reviewer: log in, open it from the inbox, approve and sign with the password;
- risk officer: log in, open it, approve and sign, promote with a release note, confirm;
- auditor: log in, open the audit log, verify the chain, open the version, export its bundle.

For each job it prints the clicks, the fields typed and the wall time (log-in included, page
loads and the server's work included: the bundle is built on the first download). Then the
weight of each page the jobs showed: the HTML as served (the app compresses text responses)
against the same HTML before compression (the peer), the number of requests the page made and
their bytes on the wire and decoded (HTML, CSS, JS, images). Figures only, no thresholds.

    .venv/bin/python benchmarks/journeys.py [--width 1360] [--keep]

Needs Debian's chromium (``make services`` installs it). Takes a minute or two (the demo's
reports run first).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VERSION = "1.1.0"
MODEL = "credit-default"


@dataclass
class Job:
    role: str
    clicks: int = 0
    typed: int = 0
    seconds: float = 0.0
    pages: list[str] = field(default_factory=list)


@dataclass
class Weight:
    html: int = 0  # decoded bytes of the document
    html_wire: int = 0  # bytes of the document's body as sent
    html_gzip: int = 0  # the same document compressed here with gzip -6 (the peer)
    requests: int = 0
    wire: int = 0  # bodies as sent, every request of the page
    decoded: int = 0  # bodies decoded, every request of the page


def page_name(url: str) -> str:
    """The page's path and query, without the server's address."""
    return re.sub(r"^https?://[^/]+", "", url)


def weigh(browser, base_url: str, state: dict | None, path: str, width: int) -> Weight:
    """One page loaded in a fresh context (an empty cache) with the person's session, its
    lazy images loaded too."""
    context = browser.new_context(
        base_url=base_url, storage_state=state, viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    weight = Weight()

    def finished(request) -> None:
        response = request.response()
        if response is None or not 200 <= response.status < 300:
            return
        try:
            body = response.body()
            sent = request.sizes()["responseBodySize"]
        except Exception:  # the context closed under a late event; the page is weighed
            return
        weight.requests += 1
        weight.wire += sent
        weight.decoded += len(body)
        if request.resource_type == "document" and request.frame == page.main_frame:
            weight.html, weight.html_wire = len(body), sent
            weight.html_gzip = len(gzip.compress(body, 6))

    page.on("requestfinished", finished)
    page.goto(path, wait_until="networkidle")
    # Read to the end: lazy images (the SHAP plots) count too, wherever they sit.
    page.evaluate(
        "document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
    )
    # (polled with evaluate: wait_for_function would eval a string, which the CSP forbids)
    for _ in range(100):
        if page.evaluate("[...document.images].every(i => i.complete)"):
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(200)  # the last responses' "finished" events
    context.close()
    return weight


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    env = {
        **os.environ,
        "GATEHOUSE_DATA_DIR": str(data_dir),
        "GATEHOUSE_DEMO": "1",
        "DATABASE_URL": "",
    }
    env.pop("DATABASE_URL")
    for command in (["migrate", "--no-input"], ["demo_seed"]):
        subprocess.run(
            [PY, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data_dir / "serve.log", "w")  # noqa: SIM115  # closed with the process
    server = subprocess.Popen(
        [PY, "manage.py", "serve", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                stop_server(server)
                raise SystemExit(
                    f"the server did not start; see {data_dir / 'serve.log'}"
                ) from None
            time.sleep(0.5)
    passwords = dict(
        line.split("\t", 1) for line in (data_dir / "demo-users.txt").read_text().splitlines()
    )
    return server, url, passwords


def stop_server(server: subprocess.Popen) -> None:
    """Ctrl-C to ``serve`` stops the web server and its worker; their group if they linger."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class Person:
    """One browser context for one person; counts clicks and typed fields, names the pages."""

    def __init__(self, browser, base_url: str, job: Job, width: int) -> None:
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": 900}
        )
        self.page = self.context.new_page()
        self.job = job
        self.page.on("framenavigated", self._navigated)

    def _navigated(self, frame) -> None:
        if frame == self.page.main_frame:
            name = page_name(frame.url)
            if name not in self.job.pages:
                self.job.pages.append(name)

    def click(self, locator) -> None:
        self.job.clicks += 1
        locator.click()

    def type(self, locator, text: str) -> None:
        self.job.typed += 1
        locator.fill(text)

    def log_in(self, username: str, password: str) -> None:
        page = self.page
        page.goto("/login/")
        self.type(page.get_by_label("Username"), username)
        self.type(page.get_by_label("Password"), password)
        self.click(page.get_by_role("button", name="Log in"))
        page.wait_for_url(re.compile(r"/$"))

    def open_version(self) -> None:
        """From the dashboard, the candidate's link (its inbox row or the production table)."""
        page = self.page
        name = re.compile(rf"^({MODEL} )?{re.escape(VERSION)}$")
        self.click(page.locator("main").get_by_role("link", name=name).first)
        page.wait_for_url(re.compile(rf"/versions/{re.escape(VERSION)}/"))

    def sign(self, password: str) -> None:
        page = self.page
        self.click(page.get_by_label("Approved"))
        self.type(page.get_by_label("Your password"), password)
        self.click(page.get_by_role("button", name="Sign"))
        page.get_by_text(f"Signed: approved for {VERSION}.").wait_for()


def wait_for_reports(browser, base_url: str, password: str) -> None:
    """The demo's reports for the candidate run on the worker first (not part of any job)."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill("mlengineer")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    deadline = time.monotonic() + 600
    while True:
        page.goto(f"/models/{MODEL}/versions/{VERSION}/")
        if page.locator("#reports").get_attribute("data-live") is None:
            break
        if time.monotonic() > deadline:
            raise SystemExit("the demo's reports did not finish in 10 minutes")
        time.sleep(2)
    context.close()


def run_jobs(browser, base_url: str, passwords: dict[str, str], width: int):
    jobs: list[Job] = []
    states: dict[str, dict] = {}

    def job(role: str, username: str, steps) -> None:
        current = Job(role)
        person = Person(browser, base_url, current, width)
        started = time.perf_counter()
        person.log_in(username, passwords[username])
        steps(person, passwords[username])
        current.seconds = time.perf_counter() - started
        states[username] = person.context.storage_state()
        person.context.close()
        jobs.append(current)

    def engineer(person: Person, _: str) -> None:
        person.open_version()
        person.click(person.page.get_by_role("button", name="Request review"))
        person.page.get_by_text(f"Review requested for {VERSION}.").wait_for()

    def reviewer(person: Person, password: str) -> None:
        person.open_version()
        person.sign(password)

    def officer(person: Person, password: str) -> None:
        page = person.page
        person.open_version()
        person.sign(password)
        person.type(page.get_by_label("Release note"), f"Release {VERSION}")
        person.click(page.get_by_role("button", name="Promote to production"))
        page.locator("#replaced").wait_for()
        person.click(page.get_by_role("button", name="Confirm promotion"))
        page.get_by_text(f"{VERSION} is now in production.").wait_for()

    def auditor(person: Person, _: str) -> None:
        page = person.page
        person.click(page.locator("header").get_by_role("link", name="Audit", exact=True))
        page.wait_for_url(re.compile(r"/audit/"))
        person.click(page.get_by_role("button", name=re.compile("Verify chain")))
        page.get_by_text(re.compile(r"Chain verified: .* events intact")).wait_for()
        person.click(page.locator("header").get_by_role("link", name=re.compile("^Dashboard")))
        page.wait_for_url(re.compile(r"/(#inbox)?$"))
        person.open_version()
        with page.expect_download(timeout=300_000) as download:
            person.click(page.get_by_role("button", name="Export bundle"))
        download.value.path()  # wait for the whole file

    job("engineer: request review", "mlengineer", engineer)
    job("reviewer: sign off", "reviewer", reviewer)
    job("risk officer: sign, promote, confirm", "riskofficer", officer)
    job("auditor: verify chain, export bundle", "auditor", auditor)
    weights = {"/login/": weigh(browser, base_url, None, "/login/", width)}
    for username, paths in WEIGHED.items():
        for path in paths:
            weights[page_name(path)] = weigh(browser, base_url, states[username], path, width)
    return jobs, weights


# The pages weighed, each as the person who would open it (after the jobs: 1.1.0 serves).
WEIGHED = {
    "riskofficer": [
        "/",
        "/models/",
        f"/models/{MODEL}/",
        f"/models/{MODEL}/versions/1.1.0/",
        f"/models/{MODEL}/versions/1.0.0/",
        f"/models/{MODEL}/?compare=1.1.0&with=1.0.0",
        "/profile/",
    ],
    "auditor": ["/audit/", f"/audit/?model={MODEL}"],
}


def kb(n: int) -> str:
    return f"{n / 1024:,.1f}"


def report(jobs: list[Job], weights: dict[str, Weight], width: int) -> None:
    print(f"\nJobs (Chromium {width} px; log-in included; clicks, fields typed, wall seconds)")
    print(f"{'job':<40} {'clicks':>6} {'typed':>5} {'seconds':>8}  pages shown")
    for job in jobs:
        print(
            f"{job.role:<40} {job.clicks:>6} {job.typed:>5} {job.seconds:>8.2f}  "
            + ", ".join(job.pages)
        )
    print(
        "\nPage weight, each page cold (a fresh browser context), KiB; 'gzip -6' is the peer: "
        "the same HTML compressed here"
    )
    header = (
        f"{'page':<46} {'HTML':>8} {'as sent':>8} {'gzip -6':>8} {'ratio':>6} "
        f"{'requests':>8} {'all sent':>9} {'all decoded':>11}"
    )
    print(header)
    for name, weight in weights.items():
        if not weight.html:
            continue
        print(
            f"{name:<46} {kb(weight.html):>8} {kb(weight.html_wire):>8} {kb(weight.html_gzip):>8} "
            f"{weight.html_wire / weight.html:>6.2f} {weight.requests:>8} "
            f"{kb(weight.wire):>9} {kb(weight.decoded):>11}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1360, help="viewport width (390: phone)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian's chromium is missing: make services installs it")
    from playwright.sync_api import sync_playwright

    data_dir = Path(tempfile.mkdtemp(prefix="gatehouse-journeys-"))
    print(f"seeding the demo into {data_dir} and starting the server …", flush=True)
    server, base_url, passwords = start_server(data_dir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            wait_for_reports(browser, base_url, passwords["mlengineer"])
            jobs, weights = run_jobs(browser, base_url, passwords, args.width)
            browser.close()
        report(jobs, weights, args.width)
    finally:
        stop_server(server)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
