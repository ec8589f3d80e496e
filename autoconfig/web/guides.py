"""The landing page and the setup guides, in the person's language."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from autoconfig.accounts import nearest_domain, parse_address, provider_for_host
from autoconfig.domains import to_unicode_domain
from autoconfig.errors import BusyError, RequestError, UnknownDomainError
from autoconfig.settings import Provider

from .pages import (
    BUSY,
    DEVICES,
    INVALID_ADDRESS,
    NO_ADDRESS,
    NO_SUCH_GUIDE,
    ProfileSigning,
    account_facts,
    address_hints,
    bare_input_message,
    device_from_user_agent,
    guide_context,
    landing_context,
    login_hint_parts,
    patterns_json,
    unknown_domain_message,
)
from .request_values import link_base, query_value, request_language
from .served import serving


def _page_provider(request: Request) -> Provider | None:
    """The provider the pages speak for: the one the Host names, else the only one, else none."""
    settings = serving(request).settings
    try:
        return provider_for_host(settings, request.headers.get("host", ""))
    except UnknownDomainError:
        return settings.providers[0] if len(settings.providers) == 1 else None


def _language_links(request: Request, languages: tuple[str, ...]) -> dict[str, str]:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "lang"]
    return {code: f"{request.url.path}?{urlencode([*kept, ('lang', code)])}" for code in languages}


def _render(request: Request, template: str, language: str, **context: Any) -> str:
    pages = serving(request).pages
    provider = context.get("provider")
    return pages.render(
        template,
        language,
        organisation=provider.name if provider is not None else pages.settings.providers[0].name,
        language_links=_language_links(request, pages.settings.service.languages),
        **context,
    )


def _page(request: Request, template: str, language: str, status: int = 200, **context: Any) -> Response:
    html = _render(request, template, language, **context)
    return HTMLResponse(html, status_code=status, headers={"Vary": "Accept-Language"})


def _landing_page(
    request: Request,
    language: str,
    typed: str = "",
    error: str | None = None,
    status: int = 200,
    *,
    suggestion: Markup | None = None,
) -> Response:
    served = serving(request)
    provider = _page_provider(request)
    hints = address_hints(served.pages, provider or served.settings.providers[0], language)
    return _page(
        request,
        "landing.html",
        language,
        status=status,
        typed=typed,
        error=error,
        suggestion=suggestion,
        example=hints.example,
        domain_hint=hints.domain_hint,
        login_hint=login_hint_parts(served.pages, hints, language),
        form_patterns=patterns_json(hints),
        **landing_context(provider, language, link_base(request)),
    )


def _suggestion(request: Request, typed: str, language: str) -> Markup | None:
    """A link to the guide for the address with the configured domain its domain is a slip away from."""
    local, domain = parse_address(typed)  # it parsed once already: its domain is the unknown one
    nearest = nearest_domain(serving(request).settings, domain)
    if nearest is None:
        return None
    address = f"{local}@{to_unicode_domain(nearest)}"
    url = f"{request.url.path}?{urlencode({'email': address, 'lang': language})}"
    return Markup('<a href="{}">{}</a>').format(url, address)


async def landing(request: Request) -> Response:
    return _landing_page(request, request_language(request))


async def guide(request: Request) -> Response:
    """The guide for the device the path names, or else the one the browser's User-Agent names."""
    language = request_language(request)
    served = serving(request)
    pages = served.pages
    device = request.path_params.get("device") or device_from_user_agent(request.headers.get("user-agent"))
    if device not in DEVICES:
        return _landing_page(request, language, error=pages.gettext(language, NO_SUCH_GUIDE), status=404)
    # People paste addresses with spaces around them; inside, a space is an error like any other.
    typed = (query_value(request, "email") or "").strip()
    if not typed:
        return _landing_page(request, language, error=pages.gettext(language, NO_ADDRESS), status=400)
    if "@" not in typed:
        # A login or a name without its domain (jdupont, jean.dupont): say what is missing, with the
        # provider's example. Never the typed text made into an address: jdupont@ac-paris.fr is none.
        provider = _page_provider(request) or served.settings.providers[0]
        message = bare_input_message(pages, provider, language, typed)
        return _landing_page(request, language, typed=typed, error=message, status=400)
    try:
        account = await served.account(typed, request)
    except UnknownDomainError:
        message = unknown_domain_message(pages, served.settings, language)
        suggestion = _suggestion(request, typed, language)
        return _landing_page(request, language, typed=typed, error=message, status=404, suggestion=suggestion)
    except BusyError as exc:  # too many MX lookups of a hoster's customer domains under way
        busy = _landing_page(request, language, typed=typed, error=pages.gettext(language, BUSY), status=503)
        busy.headers.update(exc.headers)
        return busy
    except RequestError:
        message = pages.gettext(language, INVALID_ADDRESS)
        return _landing_page(request, language, typed=typed, error=message, status=400)
    base = link_base(request)
    # Read on a phone or tablet, a page puts the steps first and folds the account code away: that
    # screen cannot scan its own code (a computer's window, however narrow, can show it to a phone).
    handheld = device_from_user_agent(request.headers.get("user-agent")) in ("android", "ios")
    # Everything the page is made of: the rest (settings, signer) is the same for this `served`.
    query = request.scope["query_string"]
    key = (device, language, base, request.url.path, query, account_facts(account), handheld)
    page = served.pages.kept(key)
    if page is None:
        signing: ProfileSigning = "unsigned"
        if served.signer is not None:
            signing = "development" if served.signer.development else "signed"
        context = guide_context(account, device, language, base, signing)
        page = served.pages.keep(key, _render(request, "guide.html", language, **context, handheld=handheld))
    return HTMLResponse(page, headers={"Vary": "Accept-Language"})
