"""The landing page and the setup guides, in the person's language."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from autoconfig.accounts import provider_for_host
from autoconfig.errors import RequestError, UnknownDomainError
from autoconfig.settings import Provider

from .loaded import loaded
from .pages import (
    DEVICES,
    INVALID_ADDRESS,
    NO_ADDRESS,
    NO_DOMAIN,
    NO_SUCH_GUIDE,
    UNKNOWN_DOMAIN,
    ProfileSigning,
    account_facts,
    device_from_user_agent,
    guide_context,
    landing_context,
)
from .reading import link_base, query_value, request_language

_NAME_LIKE = re.compile(r"[^\W_](?:[\w.'-]{0,62}[^\W_])?")


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


def _render(request: Request, template: str, language: str, **context: Any) -> str:
    pages = loaded(request).pages
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
        **landing_context(provider, language, link_base(request)),
    )


async def landing(request: Request) -> Response:
    return _landing_page(request, request_language(request))


async def guide(request: Request) -> Response:
    """The guide for the device the path names, or else the one the browser's User-Agent names."""
    language = request_language(request)
    served = loaded(request)
    pages = served.pages
    device = request.path_params.get("device") or device_from_user_agent(request.headers.get("user-agent"))
    if device not in DEVICES:
        return _landing_page(request, language, error=pages.gettext(language, NO_SUCH_GUIDE), status=404)
    # People paste addresses with spaces around them; inside, a space is an error like any other.
    typed = (query_value(request, "email") or "").strip()
    if not typed:
        return _landing_page(request, language, error=pages.gettext(language, NO_ADDRESS), status=400)
    if "@" not in typed:
        # A login or a name without its domain (jdupont, jean.dupont): say what is missing.
        domain = (_page_provider(request) or served.settings.providers[0]).domains[0]
        # The example completes what was typed when it reads as a name; anything else is not echoed.
        name = typed if _NAME_LIKE.fullmatch(typed) else "jean.dupont"
        message = pages.gettext(language, NO_DOMAIN, domain=domain, example=f"{name}@{domain}")
        return _landing_page(request, language, typed=typed, error=message, status=400)
    try:
        account = await served.account(typed)
    except UnknownDomainError:
        domains = ", ".join(d for p in served.settings.providers for d in p.domains)
        message = pages.gettext(language, UNKNOWN_DOMAIN, domains=domains)
        return _landing_page(request, language, typed=typed, error=message, status=404)
    except RequestError:
        message = pages.gettext(language, INVALID_ADDRESS)
        return _landing_page(request, language, typed=typed, error=message, status=400)
    base = link_base(request)
    # Everything the page is made of: the rest (settings, signer) is the same for this `served`.
    key = (device, language, base, request.url.path, request.scope["query_string"], account_facts(account))
    page = served.pages.kept(key)
    if page is None:
        signing: ProfileSigning = "unsigned"
        if served.signer is not None:
            signing = "development" if served.signer.development else "signed"
        context = guide_context(account, device, language, base, signing)
        page = served.pages.keep(key, _render(request, "guide.html", language, **context))
    return HTMLResponse(page, headers={"Vary": "Accept-Language"})
