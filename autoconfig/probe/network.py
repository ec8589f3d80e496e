"""How the probe reaches the deployment: HTTP and HTTPS with the standard library, at the addresses
the resolver gives (lookup.py), every operation bounded by the timeout (a watchdog, watchdog.py).

The probe connects only where it is pointed: the names of the address's domain and the hosts the
settings and the answers name, at the addresses the resolver gives (or `--at`). A client's port 443 or
80 can be mapped to another (`--https-port`, `--http-port`) to test a deployment on other ports; the
`Host` header and the TLS server name stay the client's.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from autoconfig import __version__

from .lookup import Lookup, LookupFailure
from .report import ProbeError
from .watchdog import Watchdog

MAX_BODY = 1024 * 1024  # the largest answer read: every document the service serves is a few KiB
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# X509_V_ERR_* codes OpenSSL gives in SSLCertVerificationError.verify_code.
_NAME_MISMATCH = 62
_EXPIRED = 10
_NOT_YET_VALID = 9
_UNTRUSTED = {2, 18, 19, 20, 21}


class FetchError(Exception):
    """A request that got no HTTP answer. `kind`: dns, refused, timeout, network, tls-name, tls-expired,
    tls-untrusted, tls, protocol, too-large."""

    def __init__(self, kind: str, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        # The path whose answer timed out, after the connection and handshake worked: that path
        # hangs, not the server.
        self.path = path


def connect_address(text: str) -> str:
    """`--at`: one IP address, without a port (the ports are --https-port and --http-port)."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise ProbeError(
            f"--at {text}: give an IP address alone; ports are --https-port and --http-port"
        ) from None


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as a client receives it."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names, the first value of each
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Network:
    """Where and how the probe connects; see the module's docstring."""

    lookup: Lookup
    timeout: float
    ca_file: Path | None = None
    at: str | None = None
    https_port: int = 443
    http_port: int = 80
    _context: ssl.SSLContext = field(init=False, repr=False)
    # Where a connection timed out once: asked again, it fails at once rather than after another
    # timeout (a deployment that drops every packet would otherwise take minutes to probe). Keyed by
    # host, port, the one address asked (None: the addresses DNS gives), so that one family that
    # hangs does not stand for the other, and the path when only its answer timed out (a main site
    # whose /autodiscover/ hangs still answers its other paths).
    _silent: dict[tuple[str, int, str | None, str | None], FetchError] = field(
        init=False, repr=False, default_factory=dict
    )
    # Where an answer began to come and was not complete in time (a server that drips it): every name
    # and path there would do the same, so that address is not asked again for the name, whichever
    # path, nor as the first address DNS gives. Keyed by host, port and the address connected to.
    _slow: dict[tuple[str, int, str], FetchError] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                self._context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ProbeError(
                    f"--ca-file {self.ca_file}: no CA certificate could be read ({exc})"
                ) from None

    def port_for(self, scheme: str, port: int | None) -> int:
        """The port to connect to for a URL's port (or its scheme's default)."""
        port = port or (443 if scheme == "https" else 80)
        return {443: self.https_port, 80: self.http_port}.get(port, port)

    def _addresses(self, host: str) -> list[str]:
        if self.at is not None:
            return [self.at]
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            pass
        try:
            return self.lookup.addresses(host)
        except LookupFailure as failure:
            raise FetchError("dns", failure.message) from None

    def _connect(self, host: str, port: int, deadline: float, address: str | None = None) -> socket.socket:
        if (host, port, address, None) in self._silent:
            raise self._silent[(host, port, address, None)]
        failure: OSError | None = None
        for candidate in [address] if address is not None else self._addresses(host):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if (host, port, candidate) in self._slow:
                raise self._slow[(host, port, candidate)]
            try:
                return socket.create_connection((candidate, port), timeout=remaining)
            except OSError as exc:
                failure = exc
        where = f"{host} port {port}" + (
            f" (at {self.at})" if self.at else f" at {address}" if address is not None else ""
        )
        if isinstance(failure, ConnectionRefusedError):
            raise FetchError("refused", f"{where}: connection refused")
        if failure is None or isinstance(failure, TimeoutError):
            raise FetchError("timeout", f"{where}: no connection within {self.timeout:g} s")
        raise FetchError("network", f"{where}: {failure.strerror or failure}")

    def _wrap(
        self, sock: socket.socket, host: str, watchdog: Watchdog, *, verify: bool = True
    ) -> ssl.SSLSocket:
        context = self._context
        if not verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            # The handshake is run once the watchdog watches the TLS socket: a server that drips it is
            # cut at the deadline like any other read.
            wrapped = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
            watchdog.watch(wrapped)
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise FetchError("tls", f"{host}: TLS handshake failed ({exc})") from None
        try:
            wrapped.do_handshake()
            if watchdog.fired:
                raise TimeoutError
            return wrapped
        except ssl.SSLCertVerificationError as exc:
            wrapped.close()
            code = exc.verify_code
            kind = (
                "tls-name"
                if code == _NAME_MISMATCH
                else "tls-expired"
                if code in (_EXPIRED, _NOT_YET_VALID)
                else "tls-untrusted"
                if code in _UNTRUSTED
                else "tls"
            )
            raise FetchError(
                kind, f"{host}: {(exc.verify_message or exc.reason or '').rstrip('.')}"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            wrapped.close()
            if watchdog.fired or isinstance(exc, TimeoutError):
                raise FetchError("timeout", f"{host}: no TLS handshake within {self.timeout:g} s") from None
            raise FetchError("tls", f"{host}: TLS handshake failed ({exc})") from None

    def _remember(self, host: str, port: int, address: str | None, failure: FetchError) -> FetchError:
        if failure.kind == "timeout":
            self._silent[(host, port, address, failure.path)] = failure
        return failure

    def certificate(self, host: str, *, verify: bool = True, address: str | None = None) -> bytes:
        """The certificate `host` presents on the HTTPS port (at `address` when given, else where DNS
        says), checked for that name unless told not to. Raises FetchError."""
        port = self.port_for("https", None)
        try:
            return self._certificate(host, port, verify=verify, address=address)
        except FetchError as failure:
            raise self._remember(host, port, address, failure) from None

    def _certificate(self, host: str, port: int, *, verify: bool, address: str | None) -> bytes:
        deadline = time.monotonic() + self.timeout
        with Watchdog(deadline) as watchdog:
            sock = self._connect(host, port, deadline, address)
            watchdog.watch(sock)
            tls = self._wrap(sock, host, watchdog, verify=verify)
            try:
                der = tls.getpeercert(binary_form=True)
            finally:
                tls.close()
        if der is None:
            raise FetchError("tls", f"{host}: no certificate presented")
        return der

    def fetch(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        address: str | None = None,
    ) -> Answer:
        """One request, on a new connection (to `address` when given, else where DNS says), redirects
        not followed. Raises FetchError."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("protocol", f"{url}: not an http or https URL")
        host, port = parts.hostname, self.port_for(parts.scheme, parts.port)
        hung = self._silent.get((host, port, address, parts.path or "/"))
        if hung is not None:
            raise hung
        try:
            return self._fetch(method, url, port, headers=headers, body=body, address=address)
        except FetchError as failure:
            raise self._remember(host, port, address, failure) from None

    def _fetch(
        self,
        method: str,
        url: str,
        port: int,
        *,
        headers: dict[str, str] | None,
        body: bytes | None,
        address: str | None,
    ) -> Answer:
        parts = urlsplit(url)
        host = parts.hostname or ""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        deadline = time.monotonic() + self.timeout
        answer: http.client.HTTPResponse | None = None
        with Watchdog(deadline) as watchdog:
            sock: socket.socket = self._connect(host, port, deadline, address)
            watchdog.watch(sock)
            peer = _peer(sock, address)
            if parts.scheme == "https":
                sock = self._wrap(sock, host, watchdog)
            connection = _Connection(host, parts.port, parts.scheme, sock)
            content, problem = b"", None
            try:
                connection.request(
                    method, target, body=body, headers={"Connection": "close", **_signed(headers)}
                )
                answer = connection.getresponse()
                content = _read(answer)
            except (http.client.HTTPException, OSError) as exc:
                problem = exc
            finally:
                connection.close()
        if watchdog.fired or isinstance(problem, TimeoutError):
            path = parts.path or "/"
            if answer is not None or _begun(problem):
                self._slow[(host, port, peer)] = FetchError(
                    "timeout",
                    f"{host} port {port} at {peer}: answered too slowly earlier in this run "
                    f"(an answer not complete within {self.timeout:g} s), not asked again",
                )
                message = f"{url}: the answer came too slowly, not complete within {self.timeout:g} s"
            else:
                message = f"{url}: no complete answer within {self.timeout:g} s"
            raise FetchError("timeout", message, path=path)
        if answer is None or problem is not None:
            raise FetchError("protocol", f"{url}: {type(problem).__name__} {problem}".rstrip()) from None
        found = {name.lower(): value for name, value in reversed(answer.getheaders())}
        return Answer(url, answer.status, found, content)

    def follow(self, url: str, *, headers: dict[str, str] | None = None) -> tuple[Answer, list[str]]:
        """GET, following redirects as browsers' fetch does; the answer and the URLs it was sent on to.
        Raises FetchError."""
        hops: list[str] = []
        for _ in range(MAX_REDIRECTS + 1):
            answer = self.fetch("GET", url, headers=headers)
            location = answer.header("location")
            if answer.status not in REDIRECTS or not location:
                return answer, hops
            url = urljoin(url, location)
            hops.append(url)
        raise FetchError("protocol", f"{hops[0]}: more than {MAX_REDIRECTS} redirects")


def _read(response: http.client.HTTPResponse) -> bytes:
    # The watchdog bounds the time; this bounds the size (an endless body).
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise FetchError("too-large", f"the answer is larger than {MAX_BODY // 1024} KiB")
        chunks.append(chunk)


def _peer(sock: socket.socket, address: str | None) -> str:
    # The address connected to; a connection reset already may no longer say it.
    try:
        return str(sock.getpeername()[0])
    except OSError:
        return address or ""


def _begun(problem: Exception | None) -> bool:
    # Whether the answer's head had begun to come when the deadline cut it: http.client says
    # RemoteDisconnected when not one byte of the status line came, and a cut head is otherwise
    # malformed (BadStatusLine, IncompleteRead). A timeout or a TLS error tells nothing.
    return isinstance(problem, http.client.HTTPException) and not isinstance(
        problem, http.client.RemoteDisconnected
    )


class _Connection(http.client.HTTPConnection):
    """http.client over a socket already connected (and wrapped in TLS): the `Host` header names the
    URL's host, with its port only when the URL gives one, as a client writes it."""

    def __init__(self, host: str, port: int | None, scheme: str, sock: socket.socket) -> None:
        self.default_port = 443 if scheme == "https" else 80
        super().__init__(host, port or self.default_port)
        self.sock = sock

    def connect(self) -> None:
        # The socket is given: http.client must not open another.
        return


# Each request says it is the probe, after the client it plays: the service counts it apart (family
# `probe` in the setup funnel), never as a person's setup.
PROBE_TOKEN = f"autoconfig-probe/{__version__}"


def _signed(headers: dict[str, str] | None) -> dict[str, str]:
    signed = dict(headers or {})
    agent = signed.get("User-Agent")
    signed["User-Agent"] = f"{agent} {PROBE_TOKEN}" if agent else PROBE_TOKEN
    return signed
