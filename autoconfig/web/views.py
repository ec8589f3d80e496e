"""The views: read the request, resolve the account, call a format, wrap the bytes.

Caching is not decided here: the route table gives each route its policy (routes.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from autoconfig.accounts import Account, provider_for_host, resolve_account
from autoconfig.domains import host_from_header
from autoconfig.errors import RequestError, UnknownDomainError
from autoconfig.formats import outlook
from autoconfig.formats.apple import MEDIA_TYPE as PROFILE_MEDIA_TYPE
from autoconfig.formats.apple import build_mobileconfig
from autoconfig.formats.thunderbird import MEDIA_TYPE as XML_MEDIA_TYPE
from autoconfig.settings import DOMAIN_PLACEHOLDER, Provider

from .health import health_report
from .languages import choose_language
from .loaded import loaded
from .metrics import MEDIA_TYPE as METRICS_MEDIA_TYPE
from .metrics import exposition
from .middleware import in_networks
from .pages import (
    DEVICES,
    INVALID_ADDRESS,
    NO_ADDRESS,
    NO_SUCH_GUIDE,
    UNKNOWN_DOMAIN,
    device_from_user_agent,
    guide_context,
    landing_context,
)

View = Callable[[Request], Awaitable[Response]]


def query_value(request: Request, name: str) -> str | None:
    """A query parameter by name in any casing (clients differ: emailaddress, emailAddress, EmailAddress)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


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


# --- what mail clients fetch ----------------------------------------------------------------------------


async def clientconfig(request: Request) -> Response:
    """Thunderbird's config-v1.1.xml: a person's, or with the clients' placeholders for a domain."""
    served = loaded(request)
    address = query_value(request, "emailaddress")
    account: Account | None = None
    if address is None:
        provider = provider_for_host(served.settings, request.headers.get("host", ""))
    else:
        account = await served.account(address)
        provider = account.provider
    return Response(served.clientconfig[provider.id].render(account), media_type=XML_MEDIA_TYPE)


def _pox_answer(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=outlook.MEDIA_TYPE)


async def autodiscover_xml(request: Request) -> Response:
    """Outlook's POX autodiscover. Protocol errors are 200 with an Error document, as Exchange answers."""
    if request.method != "POST":
        return _pox_answer(outlook.build_error(outlook.INVALID_REQUEST))
    body = await read_body(request, outlook.MAX_BODY)
    if body is None:
        return _pox_answer(outlook.build_error(outlook.INVALID_REQUEST), status=413)
    served = loaded(request)
    try:
        pox = outlook.parse_request(body)
        account = await served.account(pox.address)
    except outlook.PoxError as exc:
        return _pox_answer(outlook.build_error(exc.code, exc.schema))
    except UnknownDomainError:
        return _pox_answer(outlook.build_error(outlook.ADDRESS_NOT_FOUND), status=404)
    except RequestError:
        return _pox_answer(outlook.build_error(outlook.INVALID_REQUEST))
    if account.alias is not None:
        return _pox_answer(outlook.build_redirect(account.address))
    return _pox_answer(served.pox[account.provider.id].render(lambda fill: fill(account)))


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


async def autodiscover_json(request: Request) -> Response:
    """Where Outlook (new Outlook, Outlook mobile) finds the POX endpoint for an address."""
    protocol = query_value(request, "protocol")
    if protocol is None or protocol.lower() != outlook.JSON_PROTOCOL:
        message = "Protocol must be AutodiscoverV1: this service answers for mail over IMAP and SMTP only."
        return _json(outlook.build_json_error("InvalidProtocol", message), status=400)
    address = request.path_params.get("address") or query_value(request, "email")
    settings = loaded(request).settings
    try:
        resolve_account(settings, address or "")
    except UnknownDomainError as exc:
        return _json(outlook.build_json_error("UnknownDomain", exc.message), status=404)
    except RequestError as exc:
        return _json(outlook.build_json_error("InvalidEmailAddress", exc.message), status=400)
    return _json(outlook.build_json(settings.service.public_url))


async def mobileconfig(request: Request) -> Response:
    """One person's Apple profile, signed when a signer is configured."""
    served = loaded(request)
    address = query_value(request, "email") or query_value(request, "emailaddress")
    if address is None:
        raise RequestError("Add ?email= with your mail address.")
    account = await served.account(address)
    language = _language(request)
    if served.profiles is None:
        profile = build_mobileconfig(account, language)
    else:
        # The address as typed (the profile shows it), and the login and name (the directory may
        # change them): two spellings of one address are two entries, never one person's for another.
        key = (account.address, language, account.login, account.display_name or "")
        profile = await served.profiles.get(key, lambda: build_mobileconfig(account, language))
    # The file name comes from the provider's id (checked hostname-like at load), never from the request.
    filename = f"{account.provider.id}.mobileconfig"
    return Response(
        profile,
        media_type=PROFILE_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def dav_redirect(kind: str) -> View:
    async def redirect(request: Request) -> Response:
        """RFC 6764 §5: the well-known URI of the provider the Host names leads to its DAV server."""
        provider = provider_for_host(loaded(request).settings, request.headers.get("host", ""))
        dav = provider.calendar if kind == "caldav" else provider.contacts
        if dav is None:
            raise RequestError(
                f"No {'calendar' if kind == 'caldav' else 'address book'} server is configured here.", 404
            )
        return RedirectResponse(_dav_url(dav.url, provider, request.headers.get("host", "")), status_code=301)

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


# --- pages ----------------------------------------------------------------------------------------------


def _language(request: Request) -> str:
    return choose_language(
        loaded(request).settings.service, query_value(request, "lang"), request.headers.get("accept-language")
    )


def _page_provider(request: Request) -> Provider | None:
    """The provider the pages speak for: the one the Host names, else the only one, else none."""
    settings = loaded(request).settings
    try:
        return provider_for_host(settings, request.headers.get("host", ""))
    except UnknownDomainError:
        return settings.providers[0] if len(settings.providers) == 1 else None


def _language_links(request: Request, languages: tuple[str, ...]) -> dict[str, str]:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "lang"]
    return {code: f"{request.url.path}?{urlencode([*kept, ('lang', code)])}" for code in languages}


def _page(request: Request, template: str, language: str, status: int = 200, **context: Any) -> Response:
    pages = loaded(request).pages
    provider = context.get("provider")
    html = pages.render(
        template,
        language,
        organisation=provider.name if provider is not None else pages.settings.providers[0].name,
        language_links=_language_links(request, pages.settings.service.languages),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Vary": "Accept-Language"})


def _landing_page(
    request: Request, language: str, typed: str = "", error: str | None = None, status: int = 200
) -> Response:
    settings = loaded(request).settings
    provider = _page_provider(request)
    domain = (provider or settings.providers[0]).domains[0]
    return _page(
        request,
        "landing.html",
        language,
        status=status,
        typed=typed,
        error=error,
        example=f"jean.dupont@{domain}",
        **landing_context(provider, language, settings.service.public_url),
    )


async def landing(request: Request) -> Response:
    return _landing_page(request, _language(request))


async def guide(request: Request) -> Response:
    """The guide for the device the path names, or else the one the browser's User-Agent names."""
    language = _language(request)
    served = loaded(request)
    pages = served.pages
    device = request.path_params.get("device") or device_from_user_agent(request.headers.get("user-agent"))
    if device not in DEVICES:
        return _landing_page(request, language, error=pages.gettext(language, NO_SUCH_GUIDE), status=404)
    # People paste addresses with spaces around them; inside, a space is an error like any other.
    typed = (query_value(request, "email") or "").strip()
    if not typed:
        return _landing_page(request, language, error=pages.gettext(language, NO_ADDRESS), status=400)
    try:
        account = await served.account(typed)
    except UnknownDomainError:
        domains = ", ".join(d for p in served.settings.providers for d in p.domains)
        message = pages.gettext(language, UNKNOWN_DOMAIN, domains=domains)
        return _landing_page(request, language, typed=typed, error=message, status=404)
    except RequestError:
        message = pages.gettext(language, INVALID_ADDRESS)
        return _landing_page(request, language, typed=typed, error=message, status=400)
    context = guide_context(account, device, language, served.settings.service.public_url)
    return _page(request, "guide.html", language, **context)


# --- for the IT team ------------------------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    """Liveness for the IT team and the container: ok (200), degraded (200), failing (503)."""
    served = loaded(request)
    body, healthy = health_report(served.settings, served.signer, served.loaded_at, files=served.files)
    client = request.client.host if request.client else None
    if not in_networks(client, served.metrics_networks):
        # The details (file paths, certificate, problems of a broken file) are for the IT team's
        # networks, like /metrics; anyone else learns the state only.
        body = {"status": body["status"]}
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False) + "\n",
        status_code=200 if healthy else 503,
        media_type="application/json",
    )


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for the networks the settings allow; 404 for everyone else."""
    served = loaded(request)
    client = request.client.host if request.client else None
    if not served.settings.service.metrics or not in_networks(client, served.metrics_networks):
        return PlainTextResponse("Not Found", status_code=404)
    return Response(exposition(), media_type=METRICS_MEDIA_TYPE)
