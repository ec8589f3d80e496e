"""`autoconfig import`: a config-v1.1.xml in, a settings file out.

Every file of Mozilla's ISPDB corpus goes through the real command, is loaded as settings, rendered
again, and must tell Thunderbird what the original told it. EXPECTED_DROPS is the list of what those
files say that the settings cannot, with the reason: the README points here.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from autoconfig.errors import SettingsError
from autoconfig.formats.importer import Imported, ImportFormatError, import_clientconfig
from autoconfig.formats.thunderbird import compile_clientconfig
from autoconfig.settings import Provider, load_settings
from tests.helpers.commands import run_autoconfig
from tests.helpers.paths import CORPUS, ROOT

CORPUS_FILES = sorted(path.name for path in CORPUS.glob("*.xml"))
CORPUS_SIZE = 28
SERVABLE = {"incomingServer": ("imap", "pop3"), "outgoingServer": ("smtp",)}

# --- what the settings cannot express ----------------------------------------------------------------
# Why, in the importer's own words: each reason is part of the note `autoconfig import` prints.
NOT_IMAP_OR_POP3 = "only IMAP and POP3 incoming servers are served (not Exchange, EWS, OWA or Graph)"
OAUTH2_REGISTRATION = "OAuth2 client registrations are not part of the settings"
ENABLE_PAGE = "pages asking people to enable IMAP first are not part of the settings"
WEBMAIL_FORM = "webmail login-form automation is not in the settings (the webmail address is kept)"
POP3_OPTIONS = "POP3 client options (leave on server, check interval) are not part of the settings"
SMTP_RESTRICTION = "client restrictions on outgoing servers are not part of the settings"
SERVER_OPTIONS = "client options on outgoing servers are not part of the settings"
PREFERRED_SERVER = "client options on servers are not part of the settings"
NO_USERNAME = "no username; the provider's login (login.fallback) is sent instead"

# Per corpus file, in the order the importer reports them: (what, why). A file not listed loses nothing.
# Servers listed with NOT_IMAP_OR_POP3 are the only ones the round trip may lose; everything else here
# is client behaviour (OAuth2 registration, POP3 and SMTP options, webmail form filling) that the
# settings leave to each client, or a value the importer had to supply.
EXPECTED_DROPS: dict[str, tuple[tuple[str, str], ...]] = {
    "comcast.net.xml": (("oAuth2", OAUTH2_REGISTRATION),),
    "educa.madrid.org.xml": (("loginPageInfo", WEBMAIL_FORM),),
    "free.fr.xml": (("loginPageInfo", WEBMAIL_FORM),),
    "googlemail.com.xml": (
        ("pop3 in incomingServer type='pop3' pop.gmail.com:995", POP3_OPTIONS),
        ("oAuth2", OAUTH2_REGISTRATION),
        ("enable", ENABLE_PAGE),
        ("loginPageInfo", WEBMAIL_FORM),
    ),
    "hotmail.com.xml": (
        ("pop3 in incomingServer type='pop3' outlook.office365.com:995", POP3_OPTIONS),
        ("loginPageInfo", WEBMAIL_FORM),
    ),
    "inbox.lv.xml": (
        ("pop3 in incomingServer type='pop3' mail.%EMAILDOMAIN%:995", POP3_OPTIONS),
        ("enable", ENABLE_PAGE),
        ("loginPageInfo", WEBMAIL_FORM),
    ),
    # Thunderbird sends no login to this open relay (authentication none); the settings always name one.
    "kokuyou.ne.jp.xml": (("outgoingServer type='smtp' smtp.kokuyou.ne.jp:25", NO_USERNAME),),
    "mx1.tiki.ne.jp.xml": (
        ("addThisServer in outgoingServer type='smtp' smtp-auth.tiki.ne.jp:587", SERVER_OPTIONS),
        ("useGlobalPreferredServer in outgoingServer type='smtp' smtp-auth.tiki.ne.jp:587", PREFERRED_SERVER),
    ),
    "o2.pl.xml": (
        ("restriction in outgoingServer type='smtp' poczta.o2.pl:465", SMTP_RESTRICTION),
        ("restriction in outgoingServer type='smtp' poczta.o2.pl:587", SMTP_RESTRICTION),
    ),
    "office365.com.xml": (
        ("pop3 in incomingServer type='pop3' outlook.office365.com:995", POP3_OPTIONS),
        ("incomingServer type='ews'", NOT_IMAP_OR_POP3),
        ("incomingServer type='owa'", NOT_IMAP_OR_POP3),
        ("incomingServer type='graph'", NOT_IMAP_OR_POP3),
        ("incomingServer type='exchange' outlook.office365.com:443", NOT_IMAP_OR_POP3),
        ("oAuth2", OAUTH2_REGISTRATION),
    ),
    "umich.edu.xml": (("oAuth2", OAUTH2_REGISTRATION),),
    "uol.com.br.xml": (("enable", ENABLE_PAGE),),
    "web.de.xml": (
        ("pop3 in incomingServer type='pop3' pop3.web.de:995", POP3_OPTIONS),
        ("pop3 in incomingServer type='pop3' pop3.web.de:110", POP3_OPTIONS),
        ("enable", ENABLE_PAGE),
    ),
    "yahoo.com.xml": (("oAuth2", OAUTH2_REGISTRATION), ("loginPageInfo", WEBMAIL_FORM)),
    "yandex.ru.xml": (("oAuth2", OAUTH2_REGISTRATION), ("enable", ENABLE_PAGE)),
}


# --- what Thunderbird reads --------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class ServerView:
    tag: str
    type: str
    hostname: str | None
    port: str | None
    socket_type: str | None
    username: str | None
    authentication: tuple[str, ...]

    @property
    def label(self) -> str:
        """How the importer names this server in its notes."""
        label = f"{self.tag} type={self.type!r}"
        if self.hostname:
            label += f" {self.hostname}:{self.port}" if self.port else f" {self.hostname}"
        return label


@dataclass(frozen=True)
class ProviderView:
    id: str | None
    domains: tuple[str, ...]
    display_name: str | None
    display_short_name: str | None
    servers: tuple[ServerView, ...]  # incoming, then outgoing, each in document order
    documentation: tuple[tuple[str | None, tuple[tuple[str | None, str], ...]], ...]
    webmail: str | None


def _text(parent: etree._Element, tag: str) -> str | None:
    """The element's text with its whitespace made single spaces; None if absent or empty."""
    text = " ".join((parent.findtext(tag) or "").split())
    return text or None


def read_view(document: bytes) -> ProviderView:
    root = etree.fromstring(document, _PARSER)
    provider = root.find("emailProvider")
    assert root.tag == "clientConfig"
    assert provider is not None
    servers = [
        ServerView(
            tag=str(element.tag),
            type=element.get("type", ""),
            hostname=_text(element, "hostname"),
            port=_text(element, "port"),
            socket_type=_text(element, "socketType"),
            username=_text(element, "username"),
            authentication=tuple((a.text or "").strip() for a in element.findall("authentication")),
        )
        for tag in ("incomingServer", "outgoingServer")
        for element in provider.findall(tag)
    ]
    documentation = tuple(
        (
            doc.get("url"),
            tuple((d.get("lang"), " ".join((d.text or "").split())) for d in doc.findall("descr")),
        )
        for doc in provider.findall("documentation")
    )
    login_page = root.find("webMail/loginPage")
    return ProviderView(
        id=provider.get("id"),
        domains=tuple((d.text or "").strip() for d in provider.findall("domain")),
        display_name=_text(provider, "displayName"),
        # displayNameShort: a misspelling nili.ca uses; the importer reads it as displayShortName.
        display_short_name=_text(provider, "displayShortName") or _text(provider, "displayNameShort"),
        servers=tuple(servers),
        documentation=documentation,
        webmail=None if login_page is None else login_page.get("url"),
    )


# --- running the command -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_import(path: Path, timeout: float = 60) -> Run:
    """The real command in its own process, as a person runs it (forked from one that has imported the
    command line: tests/helpers/commands.py)."""
    start = time.monotonic()
    done = run_autoconfig("import", str(path), cwd=ROOT, timeout=timeout)
    # The settings file is UTF-8 (load_settings reads nothing else): so must the output be.
    return Run(
        done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8"), time.monotonic() - start
    )


@pytest.fixture(scope="session")
def corpus_runs() -> dict[str, Run]:
    """`autoconfig import` over every corpus file."""
    return {name: run_import(CORPUS / name) for name in CORPUS_FILES}


def notes_of(run: Run, path: Path) -> list[str]:
    """The notes on standard error, every line of which must be one."""
    prefix = f"{path}: left out: "
    lines = run.stderr.splitlines()
    assert all(line.startswith(prefix) for line in lines), run.stderr
    return [line.removeprefix(prefix) for line in lines]


def as_table(notes: Sequence[str], expected: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The notes in the table's shape: where a note matches the entry at its place, that entry; else
    the whole note beside "(not in EXPECTED_DROPS)", so that a comparison shows what differs."""
    shaped = []
    for i, note in enumerate(notes):
        if i < len(expected):
            what, why = expected[i]
            if note.startswith(f"{what}: ") and why in note.removeprefix(f"{what}: "):
                shaped.append((what, why))
                continue
        shaped.append((note, "(not in EXPECTED_DROPS)"))
    return shaped


def header_comments(toml_text: str) -> list[str]:
    lines = toml_text.splitlines()
    return lines[: lines.index("")] if "" in lines else lines


def load_imported(text: str, tmp_path: Path) -> Provider:
    path = tmp_path / "imported.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path)
    assert len(settings.providers) == 1
    return settings.providers[0]


# --- the corpus round trip ---------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    """Fails rather than silently testing nothing when the copied corpus is incomplete."""
    assert len(CORPUS_FILES) == CORPUS_SIZE, f"expected {CORPUS_SIZE} files in {CORPUS}"
    assert set(EXPECTED_DROPS) <= set(CORPUS_FILES)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_import_round_trip(name: str, corpus_runs: dict[str, Run], tmp_path: Path) -> None:
    source = CORPUS / name
    run = corpus_runs[name]
    assert run.returncode == 0, run.stderr
    expected_drops = EXPECTED_DROPS.get(name, ())

    # What was left out is said on standard error, exactly as the table says.
    notes = notes_of(run, source)
    assert as_table(notes, expected_drops) == list(expected_drops)

    # ... and again at the top of the file, which is valid TOML on its own.
    assert header_comments(run.stdout) == [
        f"# Imported from {name} by `autoconfig import`. Review it, then run `autoconfig check`.",
        *(f"# Left out: {note}" for note in notes),
    ]
    data = tomllib.loads(run.stdout)
    assert set(data) == {"service", "providers"}
    # Another process, another hash seed, the same bytes: output is deterministic, and the command
    # writes exactly what the library returns.
    in_process = import_clientconfig(source.read_bytes())
    assert (in_process.to_toml(name), in_process.dropped) == (run.stdout, notes)

    provider = load_imported(run.stdout, tmp_path)
    original = read_view(source.read_bytes())
    rendered = read_view(compile_clientconfig(provider).render_as_set())

    assert rendered.id == original.id
    assert rendered.domains == tuple(dict.fromkeys(d.lower() for d in original.domains))

    # Servers: all of them, in order, but those the table says cannot be served.
    cannot_serve = {what for what, why in expected_drops if why == NOT_IMAP_OR_POP3}
    kept = [s for s in original.servers if s.label not in cannot_serve]
    lost = [s for s in original.servers if s.label in cannot_serve]
    assert {s.label for s in lost} == cannot_serve
    assert all(s.type not in SERVABLE[s.tag] for s in lost)
    # Where the original has no username, the provider's login is sent (and the table says so).
    fallback = provider.login.fallback
    expected_servers = [
        ServerView(s.tag, s.type, s.hostname, s.port, s.socket_type, s.username or fallback, s.authentication)
        for s in kept
    ]
    assert list(rendered.servers) == expected_servers
    without_username = {(s.label, NO_USERNAME) for s in kept if s.username is None}
    assert without_username <= set(expected_drops)

    assert rendered.display_name == original.display_name
    assert rendered.display_short_name == (original.display_short_name or original.display_name)
    # A help page without a title gets its address as title: the settings require one.
    assert rendered.documentation == tuple(
        (url, descr or ((None, url),)) for url, descr in original.documentation
    )
    assert rendered.webmail == original.webmail


# --- documents made for the purpose ------------------------------------------------------------------


def server(
    tag: str = "incomingServer",
    kind: str = "imap",
    *,
    host: str = "imap.example.org",
    port: str = "993",
    socket: str = "SSL",
    username: str | None = "%EMAILADDRESS%",
    auth: Sequence[str] = ("password-cleartext",),
) -> str:
    user = "" if username is None else f"<username>{username}</username>"
    methods = "".join(f"<authentication>{method}</authentication>" for method in auth)
    return (
        f'<{tag} type="{kind}"><hostname>{host}</hostname><port>{port}</port>'
        f"<socketType>{socket}</socketType>{user}{methods}</{tag}>"
    )


IMAP = server()
SMTP = server("outgoingServer", "smtp", host="smtp.example.org", port="465")


def config(
    servers: str = IMAP + SMTP,
    domains: Sequence[str] = ("example.org",),
    prolog: str = "",
    name: str = "Example",
) -> bytes:
    domain_elements = "".join(f"<domain>{domain}</domain>" for domain in domains)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
        f'<clientConfig version="1.1"><emailProvider id="example.org">{domain_elements}'
        f"<displayName>{name}</displayName>{servers}</emailProvider></clientConfig>"
    ).encode()


def import_and_load(document: bytes, tmp_path: Path) -> tuple[Imported, Provider, ProviderView]:
    imported = import_clientconfig(document)
    provider = load_imported(imported.to_toml("test.xml"), tmp_path)
    return imported, provider, read_view(compile_clientconfig(provider).render_as_set())


def test_plain_document_imports_without_notes(tmp_path: Path) -> None:
    imported, provider, view = import_and_load(config(), tmp_path)
    assert imported.dropped == []
    assert provider.domains == ("example.org",)
    assert [(s.type, s.hostname, s.port, s.socket_type, s.username) for s in view.servers] == [
        ("imap", "imap.example.org", "993", "SSL", "%EMAILADDRESS%"),
        ("smtp", "smtp.example.org", "465", "SSL", "%EMAILADDRESS%"),
    ]


def test_misspelt_placeholder_is_repaired_and_reported(tmp_path: Path) -> None:
    document = config(
        server(username="%EMAILADDRESS")
        + server("outgoingServer", "smtp", host="smtp.example.org", port="465", username="%EMAILLOCALPART")
    )
    imported, _, view = import_and_load(document, tmp_path)
    assert [s.username for s in view.servers] == ["%EMAILADDRESS%", "%EMAILLOCALPART%"]
    assert imported.dropped == [
        "incomingServer type='imap' imap.example.org:993 username '%EMAILADDRESS': "
        "a misspelt placeholder; wrote '%EMAILADDRESS%'",
        "outgoingServer type='smtp' smtp.example.org:465 username '%EMAILLOCALPART': "
        "a misspelt placeholder; wrote '%EMAILLOCALPART%'",
    ]


def test_duplicate_domains_are_kept_once(tmp_path: Path) -> None:
    document = config(domains=("example.org", "EXAMPLE.org", "example.net", "example.net."))
    imported, provider, view = import_and_load(document, tmp_path)
    assert provider.domains == ("example.org", "example.net")
    assert view.domains == ("example.org", "example.net")
    assert imported.dropped == [
        "domain 'EXAMPLE.org': listed twice; kept once",
        "domain 'example.net.': listed twice; kept once",
    ]


def test_server_without_username_gets_the_providers_login(tmp_path: Path) -> None:
    """Thunderbird would log in as "undefined": the provider's usual login is what was meant."""
    document = config(
        server(username=None)
        + server(
            "outgoingServer",
            "smtp",
            host="smtp.example.org",
            port="465",
            socket="SSL",
            username="%EMAILLOCALPART%",
        )
    )
    imported, provider, view = import_and_load(document, tmp_path)
    assert provider.login.fallback == "%EMAILLOCALPART%"
    assert [s.username for s in view.servers] == ["%EMAILLOCALPART%", "%EMAILLOCALPART%"]
    assert imported.dropped == [f"incomingServer type='imap' imap.example.org:993: {NO_USERNAME}"]


def test_no_username_anywhere_falls_back_to_the_address(tmp_path: Path) -> None:
    document = config(
        server(username=None)
        + server("outgoingServer", "smtp", host="smtp.example.org", port="465", username=None)
    )
    imported, provider, view = import_and_load(document, tmp_path)
    assert provider.login.fallback == "%EMAILADDRESS%"
    assert [s.username for s in view.servers] == ["%EMAILADDRESS%", "%EMAILADDRESS%"]
    assert len(imported.dropped) == 2
    assert all(note.endswith(NO_USERNAME) for note in imported.dropped)


def test_old_authentication_names_are_translated(tmp_path: Path) -> None:
    """Thunderbird still reads plain, secure and smtp-after-pop; the settings use today's names."""
    document = config(
        server(auth=("secure", "plain"))
        + server(
            "outgoingServer",
            "smtp",
            host="smtp.example.org",
            port="25",
            socket="plain",
            auth=("smtp-after-pop",),
        )
    )
    imported, _, view = import_and_load(document, tmp_path)
    assert [s.authentication for s in view.servers] == [
        ("password-encrypted", "password-cleartext"),
        ("client-IP-address",),
    ]
    assert [note.split(": ", 1)[1] for note in imported.dropped] == [
        "an old name Thunderbird still reads; wrote 'password-encrypted'",
        "an old name Thunderbird still reads; wrote 'password-cleartext'",
        "an old name Thunderbird still reads; wrote 'client-IP-address'",
    ]


def test_unknown_authentication_is_reported(tmp_path: Path) -> None:
    document = config(
        server(auth=("kerberos-ish", "OAuth2"))
        + server("outgoingServer", "smtp", host="smtp.example.org", port="465", auth=("magic",))
    )
    imported, _, view = import_and_load(document, tmp_path)
    assert [s.authentication for s in view.servers] == [("OAuth2",), ("password-cleartext",)]
    assert imported.dropped == [
        "incomingServer type='imap' imap.example.org:993 authentication 'kerberos-ish': "
        "not a method Thunderbird reads",
        "outgoingServer type='smtp' smtp.example.org:465 authentication 'magic': "
        "not a method Thunderbird reads",
        "outgoingServer type='smtp' smtp.example.org:465: no authentication Thunderbird reads "
        "(it would skip this server); wrote password-cleartext: check it",
    ]


@pytest.mark.parametrize(
    ("port", "socket"),
    [("²", "SSL"), ("abc", "SSL"), ("0", "SSL"), ("70000", "SSL"), ("", "SSL"), ("993", "TLS")],
)
def test_unusable_server_is_left_out(port: str, socket: str, tmp_path: Path) -> None:
    """Thunderbird skips a server it cannot read; so does the import, and says so."""
    document = config(
        server(port=port, socket=socket) + server(kind="pop3", host="pop.example.org", port="995") + SMTP
    )
    imported, _, view = import_and_load(document, tmp_path)
    assert [(s.type, s.hostname) for s in view.servers] == [
        ("pop3", "pop.example.org"),
        ("smtp", "smtp.example.org"),
    ]
    assert len(imported.dropped) == 1
    assert imported.dropped[0].startswith("incomingServer type='imap' imap.example.org")
    assert "no usable hostname, port (1 to 65535) and socketType" in imported.dropped[0]


def test_first_known_socket_type_wins(tmp_path: Path) -> None:
    """As in Thunderbird's readFromXML: socketType values it does not know are skipped."""
    document = config(server(socket="TLS</socketType><socketType>SSL") + SMTP)
    _, provider, view = import_and_load(document, tmp_path)
    assert provider.incoming[0].security == "tls"
    assert view.servers[0].socket_type == "SSL"


def test_only_unservable_servers_says_why_the_result_does_not_load(tmp_path: Path) -> None:
    """An import either loads, or its notes say what to edit first."""
    document = config(server(kind="exchange", host="mail.example.org", port="443") + SMTP)
    imported = import_clientconfig(document)
    assert imported.dropped[0] == f"incomingServer type='exchange' mail.example.org:443: {NOT_IMAP_OR_POP3}"
    assert imported.dropped[1].startswith("the result's providers[0].incoming: this list is empty")
    path = tmp_path / "imported.toml"
    path.write_text(imported.to_toml("test.xml"), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"providers\[0\]\.incoming"):
        load_settings(path)


def test_port_contradicting_security_is_reported() -> None:
    document = config(
        IMAP + server("outgoingServer", "smtp", host="smtp.example.org", port="465", socket="STARTTLS")
    )
    notes = import_clientconfig(document).dropped
    assert len(notes) == 1
    assert notes[0].startswith(
        "the result's providers[0].outgoing[0].security: port 465 is SMTP submission over implicit TLS"
    )


def test_names_and_documentation_survive(tmp_path: Path) -> None:
    document = config(
        IMAP
        + SMTP
        + "<displayShortName>Ex</displayShortName>"
        + '<documentation url="https://help.example.org/mail"><descr lang="fr">Aide</descr>'
        + '<descr lang="en">Help</descr></documentation>',
        name="Example\n   Mail",
    )
    document = document.replace(
        b"</clientConfig>",
        b'<webMail><loginPage url="https://webmail.example.org/"/></webMail></clientConfig>',
    )
    imported, provider, view = import_and_load(document, tmp_path)
    assert imported.dropped == []
    assert (provider.name, provider.short_name) == ("Example Mail", "Ex")
    assert (view.display_name, view.display_short_name) == ("Example Mail", "Ex")
    assert view.documentation == (("https://help.example.org/mail", (("fr", "Aide"), ("en", "Help"))),)
    assert view.webmail == "https://webmail.example.org/"


def test_notes_cannot_break_the_toml_or_the_terminal() -> None:
    """Values from the file appear in notes: a line break there must not start a TOML line."""
    host = "imap.example.org&#10;[evil]&#13;x = 1&#9;"
    document = config(server(host=host, username=None) + SMTP)
    imported = import_clientconfig(document)
    text = imported.to_toml("odd\nname.xml")
    assert imported.dropped
    assert all("\n" not in note and "\r" not in note and "\t" not in note for note in imported.dropped)
    assert any("imap.example.org\\n[evil]\\rx = 1" in note for note in imported.dropped)
    comments = header_comments(text)
    assert len(comments) == 1 + len(imported.dropped)
    assert all(line.startswith("# ") for line in comments)
    assert comments[0].startswith("# Imported from odd\\nname.xml ")
    assert set(tomllib.loads(text)) == {"service", "providers"}


# --- documents that are not config-v1.1.xml, or hostile ----------------------------------------------

MALFORMED = {
    "empty": b"",
    "truncated": b'<?xml version="1.0"?>\n<clientConfig version="1.1"><emailProvider id="x.org">',
    "mismatched": b"<clientConfig><emailProvider></clientConfig></emailProvider>",
    "undefined entity": b"<clientConfig><emailProvider>&nbsp;</emailProvider></clientConfig>",
    "binary": bytes(range(256)),
}


def assert_refused(run: Run, path: Path, message: str) -> None:
    """Exit status 1, nothing on standard output, one plain line on standard error."""
    assert run.returncode == 1, run
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"{path}: ")
    assert message in run.stderr


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_xml_is_refused(kind: str) -> None:
    with pytest.raises(ImportFormatError, match=r"^not well-formed XML: ") as caught:
        import_clientconfig(MALFORMED[kind])
    assert "\n" not in str(caught.value)


def test_malformed_xml_exits_1_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(MALFORMED["truncated"])
    assert_refused(run_import(path), path, "not well-formed XML")


@pytest.mark.parametrize(
    "document",
    [
        b"<html><body>config</body></html>",
        b'<clientConfig version="1.1"/>',
        b'<emailProvider id="example.org"><domain>example.org</domain></emailProvider>',
        b'<c:clientConfig xmlns:c="urn:x"><c:emailProvider id="example.org"/></c:clientConfig>',
    ],
)
def test_not_a_clientconfig_is_refused(document: bytes) -> None:
    with pytest.raises(ImportFormatError, match=r"not a config-v1\.1\.xml document"):
        import_clientconfig(document)


def test_not_a_clientconfig_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "autodiscover.xml"
    path.write_bytes(
        b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"/>'
    )
    assert_refused(run_import(path), path, "not a config-v1.1.xml document")


def test_missing_file_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.xml"
    assert_refused(run_import(path), path, "cannot read the file")


MARKER = "private-marker-4d1f"
BILLION_LAUGHS = (
    '<!DOCTYPE clientConfig [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]>\n"
)


def hostile_documents(secret_file: Path) -> dict[str, bytes]:
    """Documents whose DTD would read a file, fetch a URL, or expand without end."""
    url = secret_file.as_uri()
    return {
        "external entity": config(
            prolog=f'<!DOCTYPE clientConfig [<!ENTITY x SYSTEM "{url}">]>\n', name="&x;"
        ),
        "system file": config(
            prolog='<!DOCTYPE clientConfig [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n',
            servers=server(username="&x;") + SMTP,
        ),
        "parameter entity": config(prolog=f'<!DOCTYPE clientConfig [<!ENTITY % x SYSTEM "{url}"> %x;]>\n'),
        "internal entity": config(prolog='<!DOCTYPE clientConfig [<!ENTITY x "Injected">]>\n', name="&x;"),
        "external DTD": config(prolog='<!DOCTYPE clientConfig SYSTEM "http://127.0.0.1:9/config.dtd">\n'),
        "billion laughs": config(prolog=BILLION_LAUGHS, name="&lol9;"),
        "billion laughs, unused": config(prolog=BILLION_LAUGHS),
    }


HOSTILE = list(hostile_documents(Path("/unused")))


@pytest.mark.parametrize("kind", HOSTILE)
def test_dtd_is_refused_without_expanding_anything(kind: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(MARKER, encoding="utf-8")
    document = hostile_documents(secret_file)[kind]
    start = time.monotonic()
    with pytest.raises(ImportFormatError) as caught:
        import_clientconfig(document)
    assert time.monotonic() - start < 1
    message = str(caught.value)
    assert MARKER not in message
    assert "root:" not in message
    assert "Injected" not in message
    assert "lollol" not in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["system file", "billion laughs"])
def test_dtd_is_refused_by_the_command(kind: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(MARKER, encoding="utf-8")
    path = tmp_path / "hostile.xml"
    path.write_bytes(hostile_documents(secret_file)[kind])
    run = run_import(path)
    assert_refused(run, path, "")
    assert "DTD" in run.stderr or "entity" in run.stderr.lower()
    assert MARKER not in run.stderr
    assert "root:" not in run.stderr
    assert run.seconds < 10
