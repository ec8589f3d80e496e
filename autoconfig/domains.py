"""DNS names: the one place that turns what people type into the ASCII form servers compare."""

from __future__ import annotations

import ipaddress
import re

import idna

from .caches import memoize
from .errors import AutoconfigError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_NAME = 253


class DomainNameError(AutoconfigError, ValueError):
    """A name that is not a usable DNS name; the message says why in plain words."""


# The served domains, over and over; a name that fails raises each time (errors are not kept).
@memoize("ascii_domains")
def to_ascii_domain(value: str) -> str:
    """Return the lower-case A-label form of a domain name (IDNA 2008 with UTS 46 mapping).

    `Exämple.FR.` becomes `xn--exmple-cua.fr`. Raises DomainNameError with a plain reason.
    """
    name = value.strip().removesuffix(".")
    if not name:
        raise DomainNameError("the name is empty")
    if name.isascii():
        name = name.lower()
    else:
        try:
            name = idna.encode(name, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise DomainNameError(f"it is not a valid internationalised domain name ({exc})") from None
    if len(name) > MAX_NAME:
        raise DomainNameError(f"it is {len(name)} characters long; a domain name has at most {MAX_NAME}")
    labels = name.split(".")
    if len(labels) < 2:
        raise DomainNameError("it has no dot; a mail domain looks like example.org")
    for label in labels:
        if not _LABEL.match(label):
            raise DomainNameError(
                f"the part {label!r} is not a DNS label (letters, digits and inner hyphens, 1 to 63 long)"
            )
    if labels[-1].isdigit():
        raise DomainNameError("its last part is a number; that is an IP address, not a domain name")
    return name


@memoize("unicode_domains")  # the served domains, over and over
def to_unicode_domain(ascii_name: str) -> str:
    """The form to show people: `xn--exmple-cua.fr` becomes `exämple.fr`."""
    try:
        return idna.decode(ascii_name)
    except idna.IDNAError:
        return ascii_name


def to_ascii_host(value: str) -> str:
    """A server host: a domain name as above, or an IPv4/IPv6 literal (kept in its canonical form)."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return to_ascii_domain(text)


def host_from_header(value: str) -> str | None:
    """The host name of an HTTP `Host` header, without port, in A-label form; None if it is not a name."""
    text = value.strip()
    if text.startswith("["):  # an IPv6 literal never names a mail domain
        return None
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    try:
        return to_ascii_domain(host)
    except DomainNameError:
        return None


def split_host_port(text: str) -> tuple[str, str]:
    """`HOST:PORT`, `HOST`, `[V6]:PORT`, `[V6]` or a bare IPv6 address, as people write an endpoint:
    the host and the port as written ("" when none); the caller judges both."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.removeprefix(":")
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, ""
