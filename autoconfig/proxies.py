"""X-Forwarded-For and X-Forwarded-Proto, believed only from the reverse proxies the settings trust.

Absolute links never come from these headers (they use `service.public_url`); what they change is the
client address that logs and the /metrics network check see, and the scheme.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from .observe import header_values

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # A dual-stack socket (--host ::) shows IPv4 clients as ::ffff:a.b.c.d: they are IPv4 clients.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(text: str | None, networks: Networks) -> bool:
    """Whether an address (as a socket or a header gives it) is in one of the networks."""
    address = _address(text) if text is not None else None
    return address is not None and any(address in network for network in networks)


def parse_networks(networks: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The settings' networks, parsed once at load."""
    return [ipaddress.ip_network(network) for network in networks]


def forwarded_client(peer: str, forwarded_for: str, networks: Networks) -> str:
    """The real client: from the right of X-Forwarded-For, the first hop no trusted proxy vouches for.

    Only a trusted peer's header is read at all; a header that names nothing usable leaves the peer.
    """
    if not in_networks(peer, networks) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")][-16:]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer
        if not in_networks(hop, networks):
            return str(_address(hop))
    return str(_address(hops[0]))


class ForwardedMiddleware:
    """Rewrites the scope's client (and scheme) from a trusted proxy's X-Forwarded-* headers."""

    def __init__(self, app: ASGIApp, networks_of: Callable[[Scope], Networks]) -> None:
        self.app = app
        # Read per request: a settings reload may change the trusted proxies.
        self.networks_of = networks_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            networks = self.networks_of(scope)
            peer, port = scope["client"]
            if networks and in_networks(peer, networks):
                # A proxy may add its own header line after the client's instead of appending to it
                # (HAProxy's `option forwardfor`): every line counts, in order, the client's first.
                forwarded_for = ",".join(header_values(scope, b"x-forwarded-for"))
                client = forwarded_client(peer, forwarded_for, networks)
                scope = dict(scope, client=(client, port))
                protos = header_values(scope, b"x-forwarded-proto")
                proto = protos[-1].strip().lower() if protos else ""
                if proto in ("http", "https"):
                    scope["scheme"] = proto
        await self.app(scope, receive, send)
