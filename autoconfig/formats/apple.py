"""Apple configuration profiles (.mobileconfig) for iPhone, iPad and macOS Mail: payload dicts -> plist.

One profile per person: mail, and where the settings describe them, calendar, contacts and the staff
directory. Identifiers and UUIDs derive from the provider and the address, so installing the profile
again replaces the old one. A profile never holds a password: the device asks for it.
"""

from __future__ import annotations

import plistlib
import uuid
from typing import Any
from urllib.parse import urlsplit

from autoconfig.accounts import Account
from autoconfig.addresses import address_key
from autoconfig.settings import DavServer, Directory, Provider, Server

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
    reverse = ".".join(reversed(provider.id.split(".")))
    return f"{reverse}.autoconfig.{profile_uuid(provider, account)}"


def build_payloads(account: Account, language: str) -> dict[str, Any]:
    """The profile as a dictionary, ready for plistlib."""
    provider = account.provider
    text = _TEXT.get(language, _TEXT["en"])
    name = provider.name
    root_uuid = profile_uuid(provider, account)
    root_id = profile_identifier(provider, account)

    def common(kind: str, payload_type: str, description: str) -> dict[str, Any]:
        return {
            "PayloadType": payload_type,
            "PayloadVersion": 1,
            "PayloadIdentifier": f"{root_id}.{kind}",
            "PayloadUUID": str(uuid.uuid5(root_uuid, kind)).upper(),
            "PayloadDisplayName": description,
            "PayloadDescription": description,
            "PayloadOrganization": name,
        }

    content = [{**common("mail", "com.apple.mail.managed", text["mail"].format(name=name)), **_mail(account)}]
    extras = ""
    if provider.calendar is not None:
        payload = common("caldav", "com.apple.caldav.account", text["calendar"].format(name=name))
        content.append(
            {**payload, **_dav("CalDAV", provider.calendar, account, text["calendar"].format(name=name))}
        )
        extras += text["extras_calendar"]
    if provider.contacts is not None:
        payload = common("carddav", "com.apple.carddav.account", text["contacts"].format(name=name))
        content.append(
            {**payload, **_dav("CardDAV", provider.contacts, account, text["contacts"].format(name=name))}
        )
        extras += text["extras_contacts"]
    if provider.directory is not None:
        payload = common("ldap", "com.apple.ldap.account", text["directory"].format(name=name))
        content.append({**payload, **_ldap(provider.directory, account, text["directory"].format(name=name))})
        extras += text["extras_directory"]
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": root_id,
        "PayloadUUID": str(root_uuid).upper(),
        "PayloadDisplayName": text["display"].format(name=name),
        "PayloadDescription": text["description"].format(extras=extras, address=account.unicode_address),
        "PayloadOrganization": name,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": content,
    }


def build_mobileconfig(account: Account, language: str) -> bytes:
    """The unsigned profile: an XML property list, keys in a stable order."""
    return plistlib.dumps(build_payloads(account, language), fmt=plistlib.FMT_XML, sort_keys=True)


def _auth(server: Server) -> str:
    # The first method Apple Mail knows, in the provider's order; a password otherwise (OAuth2 has no
    # place in a profile: the device then asks for the password, which the server may refuse).
    for method in server.auth:
        if method in _APPLE_AUTH:
            return _APPLE_AUTH[method]
    return "EmailAuthPassword"


def _mail(account: Account) -> dict[str, Any]:
    provider = account.provider
    incoming, outgoing = provider.incoming[0], provider.outgoing[0]
    payload: dict[str, Any] = {
        "EmailAccountType": "EmailTypeIMAP" if incoming.protocol == "imap" else "EmailTypePOP",
        "EmailAccountDescription": provider.name,
        "EmailAddress": account.address,
        "IncomingMailServerHostName": account.fill(incoming.host),
        "IncomingMailServerPortNumber": incoming.effective_port,
        # Apple's "SSL" means "TLS required": on 143 and 587 the device upgrades with STARTTLS.
        "IncomingMailServerUseSSL": incoming.security != "none",
        "IncomingMailServerAuthentication": _auth(incoming),
        "IncomingMailServerUsername": account.login_for(incoming.username),
        "OutgoingMailServerHostName": account.fill(outgoing.host),
        "OutgoingMailServerPortNumber": outgoing.effective_port,
        "OutgoingMailServerUseSSL": outgoing.security != "none",
        "OutgoingMailServerAuthentication": _auth(outgoing),
        "OutgoingMailServerUsername": account.login_for(outgoing.username),
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    if account.display_name is not None:
        payload["EmailAccountName"] = account.display_name
    return payload


def _dav(prefix: str, service: DavServer, account: Account, description: str) -> dict[str, Any]:
    url = urlsplit(account.fill(service.url, in_url=True))
    https = url.scheme == "https"
    return {
        f"{prefix}AccountDescription": description,
        f"{prefix}HostName": url.hostname or "",
        f"{prefix}Port": url.port or (443 if https else 80),
        f"{prefix}UseSSL": https,
        f"{prefix}PrincipalURL": url.geturl(),
        f"{prefix}Username": account.login_for(service.username),
    }


def _ldap(directory: Directory, account: Account, description: str) -> dict[str, Any]:
    return {
        "LDAPAccountDescription": description,
        "LDAPAccountHostName": directory.host,
        "LDAPAccountUseSSL": directory.security != "none",
        "LDAPAccountUserName": account.login,
        "LDAPSearchSettings": [
            {
                "LDAPSearchSettingDescription": description,
                "LDAPSearchSettingSearchBase": directory.base_dn,
                "LDAPSearchSettingScope": "LDAPSearchSettingScopeSubtree",
            }
        ],
    }
