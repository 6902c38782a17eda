"""Webhooks never reach internal addresses: the host is resolved, each address vetted, the
connection made to the vetted address and the socket's peer checked again; loopback,
private, link-local, metadata and other non-public addresses are refused unless the
allow-list names them. A refusal is a failed attempt, never a request."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from events import net
from tests.events.receiver import Receiver


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def plain_http(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP = True
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = []
    return settings


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
        ("127.8.9.10", "refused: 127.8.9.10 is a loopback address"),
        ("::1", "refused: ::1 is a loopback address"),
        ("10.1.2.3", "refused: 10.1.2.3 is a private address"),
        ("172.16.0.1", "refused: 172.16.0.1 is a private address"),
        ("192.168.1.20", "refused: 192.168.1.20 is a private address"),
        ("169.254.1.1", "refused: 169.254.1.1 is a link-local address"),
        ("fe80::1", "refused: fe80::1 is a link-local address"),
        ("169.254.169.254", "refused: 169.254.169.254 is a cloud metadata address"),
        ("fd00:ec2::254", "refused: fd00:ec2::254 is a cloud metadata address"),
        ("fd12:3456::1", "refused: fd12:3456::1 is a unique-local address"),
        ("224.0.0.251", "refused: 224.0.0.251 is a multicast address"),
        ("0.0.0.0", "refused: 0.0.0.0 is an unspecified address"),  # noqa: S104
        ("::", "refused: :: is an unspecified address"),
        ("240.0.0.1", "refused: 240.0.0.1 is a reserved address"),
        ("100.64.0.1", "refused: 100.64.0.1 is a non-public address"),
        ("::ffff:127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_addresses_are_refused_unless_public(settings, address, problem):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = []
    assert net.address_problem(address) == problem


def test_the_allow_list_admits_what_it_names_only(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32", "10.0.0.0/8"]

    assert net.address_problem("127.0.0.1") is None
    assert net.address_problem("10.200.0.1") is None
    assert net.address_problem("127.0.0.2") == "refused: 127.0.0.2 is a loopback address"
    assert net.address_problem("::1") == "refused: ::1 is a loopback address"
    assert net.address_problem("169.254.169.254") is not None


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
        ("localhost", "refused: 127.0.0.1 is a loopback address"),  # a name resolving to it
        ("[::1]", "refused: ::1 is a loopback address"),
    ],
)
def test_a_refused_address_is_an_error_and_no_request(plain_http, receiver, host, problem):
    answer = net.post(f"http://{host}:{receiver.port}/hook", b"{}", {})

    assert answer.status_code is None
    assert answer.error == problem
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://192.168.0.1:8080/",
    ],
)
def test_internal_addresses_are_never_connected_to(plain_http, monkeypatch, url):
    def no_connect(*args, **kwargs):
        raise AssertionError("a refused address was connected to")

    monkeypatch.setattr(net.CheckedHTTPConnection, "connect", no_connect)
    answer = net.post(url, b"{}", {})

    assert answer.status_code is None
    assert answer.error.startswith("refused: ")


def test_the_allow_list_lets_a_loopback_receiver_answer(plain_http, receiver):
    plain_http.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver.default = (202, b"x" * 3000, {})

    answer = net.post(receiver.url + "?a=1", b'{"n":1}', {"webhook-id": "msg_1"})

    assert answer.ok
    assert answer.status_code == 202
    assert answer.body == "x" * 1024  # the first 1 KB is kept
    assert answer.error == ""
    (got,) = receiver.received
    assert got.body == b'{"n":1}'
    assert got.headers["webhook-id"] == "msg_1"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"


def test_plain_http_is_refused_unless_allowed(settings, receiver):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP = False

    answer = net.post(receiver.url, b"{}", {})

    assert answer.error == "refused: plain http is not allowed (https only)"
    assert receiver.received == []
    assert net.post("ftp://example.com/x", b"{}", {}).error.startswith("refused: ftp scheme")


def test_the_connected_peer_is_checked_even_if_the_lookup_was_fooled(
    plain_http, receiver, monkeypatch
):
    # As if a rebinding DNS server had answered the vetting with a public address.
    monkeypatch.setattr(net, "resolve", lambda host, port: "127.0.0.1")

    answer = net.post(receiver.url, b"{}", {})

    assert answer.error == "refused: 127.0.0.1 is a loopback address"
    assert receiver.received == []


def test_redirects_are_not_followed(plain_http, receiver):
    plain_http.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver.default = (307, b"", {"Location": "http://169.254.169.254/"})

    answer = net.post(receiver.url, b"{}", {})

    assert answer.status_code == 307
    assert not answer.ok
    assert len(receiver.received) == 1


def test_a_slow_receiver_times_out(plain_http, receiver):
    plain_http.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    plain_http.GATEHOUSE_WEBHOOK_TIMEOUT = 0.3
    receiver.stall_first = 2

    answer = net.post(receiver.url, b"{}", {})

    assert answer.status_code is None
    assert "timed out" in answer.error.lower()
    assert answer.duration_ms < 1500


def test_a_name_that_does_not_resolve_is_an_error(plain_http):
    answer = net.post("http://no-such-host.invalid/hook", b"{}", {})
    assert answer.error.startswith("cannot resolve no-such-host.invalid")


# --- TLS: the connection goes to the vetted address, the certificate is checked by name ------


@dataclass
class TLSReceiver:
    port: int
    cert: Path
    server_names: list[str | None]  # the SNI each handshake asked for
    received: list[bytes]


@pytest.fixture
def tls_receiver(tmp_path) -> Iterator[TLSReceiver]:
    """An https receiver on 127.0.0.1 whose self-signed certificate names ``localhost``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str | None] = []
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda request, address: None  # failed handshakes are the point
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield TLSReceiver(server.server_address[1], cert, names, received)
    server.shutdown()
    server.server_close()


@pytest.fixture
def https_loopback(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP = False
    settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return settings


def test_tls_sends_the_host_name_and_verifies_the_certificate(
    https_loopback, tls_receiver, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_receiver.cert))  # trust the receiver's cert

    answer = net.post(f"https://localhost:{tls_receiver.port}/hook", b'{"n":1}', {})

    assert answer.status_code == 200, answer.error
    assert tls_receiver.server_names == ["localhost"]  # SNI: the URL's host, not the address
    assert tls_receiver.received == [b'{"n":1}']


def test_an_untrusted_certificate_is_a_failed_attempt(https_loopback, tls_receiver):
    answer = net.post(f"https://localhost:{tls_receiver.port}/hook", b"{}", {})

    assert answer.status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer.error
    assert tls_receiver.received == []


def test_a_certificate_for_another_name_is_a_failed_attempt(
    https_loopback, tls_receiver, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_receiver.cert))

    answer = net.post(f"https://127.0.0.1:{tls_receiver.port}/hook", b"{}", {})

    assert answer.status_code is None
    assert "hostname '127.0.0.1' doesn't match 'localhost'" in answer.error
    assert tls_receiver.received == []
