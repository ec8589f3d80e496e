"""Apple configuration profiles (.mobileconfig) for iPhone, iPad and macOS Mail: payload dicts -> plist.

One profile per person: mail, and where the settings describe them, calendar, contacts and the staff
directory. Identifiers and UUIDs derive from the provider and the address, so installing the profile
again replaces the old one. A profile never holds a password: the device asks for it.
"""

from __future__ import annotations

import plistlib
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from autoconfig.accounts import Account
from autoconfig.addresses import address_key
from autoconfig.settings import DavServer, Directory, Provider, Server

from .xmlslots import SlotBuilder, SlottedXml

MEDIA_TYPE = "application/x-apple-aspen-config"
# Fixed forever: changing it would change every identifier and leave duplicate profiles on devices.
_NAMESPACE = uuid.UUID("6f1c3c1e-3b7e-5d0a-9a51-7a0c2f4f1e25")
# Apple's names for the authentication methods a profile can carry, in Thunderbird's words.
_APPLE_AUTH = {
    "password-cleartext": "EmailAuthPassword",
    "password-encrypted": "EmailAuthCRAMMD5",
    "NTLM": "EmailAuthNTLM",
    "none": "EmailAuthNone",
}
_TEXT = {
    "fr": {
        "display": "Messagerie {name}",
        "description": "Configure la messagerie{extras} de {address}. Le mot de passe vous sera demandé "
        "à l'installation.",
        "mail": "Messagerie {name}",
        "calendar": "Agenda {name}",
        "contacts": "Contacts {name}",
        "directory": "Annuaire {name}",
        "extras_calendar": ", l'agenda",
        "extras_contacts": ", les contacts",
        "extras_directory": ", l'annuaire",
    },
    "en": {
        "display": "{name} mail",
        "description": "Sets up mail{extras} for {address}. You will be asked for the password when "
        "installing.",
        "mail": "{name} mail",
        "calendar": "{name} calendar",
        "contacts": "{name} contacts",
        "directory": "{name} directory",
        "extras_calendar": ", the calendar",
        "extras_contacts": ", contacts",
        "extras_directory": ", the directory",
    },
}


def profile_uuid(provider: Provider, account: Account) -> uuid.UUID:
    """Stable for one person at one provider, whatever the address's casing."""
    return uuid.uuid5(_NAMESPACE, f"{provider.id}\n{address_key(account.local_part, account.domain)}")


def profile_identifier(provider: Provider, account: Account) -> str:
    # Reverse-DNS of the provider, then the UUID: the address itself never appears (it is personal,
    # and may hold characters an identifier should not).
    return _identifier(provider, profile_uuid(provider, account))


def _identifier(provider: Provider, root_uuid: uuid.UUID) -> str:
    reverse = ".".join(reversed(provider.id.split(".")))
    return f"{reverse}.autoconfig.{root_uuid}"


def build_payloads(account: Account, language: str) -> dict[str, Any]:
    """The profile as a dictionary, ready for plistlib."""
    named = account.display_name is not None
    return _payloads(account.provider, language, named, _person(account))


def build_mobileconfig(account: Account, language: str, template: SlottedXml[str] | None = None) -> bytes:
    """The unsigned profile: an XML property list, keys in a stable order. The same bytes as plistlib
    writes for build_payloads (tested), from `template` (compile_template for the account's provider,
    language and form: the service keeps one per settings version) or one made for this call."""
    named = account.display_name is not None
    if template is None:
        template = compile_template(account.provider, language, named)
    return template.render(_person(account).__getitem__)


def compile_template(provider: Provider, language: str, named: bool) -> SlottedXml[str]:
    """The profile with a hole for each person's value, serialised once: plistlib's writer was four
    fifths of a new person's profile, signature included."""
    holes = SlotBuilder[str](escape=_plist_escape)
    document = plistlib.dumps(
        _payloads(provider, language, named, _Holes(holes)), fmt=plistlib.FMT_XML, sort_keys=True
    )
    return holes.cut(document)


class _Holes(dict[str, str]):
    """A person's values as hole markers: `holes[key]` hands out a marker for `key`."""

    def __init__(self, builder: SlotBuilder[str]) -> None:
        super().__init__()
        self.builder = builder

    def __missing__(self, key: str) -> str:
        return self.builder(key)


def _plist_escape(text: str) -> str:
    # As plistlib writes a string (its _escape): no control characters, line ends as \n, & < > escaped.
    if _CONTROL.search(text):
        raise ValueError("strings can't contain control characters; use bytes instead")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_KINDS = ("mail", "caldav", "carddav", "ldap")


def _person(account: Account) -> dict[str, str]:
    """Every value of a profile that is the person's: identifiers, address, logins, filled-in hosts."""
    provider = account.provider
    root_uuid = profile_uuid(provider, account)
    root_id = _identifier(provider, root_uuid)
    incoming, outgoing = provider.incoming[0], provider.outgoing[0]
    values = {
        "uuid": str(root_uuid).upper(),
        "identifier": root_id,
        "address": account.address,
        "unicode_address": account.unicode_address,
        "display_name": account.display_name or "",
        "login": account.login,
        "incoming_host": account.fill(incoming.host),
        "incoming_login": account.login_for(incoming.username),
        "outgoing_host": account.fill(outgoing.host),
        "outgoing_login": account.login_for(outgoing.username),
    }
    present = {
        "mail": True,
        "caldav": provider.calendar is not None,
        "carddav": provider.contacts is not None,
        "ldap": provider.directory is not None,
    }
    for kind in (kind for kind in _KINDS if present[kind]):  # a UUIDv5 costs 5 µs: only the payloads there
        values[f"uuid.{kind}"] = str(uuid.uuid5(root_uuid, kind)).upper()
        values[f"identifier.{kind}"] = f"{root_id}.{kind}"
    for kind, service in (("caldav", provider.calendar), ("carddav", provider.contacts)):
        if service is not None:
            url = urlsplit(account.fill(service.url, in_url=True))
            values[f"{kind}_host"] = url.hostname or ""
            values[f"{kind}_url"] = url.geturl()
            values[f"{kind}_login"] = account.login_for(service.username)
    return values


def _payloads(provider: Provider, language: str, named: bool, person: dict[str, str]) -> dict[str, Any]:
    text = _TEXT.get(language, _TEXT["en"])
    name = provider.name

    def common(kind: str, payload_type: str, description: str) -> dict[str, Any]:
        return {
            "PayloadType": payload_type,
            "PayloadVersion": 1,
            "PayloadIdentifier": person[f"identifier.{kind}"],
            "PayloadUUID": person[f"uuid.{kind}"],
            "PayloadDisplayName": description,
            "PayloadDescription": description,
            "PayloadOrganization": name,
        }

    mail = {
        **common("mail", "com.apple.mail.managed", text["mail"].format(name=name)),
        **_mail(provider, person),
    }
    if named:
        mail["EmailAccountName"] = person["display_name"]
    content = [mail]
    extras = ""
    if provider.calendar is not None:
        payload = common("caldav", "com.apple.caldav.account", text["calendar"].format(name=name))
        dav = _dav("CalDAV", "caldav", provider.calendar, person, text["calendar"].format(name=name))
        content.append({**payload, **dav})
        extras += text["extras_calendar"]
    if provider.contacts is not None:
        payload = common("carddav", "com.apple.carddav.account", text["contacts"].format(name=name))
        dav = _dav("CardDAV", "carddav", provider.contacts, person, text["contacts"].format(name=name))
        content.append({**payload, **dav})
        extras += text["extras_contacts"]
    if provider.directory is not None:
        payload = common("ldap", "com.apple.ldap.account", text["directory"].format(name=name))
        content.append({**payload, **_ldap(provider.directory, person, text["directory"].format(name=name))})
        extras += text["extras_directory"]
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": person["identifier"],
        "PayloadUUID": person["uuid"],
        "PayloadDisplayName": text["display"].format(name=name),
        "PayloadDescription": text["description"].format(extras=extras, address=person["unicode_address"]),
        "PayloadOrganization": name,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": content,
    }


def _auth(server: Server) -> str:
    # The first method Apple Mail knows, in the provider's order; a password otherwise (OAuth2 has no
    # place in a profile: the device then asks for the password, which the server may refuse).
    for method in server.auth:
        if method in _APPLE_AUTH:
            return _APPLE_AUTH[method]
    return "EmailAuthPassword"


def _mail(provider: Provider, person: dict[str, str]) -> dict[str, Any]:
    incoming, outgoing = provider.incoming[0], provider.outgoing[0]
    return {
        "EmailAccountType": "EmailTypeIMAP" if incoming.protocol == "imap" else "EmailTypePOP",
        "EmailAccountDescription": provider.name,
        "EmailAddress": person["address"],
        "IncomingMailServerHostName": person["incoming_host"],
        "IncomingMailServerPortNumber": incoming.effective_port,
        # Apple's "SSL" means "TLS required": on 143 and 587 the device upgrades with STARTTLS.
        "IncomingMailServerUseSSL": incoming.security != "none",
        "IncomingMailServerAuthentication": _auth(incoming),
        "IncomingMailServerUsername": person["incoming_login"],
        "OutgoingMailServerHostName": person["outgoing_host"],
        "OutgoingMailServerPortNumber": outgoing.effective_port,
        "OutgoingMailServerUseSSL": outgoing.security != "none",
        "OutgoingMailServerAuthentication": _auth(outgoing),
        "OutgoingMailServerUsername": person["outgoing_login"],
        "OutgoingPasswordSameAsIncomingPassword": True,
    }


def _dav(
    prefix: str, kind: str, service: DavServer, person: dict[str, str], description: str
) -> dict[str, Any]:
    # Scheme and port are the settings' own: the placeholders a URL may hold are in its host and path.
    url = urlsplit(service.url)
    https = url.scheme == "https"
    return {
        f"{prefix}AccountDescription": description,
        f"{prefix}HostName": person[f"{kind}_host"],
        f"{prefix}Port": url.port or (443 if https else 80),
        f"{prefix}UseSSL": https,
        f"{prefix}PrincipalURL": person[f"{kind}_url"],
        f"{prefix}Username": person[f"{kind}_login"],
    }


def _ldap(directory: Directory, person: dict[str, str], description: str) -> dict[str, Any]:
    return {
        "LDAPAccountDescription": description,
        "LDAPAccountHostName": directory.host,
        "LDAPAccountUseSSL": directory.security != "none",
        "LDAPAccountUserName": person["login"],
        "LDAPSearchSettings": [
            {
                "LDAPSearchSettingDescription": description,
                "LDAPSearchSettingSearchBase": directory.base_dn,
                "LDAPSearchSettingScope": "LDAPSearchSettingScopeSubtree",
            }
        ],
    }
