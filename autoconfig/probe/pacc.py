"""PACC: the document at `ua-auto-config.<domain>`, trusted only when the SHA-256 of its exact bytes is
in a `_ua-auto-config.<domain>` TXT record; or, for a provider PACC cannot describe, no document."""

from __future__ import annotations

import json
from typing import Any

from autoconfig.accounts import Account
from autoconfig.formats.pacc import (
    HOST_LABEL,
    MEDIA_TYPE,
    REVISION,
    STANDARD_PORTS,
    TXT_LABEL,
    WELL_KNOWN_PATH,
    PaccDocument,
    describable,
    pacc_document,
)

from .expected import MailServer, Outcome, compare, expected_outcome
from .lookup import LookupFailure
from .network import FetchError, Network
from .report import Result, Status

CLIENT = "pacc"
AGENT = "autoconfig-probe (PACC)"


def published_digests(network: Network, domain: str) -> list[str]:
    """The `d=` of every `v=UAAC1` TXT record (several live side by side during a change)."""
    found = []
    for text in network.lookup.texts(f"{TXT_LABEL}.{domain}"):
        fields = dict(part.strip().partition("=")[::2] for part in text.split(";"))
        if fields.get("v") == "UAAC1" and fields.get("a") == "sha256" and "d" in fields:
            found.append(fields["d"])
    return found


def document_outcome(document: Any) -> Outcome:
    """The servers a PACC client uses: hosts only, implicit TLS on the standard ports, no login."""
    protocols = document.get("protocols", {}) if isinstance(document, dict) else {}
    keys = REVISION.protocol_keys

    def server(protocol: str) -> MailServer | None:
        entry = protocols.get(keys[protocol])
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
            return None
        return MailServer(protocol, entry["host"].lower(), STANDARD_PORTS[protocol], "tls", None)

    return Outcome(server("imap") or server("pop3"), server("smtp"))


def pacc(account: Account, domain: str, network: Network) -> list[Result]:
    provider = account.provider
    expected = pacc_document(provider, domain)
    if expected.body is None:
        return [
            Result(
                CLIENT,
                "document",
                Status.OK,
                "none, as expected: PACC describes implicit TLS on the standard ports only, and this "
                "provider offers other servers",
            )
        ]
    url = f"https://{HOST_LABEL}.{domain}{WELL_KNOWN_PATH}"
    try:
        answer = network.fetch("GET", url, headers={"User-Agent": AGENT, "Accept": MEDIA_TYPE})
    except FetchError as failure:
        fix = (
            "see the https results for this name"
            if failure.kind.startswith("tls")
            else f"publish {HOST_LABEL}.{domain} and serve the service there (see the dns results)"
        )
        return [Result(CLIENT, "document", Status.FAIL, failure.message, fix, url)]
    if answer.status != 200 or answer.content_type != MEDIA_TYPE:
        detail = f"HTTP {answer.status}, {answer.content_type or 'no type'}"
        return [Result(CLIENT, "document", Status.FAIL, detail, "serve the service's answer untouched", url)]
    try:
        document = json.loads(answer.body)
    except ValueError as exc:
        return [
            Result(
                CLIENT,
                "document",
                Status.FAIL,
                f"not JSON ({exc})",
                "serve the service's answer untouched",
                url,
            )
        ]
    served = PaccDocument(answer.body).digest
    results = [Result(CLIENT, "document", Status.OK, f"{len(answer.body)} bytes, sha256 {served}", url=url)]
    results.append(_digest(network, domain, served, expected, url))
    results.append(_outcome(account, document, url))
    return results


def _digest(network: Network, domain: str, served: str, expected: PaccDocument, url: str) -> Result:
    name = f"{TXT_LABEL}.{domain}"
    try:
        published = published_digests(network, domain)
    except LookupFailure as failure:
        published, missing = [], failure.message
    else:
        missing = f"no v=UAAC1 record at {name}"
    stale = (
        ""
        if served == expected.digest
        else f"; the service serves another document than these settings give (d={expected.digest}): "
        "reload it"
    )
    if served in published:
        if stale:
            return Result(
                CLIENT,
                "digest",
                Status.WARN,
                f"matches the TXT record{stale}",
                "reload the service, then publish the record `autoconfig dns` prints",
                url,
            )
        return Result(CLIENT, "digest", Status.OK, f"matches the TXT record at {name}", url=url)
    found = ", ".join(f"d={d}" for d in published) or missing
    return Result(
        CLIENT,
        "digest",
        Status.FAIL,
        f"the document's digest d={served} is in no TXT record ({found}): clients reject the document{stale}",
        f'publish {name}. TXT "{expected.txt_record}" (what `autoconfig dns` prints), '
        "beside the old record until the TTL has run, then remove the old one",
        url,
    )


def _outcome(account: Account, document: Any, url: str) -> Result:
    provider = account.provider
    incoming = next(s for s in provider.incoming if describable(s))
    outgoing = next(s for s in provider.outgoing if describable(s))
    wanted = expected_outcome(account, incoming, outgoing)
    found = document_outcome(document)
    differences = compare(found, wanted)
    shown = found.describe() + " (PACC names no login)"
    if differences.servers:
        return Result(
            CLIENT,
            "result",
            Status.FAIL,
            f"ends up with {shown}: {differences.describe()}",
            "reload the service with these settings",
            url,
        )
    return Result(CLIENT, "result", Status.OK, f"ends up with {shown}", url=url)
