"""The answers mail clients fetch: read the request, resolve the account, call a format, wrap the bytes.

Caching is not decided here: the route table gives each route its policy (routes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from autoconfig.accounts import Account, domain_for_host, provider_for_host
from autoconfig.errors import BusyError, RequestError, UnknownDomainError
from autoconfig.formats import outlook
from autoconfig.formats import pacc as pacc_format
from autoconfig.formats.apple import MEDIA_TYPE as PROFILE_MEDIA_TYPE
from autoconfig.formats.apple import build_mobileconfig
from autoconfig.formats.thunderbird import MEDIA_TYPE as XML_MEDIA_TYPE
from autoconfig.version import discovery_url

from .funnel import GENERIC, HOSTED, REFUSED, say
from .middleware import varies_with_host
from .pages import BUSY, INVALID_ADDRESS, PROFILE_NO_ADDRESS, unknown_domain_message
from .request_values import query_value, read_body, request_language
from .served import Served, serving

View = Callable[[Request], Awaitable[Response]]


async def clientconfig(request: Request) -> Response:
    """Thunderbird's config-v1.1.xml: a person's, or with the clients' placeholders for a domain."""
    served = serving(request)
    address = query_value(request, "emailaddress")
    account: Account | None = None
    if address is None:
        varies_with_host(request.scope)
        provider = provider_for_host(served.settings, request.headers.get("host", ""))
        say(request.scope, GENERIC)
    else:
        account = await served.account(address, request)
        provider = account.provider
        _say_hosted(request, account)
    template = served.clientconfig[provider.id]
    if account is None:
        return Response(template.render(), media_type=XML_MEDIA_TYPE)
    return Response(
        served.rendered("tb", account, lambda: template.render(account)), media_type=XML_MEDIA_TYPE
    )


def _say_hosted(request: Request, account: Account) -> None:
    if account.hosted:
        say(request.scope, HOSTED)


def _pox_answer(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=outlook.MEDIA_TYPE)


async def autodiscover_xml(request: Request) -> Response:
    """Outlook's POX autodiscover. Protocol errors are 200 with an Error document, as Exchange answers."""
    if request.method != "POST":
        say(request.scope, REFUSED)
        return _pox_answer(outlook.build_error(outlook.INVALID_REQUEST))
    body = await read_body(request, outlook.MAX_BODY)
    if body is None:
        return _pox_answer(outlook.build_error(outlook.INVALID_REQUEST), status=413)
    served = serving(request)
    try:
        pox = outlook.read_request(body)
        account = await served.account(pox.address, request)
    except outlook.PoxError as exc:
        say(request.scope, REFUSED)
        return _pox_answer(outlook.build_error(exc.code, exc.schema))
    except UnknownDomainError:
        return _pox_answer(outlook.build_error(outlook.ADDRESS_NOT_FOUND), status=404)
    except BusyError:
        raise
    except RequestError:
        say(request.scope, REFUSED)
        return _pox_answer(outlook.build_error(outlook.INVALID_REQUEST))
    _say_hosted(request, account)
    if account.alias is not None:
        return _pox_answer(outlook.build_redirect(account.address))
    template = served.pox[account.provider.id]
    return _pox_answer(served.rendered("pox", account, lambda: template.render(lambda fill: fill(account))))


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


async def autodiscover_json(request: Request) -> Response:
    """Where Outlook (new Outlook, Outlook mobile) finds the POX endpoint for an address."""
    protocol = query_value(request, "protocol")
    if protocol is None or protocol.lower() != outlook.JSON_PROTOCOL:
        message = "Protocol must be AutodiscoverV1: this service answers for mail over IMAP and SMTP only."
        return _json(outlook.build_json_error("InvalidProtocol", message), status=400)
    address = request.path_params.get("address") or query_value(request, "email")
    served = serving(request)
    try:
        account = await served.resolve_hosted(address or "", request)
    except UnknownDomainError as exc:
        return _json(outlook.build_json_error("UnknownDomain", exc.message), status=404)
    except BusyError:
        raise
    except RequestError as exc:
        return _json(outlook.build_json_error("InvalidEmailAddress", exc.message), status=400)
    _say_hosted(request, account)
    return _json(served.version.autodiscover_json)


async def mobileconfig(request: Request) -> Response:
    """One person's Apple profile, signed when a signer is configured. A person follows its link from
    a guide: an error says what went wrong in their language."""
    served = serving(request)
    language = request_language(request)
    address = query_value(request, "email") or query_value(request, "emailaddress")
    if address is None:
        message = served.pages.gettext(language, PROFILE_NO_ADDRESS)
        raise RequestError(message, headers=_language_headers(language))
    try:
        account = await served.account(address, request)
        _say_hosted(request, account)
        template = served.version.apple_template(account.provider, language, account.display_name is not None)
        if served.profiles is None:
            profile = build_mobileconfig(account, language, template)
        else:
            # The address as typed (the profile shows it), and the login and name (the directory may
            # change them): two spellings of one address are two entries, never one person's for another.
            key = (account.address, language, account.login, account.display_name or "")
            profile = await served.profiles.get(key, lambda: build_mobileconfig(account, language, template))
    except RequestError as exc:
        raise _in_language(served, language, exc) from None
    # The file name comes from the provider's id (checked hostname-like at load), never from the request.
    filename = f"{account.provider.id}.mobileconfig"
    return Response(
        profile,
        media_type=PROFILE_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _in_language(served: Served, language: str, exc: RequestError) -> RequestError:
    """A profile error said in the visitor's language, with the same status and headers."""
    pages = served.pages
    if isinstance(exc, UnknownDomainError):
        message = unknown_domain_message(pages, served.settings, language)
    elif isinstance(exc, BusyError):
        message = pages.gettext(language, BUSY)
    elif exc.status == 400 and language != "en":
        # The address's own faults (addresses.py) are precise sentences in English, the messages'
        # language; another language gets the page's sentence for them.
        message = pages.gettext(language, INVALID_ADDRESS)
    else:
        message = exc.message
    return RequestError(message, exc.status, {**exc.headers, **_language_headers(language)})


def _language_headers(language: str) -> dict[str, str]:
    return {"Content-Language": language, "Vary": "Accept-Language"}


async def pacc(request: Request) -> Response:
    """PACC: the document of the domain `ua-auto-config.<domain>` (or `?domain=`) names."""
    served = serving(request)
    named = query_value(request, "domain")
    if named is None:
        varies_with_host(request.scope)
    host = f"{pacc_format.HOST_LABEL}.{named}" if named is not None else request.headers.get("host", "")
    _, domain = domain_for_host(served.settings, host)
    document = served.pacc[domain]
    if document.body is None:
        raise RequestError(f"No PACC document is published for {domain}: {document.reason}.", 404)
    return Response(document.body, media_type=pacc_format.MEDIA_TYPE)


def dav_redirect(kind: str) -> View:
    async def redirect(request: Request) -> Response:
        """RFC 6764 §5: the well-known URI of the provider the Host names leads to its DAV server."""
        varies_with_host(request.scope)
        provider = provider_for_host(serving(request).settings, request.headers.get("host", ""))
        dav = provider.calendar if kind == "caldav" else provider.contacts
        if dav is None:
            raise RequestError(
                f"No {'calendar' if kind == 'caldav' else 'address book'} server is configured here.", 404
            )
        return RedirectResponse(
            discovery_url(dav, provider, request.headers.get("host", "")), status_code=301
        )

    return redirect
