"""Posting a webhook without becoming an SSRF proxy.

The receiver's host is resolved once; every address it resolves to must be public (not
loopback, private, unique-local, link-local, multicast, reserved, unspecified or a cloud
metadata address) unless GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS names it. The connection is made
to the vetted address itself (no second lookup a rebinding DNS server could answer
differently), and the address actually connected to is checked again on the socket. TLS
still verifies the certificate against the URL's host name. Redirects are not followed: a
3xx is a failed attempt. Plain http is refused unless GATEHOUSE_WEBHOOK_ALLOW_HTTP."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

KEEP = 1024  # bytes of the answer's body stored with the attempt
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
USER_AGENT = "Gatehouse-Webhooks/1"


class Refused(Exception):
    """The URL or an address it leads to may not be posted to."""


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status and the start of the body, or an error."""

    status_code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _kind(ip: IPAddress) -> str | None:
    """What makes ``ip`` an address no webhook goes to, or None for a public one."""
    if ip in METADATA:
        return "cloud metadata"
    checks = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (
            isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"),
            "unique-local",
        ),
        (ip.is_private, "private"),
        (not ip.is_global, "non-public"),
    ]
    return next((kind for hit, kind in checks if hit), None)


def _allowed(ip: IPAddress) -> bool:
    return any(
        ip in ipaddress.ip_network(network, strict=False)
        for network in settings.GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS
    )


def address_problem(address: str) -> str | None:
    """Why a webhook may not go to ``address``, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    kind = _kind(ip)
    if kind is None or _allowed(ip):
        return None
    article = "an" if kind == "unspecified" else "a"
    return f"refused: {ip} is {article} {kind} address"


def resolve(host: str, port: int) -> str:
    """The address to connect to for ``host``; Refused when any address it resolves to is
    not allowed (a name with one internal record is not a public name)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"cannot resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise Refused(problem)
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    return addresses[0]


class _Checked:
    """Checks the address the socket is connected to before anything is sent on it."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        assert self.sock is not None
        peer = str(self.sock.getpeername()[0])
        problem = address_problem(peer)
        if problem:
            self.sock.close()
            raise Refused(problem)


class CheckedHTTPConnection(_Checked, HTTPConnection):
    pass


class CheckedHTTPSConnection(_Checked, HTTPSConnection):
    pass


def _target(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"refused: {scheme or 'no'} scheme (https only)")
    if scheme == "http" and not settings.GATEHOUSE_WEBHOOK_ALLOW_HTTP:
        raise Refused("refused: plain http is not allowed (https only)")
    if not parts.hostname:
        raise Refused("refused: the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise Refused("refused: the URL's port is not a number") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port, path


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` once (no redirects, GATEHOUSE_WEBHOOK_TIMEOUT in all)."""
    started = time.monotonic()

    def answer(status: int | None = None, text: str = "", error: str = "") -> Answer:
        duration = round((time.monotonic() - started) * 1000)
        return Answer(status, text, error[:500], duration)

    try:
        scheme, host, port, path = _target(url)
        address = resolve(host, port)
    except Refused as exc:
        return answer(error=str(exc))
    timeout = urllib3.Timeout(total=settings.GATEHOUSE_WEBHOOK_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
        pool.ConnectionCls = CheckedHTTPSConnection
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
        pool.ConnectionCls = CheckedHTTPConnection
    default_port = port == (443 if scheme == "https" else 80)
    host_header = host if ":" not in host else f"[{host}]"
    sent = {
        **headers,
        "Host": host_header if default_port else f"{host_header}:{port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers=sent,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            text = response.read(KEEP, decode_content=False).decode("utf-8", errors="replace")
        finally:
            response.release_conn()
        return answer(response.status, text)
    except Refused as exc:
        return answer(error=str(exc))
    except (HTTPError, OSError) as exc:
        return answer(error=f"{type(exc).__name__}: {exc}")
    finally:
        pool.close()
