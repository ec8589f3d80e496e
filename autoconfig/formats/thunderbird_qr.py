"""Thunderbird's account export (format version 1), which Thunderbird for Android imports from a QR code.

Thunderbird desktop writes it in `mail/modules/QRExport.sys.mjs` ("Export for Mobile"); Thunderbird for
Android reads it in `feature/migration/qrcode` ("Import settings" -> "Scan QR code"). The text is a
JSON array:

    [1, [part, count],
     [protocol, host, port, socket, auth, username, account name, password],     # incoming
     [[[0, host, port, socket, auth, username, password], [address, name]]]]      # outgoing, identity

Every field is always written, and "" stands for an empty value: the Android importer rejects the
whole code for a JSON null. The password is always "": the phone asks for it. What the importer
refuses (a non-ASCII address, GSSAPI or NTLM) is never written: `android_export` says why instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from autoconfig.accounts import Account
from autoconfig.settings import Server

FORMAT_VERSION = 1
PROTOCOLS = {"imap": 0, "pop3": 1, "smtp": 0}
SOCKETS = {"none": 0, "starttls": 2, "tls": 3}
# Thunderbird's method names -> the export's codes. GSSAPI (3) and NTLM (4) are refused by the Android
# importer; "client-IP-address" means no authentication, as "none".
AUTH_CODES = {
    "none": 0,
    "client-IP-address": 0,
    "password-cleartext": 1,
    "password-encrypted": 2,
    "TLS-client-cert": 5,
    "OAuth2": 6,
}
# Thunderbird desktop warns past this length: a denser code is hard to scan from a screen.
COMFORTABLE_LENGTH = 800


@dataclass(frozen=True)
class AndroidExport:
    """The export text for one person, or why there is none."""

    payload: str | None
    reason: str | None = None  # plain words, shown to the IT team in `check` and to the person


def _auth_code(server: Server) -> int | None:
    for method in server.auth:
        if method in AUTH_CODES:
            return AUTH_CODES[method]
    return None


def android_export(account: Account) -> AndroidExport:
    """The person's first incoming and first outgoing server with their login, address and name."""
    address = account.alias or account.address
    if not address.isascii():
        return AndroidExport(None, "Thunderbird for Android imports only addresses written in ASCII letters")
    provider = account.provider
    incoming, outgoing = provider.incoming[0], provider.outgoing[0]
    codes = (_auth_code(incoming), _auth_code(outgoing))
    if None in codes:
        return AndroidExport(
            None, "Thunderbird for Android imports no server that asks for GSSAPI or NTLM authentication"
        )
    incoming_auth, outgoing_auth = codes
    payload = [
        FORMAT_VERSION,
        [1, 1],
        [
            PROTOCOLS[incoming.protocol_name],
            account.fill(incoming.host),
            incoming.effective_port,
            SOCKETS[incoming.security],
            incoming_auth,
            account.login_for(incoming.username),
            address,
            "",
        ],
        [
            [
                [
                    PROTOCOLS["smtp"],
                    account.fill(outgoing.host),
                    outgoing.effective_port,
                    SOCKETS[outgoing.security],
                    outgoing_auth,
                    account.login_for(outgoing.username),
                    "",
                ],
                [address, account.display_name or ""],
            ]
        ],
    ]
    # Compact and in plain UTF-8, as Thunderbird writes it: the fewer characters, the sparser the code.
    return AndroidExport(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
