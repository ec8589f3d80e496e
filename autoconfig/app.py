"""create_app(settings) -> the Starlette application: routes, middleware, error handlers.

Handlers stay thin: read the request, resolve the account, call a generator, wrap the bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import autodiscover
from .accounts import Account, provider_for_host, resolve_account, with_directory
from .autodiscover import PoxError, compile_pox
from .clientconfig import MEDIA_TYPE, ClientConfigTemplate, compile_clientconfig
from .directory import StaffDirectory
from .domains import host_from_header
from .errors import RequestError, SettingsError, UnknownDomainError
from .health import Fingerprint, fingerprint, health_report
from .languages import choose_language
from .limits import SignedProfiles, TimeoutMiddleware
from .logs import AccessLog
from .metrics import MEDIA_TYPE as METRICS_MEDIA_TYPE
from .metrics import RELOADS, exposition, record_request
from .mobileconfig import build_mobileconfig
from .observe import ObservingMiddleware
from .pages import (
    DEVICES,
    INVALID_ADDRESS,
    NO_ADDRESS,
    NO_SUCH_GUIDE,
    UNKNOWN_DOMAIN,
    Pages,
    device_from_user_agent,
    guide_context,
    landing_context,
)
from .proxies import ForwardedMiddleware, in_networks, parse_networks
from .resources import SETTINGS_ENV, templates_dir
from .settings import DOMAIN_PLACEHOLDER, Provider, Settings, load_settings, settings_warnings
from .signing import Signer, signer_for
from .xmlslots import SlottedXml

# The pages load nothing from elsewhere: their stylesheet and script come from /static, the QR code is
# inline SVG, the only form posts to the service itself.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
logger = logging.getLogger("autoconfig")
STARTUP_FAILURE = 3  # uvicorn's exit status for a worker that could not start
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_RAW_SECURITY_HEADERS = [
    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()
]


@dataclass(frozen=True)
class Service:
    """The settings and everything derived from them once, at load time, for every request to share."""

    settings: Settings
    clientconfig: dict[str, ClientConfigTemplate]
    pox: dict[str, SlottedXml[autodiscover.Fill]]
    signer: Signer | None
    pages: Pages
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    metrics_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]  # /metrics, /healthz details
    loaded_at: dt.datetime
    files: Fingerprint  # the files the settings name, as loaded: /healthz notices when they change
    profiles: SignedProfiles | None  # None: profiles are served unsigned
    directories: dict[str, StaffDirectory]  # by provider id, for providers with a directory lookup

    @classmethod
    def build(cls, settings: Settings) -> Service:
        """Raises SettingsError when the signing files cannot be used."""
        return cls(
            settings,
            clientconfig={p.id: compile_clientconfig(p) for p in settings.providers},
            pox={p.id: compile_pox(p) for p in settings.providers},
            signer=(signer := signer_for(settings)),
            pages=Pages(settings, templates_dir()),
            trusted_proxies=parse_networks(settings.service.trusted_proxies),
            metrics_networks=parse_networks(settings.service.metrics_networks),
            loaded_at=dt.datetime.now(dt.UTC),
            files=fingerprint(settings.referenced_files()),
            profiles=SignedProfiles(signer) if signer is not None else None,
            directories={
                p.id: StaffDirectory(p.directory.lookup, p.directory.base_dn, settings.source)
                for p in settings.providers
                if p.directory is not None and p.directory.lookup is not None
            },
        )


async def _account(service: Service, address: str) -> Account:
    """The account for an address: the overrides file, else the staff directory, else the rule."""
    account = resolve_account(service.settings, address)
    directory = service.directories.get(account.provider.id)
    if directory is None or account.source == "override":
        return account
    entry = await directory.find(account.local_part, account.domain)
    return account if entry is None else with_directory(account, entry.login, entry.name)


def _service(request: Request) -> Service:
    """The settings this request is served with: read once, then kept for the whole request, so that
    a reload in the middle of it (while it waits for the directory) never mixes two versions."""
    pinned: Service | None = getattr(request.state, "service", None)
    if pinned is None:
        pinned = request.app.state.service
        request.state.service = pinned
    return pinned


def query_value(request: Request, name: str) -> str | None:
    """A query parameter by name in any casing (clients differ: emailaddress, emailAddress, EmailAddress)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


def _cache_control(service: Service, personal: bool) -> str:
    scope = "private" if personal else "public"
    return f"{scope}, max-age={service.settings.service.cache_max_age}"


async def clientconfig(request: Request) -> Response:
    service = _service(request)
    address = query_value(request, "emailaddress")
    account: Account | None = None
    if address is None:
        provider = provider_for_host(service.settings, request.headers.get("host", ""))
    else:
        account = await _account(service, address)
        provider = account.provider
    body = service.clientconfig[provider.id].render(account)
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": _cache_control(service, account is not None)},
    )


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    # isdigit() alone admits superscripts ("²"), which int() refuses: ASCII digits only.
    if declared is not None and not (declared.isascii() and declared.isdigit() and int(declared) <= limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _pox_answer(body: bytes, status: int = 200) -> Response:
    # No caching: the answer is personal, and Outlook asks rarely.
    return Response(
        body, status_code=status, media_type=MEDIA_TYPE, headers={"Cache-Control": "private, no-store"}
    )


async def autodiscover_xml(request: Request) -> Response:
    """Outlook's POX autodiscover. Protocol errors are 200 with an Error document, as Exchange answers."""
    if request.method != "POST":
        return _pox_answer(autodiscover.build_error(autodiscover.INVALID_REQUEST))
    body = await read_body(request, autodiscover.MAX_BODY)
    if body is None:
        return _pox_answer(autodiscover.build_error(autodiscover.INVALID_REQUEST), status=413)
    service = _service(request)
    try:
        pox = autodiscover.parse_request(body)
        account = await _account(service, pox.address)
    except PoxError as exc:
        return _pox_answer(autodiscover.build_error(exc.code, exc.schema))
    except UnknownDomainError:
        return _pox_answer(autodiscover.build_error(autodiscover.ADDRESS_NOT_FOUND), status=404)
    except RequestError:
        return _pox_answer(autodiscover.build_error(autodiscover.INVALID_REQUEST))
    if account.alias is not None:
        return _pox_answer(autodiscover.build_redirect(account.address))
    return _pox_answer(service.pox[account.provider.id].render(lambda fill: fill(account)))


def _json(body: bytes, status: int = 200, cache: str = "no-store") -> Response:
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": cache})


async def autodiscover_json(request: Request) -> Response:
    """Where Outlook (new Outlook, Outlook mobile) finds the POX endpoint for an address."""
    protocol = query_value(request, "protocol")
    if protocol is None or protocol.lower() != autodiscover.JSON_PROTOCOL:
        message = "Protocol must be AutodiscoverV1: this service answers for mail over IMAP and SMTP only."
        return _json(autodiscover.build_json_error("InvalidProtocol", message), status=400)
    address = request.path_params.get("address") or query_value(request, "email")
    service = _service(request)
    try:
        resolve_account(service.settings, address or "")
    except UnknownDomainError as exc:
        return _json(autodiscover.build_json_error("UnknownDomain", exc.message), status=404)
    except RequestError as exc:
        return _json(autodiscover.build_json_error("InvalidEmailAddress", exc.message), status=400)
    body = autodiscover.build_json(service.settings.service.public_url)
    return _json(body, cache=_cache_control(service, personal=True))


async def mobileconfig(request: Request) -> Response:
    """One person's Apple profile, signed when a signer is configured."""
    service = _service(request)
    address = query_value(request, "email") or query_value(request, "emailaddress")
    if address is None:
        raise RequestError("Add ?email= with your mail address.")
    account = await _account(service, address)
    language = choose_language(
        service.settings.service, query_value(request, "lang"), request.headers.get("accept-language")
    )
    if service.profiles is None:
        profile = build_mobileconfig(account, language)
    else:
        # The address as typed (the profile shows it), and the login and name (the directory may
        # change them): two spellings of one address are two entries, never one person's for another.
        key = (account.address, language, account.login, account.display_name or "")
        profile = await service.profiles.get(key, lambda: build_mobileconfig(account, language))
    # The file name comes from the provider's id (checked hostname-like at load), never from the request.
    filename = f"{account.provider.id}.mobileconfig"
    return Response(
        profile,
        media_type="application/x-apple-aspen-config",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def _dav_redirect(kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def redirect(request: Request) -> Response:
        """RFC 6764 §5: the well-known URI of the provider the Host names leads to its DAV server."""
        provider = provider_for_host(_service(request).settings, request.headers.get("host", ""))
        service = provider.calendar if kind == "caldav" else provider.contacts
        if service is None:
            raise RequestError(
                f"No {'calendar' if kind == 'caldav' else 'address book'} server is configured here.", 404
            )
        url = _dav_url(service.url, provider, request.headers.get("host", ""))
        return RedirectResponse(url, status_code=301, headers={"Cache-Control": "public, max-age=86400"})

    return redirect


def _dav_url(url: str, provider: Provider, host_header: str) -> str:
    """A DAV URL for a request that names no person: %EMAILDOMAIN% becomes the domain the Host names
    (else the provider's first), and the path stops before a per-person placeholder."""
    host = host_from_header(host_header) or ""
    candidates = (host, host.partition(".")[2])
    domain = next((d for d in candidates if d in provider.domains), provider.domains[0])
    url = url.replace(DOMAIN_PLACEHOLDER, domain)
    cut = url.find("%EMAIL")
    return url if cut == -1 else url[: url.rfind("/", 0, cut) + 1]


def _language(request: Request) -> str:
    return choose_language(
        _service(request).settings.service,
        query_value(request, "lang"),
        request.headers.get("accept-language"),
    )


def _page_provider(request: Request) -> Provider | None:
    """The provider the pages speak for: the one the Host names, else the only one, else none."""
    settings = _service(request).settings
    try:
        return provider_for_host(settings, request.headers.get("host", ""))
    except UnknownDomainError:
        return settings.providers[0] if len(settings.providers) == 1 else None


def _language_links(request: Request, languages: tuple[str, ...]) -> dict[str, str]:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "lang"]
    return {code: f"{request.url.path}?{urlencode([*kept, ('lang', code)])}" for code in languages}


def _page(request: Request, template: str, language: str, status: int = 200, **context: Any) -> Response:
    pages = _service(request).pages
    provider = context.get("provider")
    html = pages.render(
        template,
        language,
        organisation=provider.name if provider is not None else pages.settings.providers[0].name,
        language_links=_language_links(request, pages.settings.service.languages),
        **context,
    )
    # Pages depend on the browser's language; the guide is personal and never cached, nor is an error
    # page (it shows the address as typed).
    personal = template == "guide.html" or status != 200
    cache = "private, no-store" if personal else "public, max-age=300"
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": cache, "Vary": "Accept-Language"})


def _landing_page(
    request: Request, language: str, typed: str = "", error: str | None = None, status: int = 200
) -> Response:
    provider = _page_provider(request)
    domain = (provider or _service(request).settings.providers[0]).domains[0]
    return _page(
        request,
        "landing.html",
        language,
        status=status,
        typed=typed,
        error=error,
        example=f"jean.dupont@{domain}",
        **landing_context(provider, language, _service(request).settings.service.public_url),
    )


async def landing(request: Request) -> Response:
    return _landing_page(request, _language(request))


async def guide(request: Request) -> Response:
    """The guide for the device the path names, or else the one the browser's User-Agent names."""
    language = _language(request)
    pages = _service(request).pages
    device = request.path_params.get("device") or device_from_user_agent(request.headers.get("user-agent"))
    if device not in DEVICES:
        return _landing_page(request, language, error=pages.gettext(language, NO_SUCH_GUIDE), status=404)
    # People paste addresses with spaces around them; inside, a space is an error like any other.
    typed = (query_value(request, "email") or "").strip()
    if not typed:
        return _landing_page(request, language, error=pages.gettext(language, NO_ADDRESS), status=400)
    service = _service(request)
    try:
        account = await _account(service, typed)
    except UnknownDomainError:
        domains = ", ".join(d for p in service.settings.providers for d in p.domains)
        message = pages.gettext(language, UNKNOWN_DOMAIN, domains=domains)
        return _landing_page(request, language, typed=typed, error=message, status=404)
    except RequestError:
        message = pages.gettext(language, INVALID_ADDRESS)
        return _landing_page(request, language, typed=typed, error=message, status=400)
    context = guide_context(account, device, language, service.settings.service.public_url)
    return _page(request, "guide.html", language, **context)


def any_case(route: Route) -> Route:
    """Match the route's path in any casing: Outlook asks for /Autodiscover/Autodiscover.xml, others
    for /autodiscover/autodiscover.xml or /AutoDiscover/AutoDiscover.xml."""
    route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)
    return route


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)  # noqa: S101 - registered for RequestError only
    return PlainTextResponse(
        exc.message + "\n", status_code=exc.status, headers={"Cache-Control": "no-store"}
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    # Answered by Starlette's outermost middleware, outside SecurityHeadersMiddleware: the headers
    # are set here. The traceback goes to the server's log, never to the client.
    return PlainTextResponse(
        "The service could not answer; the error is in its log.\n",
        status_code=500,
        headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
    )


class SecurityHeadersMiddleware:
    """Headers every answer carries, whichever route (or error handler) produced it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_RAW_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings) -> Starlette:
    """The ASGI application for these settings."""
    routes = [
        Route("/mail/config-v1.1.xml", clientconfig, methods=["GET"]),
        Route("/.well-known/autoconfig/mail/config-v1.1.xml", clientconfig, methods=["GET"]),
        any_case(Route("/autodiscover/autodiscover.xml", autodiscover_xml, methods=["GET", "POST"])),
        any_case(Route("/autodiscover/autodiscover.json", autodiscover_json, methods=["GET"])),
        any_case(Route("/autodiscover/autodiscover.json/v1.0/{address}", autodiscover_json, methods=["GET"])),
        Route("/profile.mobileconfig", mobileconfig, methods=["GET"]),
        # Calendar and contacts clients discover with PROPFIND as often as with GET.
        Route("/.well-known/caldav", _dav_redirect("caldav"), methods=["GET", "PROPFIND"]),
        Route("/.well-known/carddav", _dav_redirect("carddav"), methods=["GET", "PROPFIND"]),
        Route("/", landing, methods=["GET"]),
        Route("/guide", guide, methods=["GET"]),
        Route("/guide/{device}", guide, methods=["GET"]),
        Mount("/static", StaticFiles(directory=templates_dir() / "static"), name="static"),
    ]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    middleware = [
        Middleware(ForwardedMiddleware, networks_of=_trusted_proxies),
        Middleware(ObservingMiddleware, observers=[AccessLog(), record_request]),
        Middleware(SecurityHeadersMiddleware),
        Middleware(TimeoutMiddleware, seconds_of=_request_timeout),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={RequestError: request_error, Exception: internal_error},
        lifespan=_lifespan,
    )
    app.state.service = Service.build(settings)
    return app


async def healthz(request: Request) -> Response:
    """Liveness for the IT team and the container: ok (200), degraded (200), failing (503)."""
    service = _service(request)
    body, healthy = health_report(service.settings, service.signer, service.loaded_at, files=service.files)
    client = request.client.host if request.client else None
    if not in_networks(client, service.metrics_networks):
        # The details (file paths, certificate, problems of a broken file) are for the IT team's
        # networks, like /metrics; anyone else learns the state only.
        body = {"status": body["status"]}
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False) + "\n",
        status_code=200 if healthy else 503,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics, for the networks the settings allow; 404 for everyone else."""
    service = _service(request)
    client = request.client.host if request.client else None
    if not service.settings.service.metrics or not in_networks(client, service.metrics_networks):
        return PlainTextResponse("Not Found", status_code=404)
    return Response(exposition(), media_type=METRICS_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


def _request_timeout(scope: Scope) -> float:
    service: Service = scope["app"].state.service
    return service.settings.service.request_timeout


def _trusted_proxies(scope: Scope) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    service: Service = scope["app"].state.service
    return service.trusted_proxies


def reload_settings(app: Starlette) -> bool:
    """Read the settings and signing files again and serve them, or keep the current ones and say why.

    The swap is one assignment: a request in flight finishes with the settings it started with.
    """
    current: Service = app.state.service
    source = current.settings.source
    try:
        service = Service.build(load_settings(source))
    except Exception as exc:  # whatever the new files hold, the current settings keep serving
        RELOADS.labels("failed").inc()
        problems = exc.render() if isinstance(exc, SettingsError) else f"{type(exc).__name__}: {exc}"
        logger.error(
            "reload failed; still serving the previous settings (%s)\n%s",
            current.settings.digest[:12],
            problems,
        )
        return False
    app.state.service = service
    RELOADS.labels("ok").inc()
    logger.info(
        "settings reloaded from %s (%s): %s", source, service.settings.digest[:12], service.settings.summary()
    )
    for note in settings_warnings(service.settings) + (service.signer.warnings() if service.signer else []):
        logger.warning("%s", note)
    return True


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """SIGHUP reloads the settings (`kill -HUP`); only the main thread of a server process can listen."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, reload_settings, app)
    except (RuntimeError, ValueError, NotImplementedError):
        yield  # in a test client's thread, or on a platform without SIGHUP
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def app_from_environment() -> Starlette:
    """Factory for uvicorn workers: the settings named by AUTOCONFIG_SETTINGS, else the bundled default.

    A worker that cannot load them says why and exits without a traceback; when it replaces a worker
    after SIGHUP, uvicorn then keeps the old one serving.
    """
    path = os.environ.get(SETTINGS_ENV)
    try:
        return create_app(load_settings(Path(path) if path else None))
    except SettingsError as exc:
        logger.error("cannot start a worker; the settings have problems\n%s", exc.render())
        sys.exit(STARTUP_FAILURE)
