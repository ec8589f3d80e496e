"""Every Thunderbird document the service can produce validates against the Mail Autoconfig draft's
RELAX NG grammar (draft-ietf-mailmaint-autoconfig-06, tests/data/autoconfig-spec/, with its notice).

The grammar implements the draft's must-ignore rule, so values are free text in it: the draft's prose
rules that matter to what we emit (-06's capitalised `Basic`/`Digest` for `system="http"`) are checked
here apart. Where the draft and Thunderbird disagree, the service follows Thunderbird (its parser,
comm-central's `readFromXML.sys.mjs`), as docs/clients.md says: `socketType` SSL (Thunderbird knows no
"TLS", which one of the draft's examples uses), `version="1.1"` (the draft's examples say 1.2),
Thunderbird's own `<webMail>` (an extension element to the grammar).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from autoconfig.accounts import resolve_account
from autoconfig.formats.thunderbird import compile_clientconfig
from autoconfig.paths import profiles_dir
from autoconfig.settings import AUTH_METHODS, Settings, load_settings
from tests.helpers.paths import DATA
from tests.helpers.settings import incoming, outgoing, settings_data

GRAMMAR = DATA / "autoconfig-spec" / "autoconfig.rng"
NOTICE = DATA / "autoconfig-spec" / "NOTICE"
RICH = DATA / "golden" / "rich.toml"
SETTINGS_FILES = [profiles_dir() / "ac-paris.toml", profiles_dir() / "ile-de-france.toml", RICH]
# Local parts a person may have: name-shaped, a homonym's number, an override of rich.toml, odd ones.
LOCAL_PARTS = ("jean.dupont", "jean.dupont2", "zoe.legrand", "o'neil&co", "x")
# What Thunderbird's parser takes in <authentication> (readFromXML.sys.mjs, incoming and outgoing
# mappings, case-sensitive); the settings can name no other method, and the draft defines these too.
THUNDERBIRD_AUTH = {
    "password-cleartext",
    "password-encrypted",
    "GSSAPI",
    "NTLM",
    "OAuth2",
    "none",
    "client-IP-address",
    "TLS-client-cert",  # the draft's; Thunderbird skips it for the next method
}
# -06: the only values of <authentication system="http">, capitalised as in HTTP.
HTTP_AUTH = {"Basic", "Digest"}

MakeSettings = Callable[..., Settings]


@cache
def grammar() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(GRAMMAR)))


def assert_valid(document: bytes, what: str) -> None:
    schema = grammar()
    root = etree.fromstring(document)
    if not schema.validate(root):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        pytest.fail(f"{what} does not validate against autoconfig.rng:\n{errors}")
    for element in root.iter("authentication"):
        system = element.get("system")
        # We emit no URL-based server, so no system="http"; if one ever appears, -06's rule holds.
        assert system in (None, "sasl", "http"), (what, system)
        if system == "http":
            assert element.text in HTTP_AUTH, (what, element.text)
        else:
            assert element.text in THUNDERBIRD_AUTH, (what, element.text)


def documents(settings: Settings) -> Iterator[tuple[str, bytes]]:
    """Every document the service answers for these settings: each provider's answer without address
    (the strict variant for Thunderbird for Android, also `autoconfig render`'s file), its settings as
    set (the import round trip), and its answer for people at each of its domains and aliases."""
    for provider in settings.providers:
        template = compile_clientconfig(provider)
        yield f"{provider.id} without address", template.render()
        yield f"{provider.id} as set", template.render_as_set()
        for domain in (*provider.domains, *provider.aliases):
            for local in LOCAL_PARTS:
                account = resolve_account(settings, f"{local}@{domain}")
                yield f"{provider.id} for {local}@{domain}", template.render(account)


def test_the_grammar_is_the_drafts_with_its_notice() -> None:
    text = GRAMMAR.read_text(encoding="utf-8")
    assert 'xmlns="http://relaxng.org/ns/structure/1.0"' in text
    assert '<name ns="">clientConfig</name>' in text
    notice = NOTICE.read_text(encoding="utf-8")
    assert "benbucksch/autoconfig-spec" in notice
    assert "Revised BSD License" in notice
    assert (GRAMMAR.parent / "CONTRIBUTING.md").is_file()


def test_the_grammar_rejects_what_it_should() -> None:
    # Proof the validator is real: a server's port must be a positive integer, clientConfig a version.
    schema = grammar()
    good = (
        b'<clientConfig version="1.1"><emailProvider id="e"><incomingServer type="imap">'
        b"<port>143</port></incomingServer></emailProvider></clientConfig>"
    )
    assert schema.validate(etree.fromstring(good))
    assert not schema.validate(etree.fromstring(good.replace(b">143<", b">imap<")))
    assert not schema.validate(etree.fromstring(good.replace(b' version="1.1"', b"")))
    assert not schema.validate(etree.fromstring(good.replace(b' id="e"', b"")))


@pytest.mark.parametrize("path", SETTINGS_FILES, ids=lambda p: Path(p).name)
def test_every_answer_of_the_bundled_and_rich_settings_validates(path: Path) -> None:
    settings = load_settings(path)
    seen = 0
    for what, document in documents(settings):
        assert_valid(document, what)
        seen += 1
    assert seen == len(settings.providers) * 2 + sum(
        len(LOCAL_PARTS) * (len(p.domains) + len(p.aliases)) for p in settings.providers
    )


OAUTH = settings_data(
    provider={
        "oauth": {
            "issuer": "https://auth.example.org/realms/staff",
            "scopes": ["openid", "email", "offline_access"],
            "authorization_url": "https://auth.example.org/realms/staff/authorize",
            "token_url": "https://auth.example.org/realms/staff/token",
        },
        "incoming": [
            *incoming(host="imap-sso.example.org", port=993, security="tls", auth=["OAuth2"]),
            *incoming(auth=["password-encrypted", "password-cleartext"]),
        ],
        "outgoing": [
            *outgoing(port=465, security="tls", auth=["OAuth2", "password-cleartext"]),
            *outgoing(host="relay.example.org", port=25, security="none", auth="client-IP-address"),
        ],
        "links": {"webmail": "https://webmail.example.org/?u=%EMAILLOCALPART%"},
    }
)


def test_oauth_answers_validate_and_carry_the_oauth2_element(make_settings: MakeSettings) -> None:
    settings = make_settings(OAUTH)
    answers = dict(documents(settings))
    for what, document in answers.items():
        assert_valid(document, what)
    personal = etree.fromstring(answers["example.org for jean.dupont@example.org"])
    assert personal.findtext("oAuth2/issuer") == "auth.example.org"
    assert personal.findtext("oAuth2/tokenURL") == "https://auth.example.org/realms/staff/token"
    assert [a.text for a in personal.iterfind("emailProvider/incomingServer/authentication")] == [
        "OAuth2",
        "OAuth2",
        "password-encrypted",
        "password-cleartext",
    ]
    # The strict variant leaves the OAuth2-only and the unencrypted servers out, and still validates.
    strict = etree.fromstring(answers["example.org without address"])
    hosts = [h.text for h in strict.iterfind("emailProvider/*/hostname")]
    assert hosts == ["imap.example.org", "smtp.example.org"]


def test_we_emit_no_http_system_and_only_methods_thunderbird_reads() -> None:
    # -06 capitalised Basic/Digest for system="http"; we serve no URL-based server (Thunderbird reads
    # neither <calendar> nor <addressbook> from the XML), so no <authentication> carries a system at
    # all, and every method we can emit is one Thunderbird's parser knows.
    assert set(AUTH_METHODS) <= THUNDERBIRD_AUTH
    for path in SETTINGS_FILES:
        for what, document in documents(load_settings(path)):
            root = etree.fromstring(document)
            assert [a.get("system") for a in root.iter("authentication")] == [None] * len(
                list(root.iter("authentication"))
            ), what
