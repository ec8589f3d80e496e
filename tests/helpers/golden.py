"""What the service says, recorded: every endpoint's answer and every command's output, for the bundled
profiles and a settings file that uses what they do not (tests/data/golden/rich.toml).

The recording goes through a real `autoconfig serve` and real `autoconfig` commands (each its own process,
forked from one that has imported the command line: tests/helpers/commands.py), never through the
package's modules, so that it measures behaviour whatever the code's layout. Signed profiles are
verified with `openssl cms -verify` against the development certificate and recorded by their signed
content (a signature differs at every signing).

    .venv/bin/python -m tests.helpers.golden --update     # after a change that is meant to change an answer

`tests/test_golden.py` compares a fresh recording with tests/data/golden/*.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

from tests.helpers.commands import run_autoconfig
from tests.helpers.live import Server, serving
from tests.helpers.paths import CORPUS, DATA, ROOT

GOLDEN = DATA / "golden"
PROFILES = ROOT / "profiles"
SETTINGS = {
    "ac-paris": None,  # the bundled default: no --settings
    "ile-de-france": PROFILES / "ile-de-france.toml",
    "rich": GOLDEN / "rich.toml",
}
DOMAINS = {
    "ac-paris": ("ac-paris.fr",),
    "ile-de-france": ("ac-paris.fr", "ac-creteil.fr", "ac-versailles.fr"),
    "rich": ("example.org", "exämple.org", "example.com"),
}
# Text answers up to this size are kept whole (a failure then shows the difference); larger ones by digest.
KEPT_WHOLE = 4096
HEADERS = (
    "content-type",
    "cache-control",
    "content-disposition",
    "location",
    "vary",
    "allow",
    "retry-after",
    "x-content-type-options",
    "referrer-policy",
    "content-security-policy",
    "x-frame-options",
    "permissions-policy",
)
DEVICES = ("ios", "android", "macos", "thunderbird", "outlook", "other")
USER_AGENTS = {
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile",
    "windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "linux": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "none": "",
}
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"


def addresses(domain: str) -> list[str]:
    """At least twenty addresses at a provider's domain and elsewhere: names, homonyms, accents, case,
    service mailboxes, characters that are markup elsewhere, and hostile or malformed ones."""
    return [
        f"jean.dupont@{domain}",
        f"jean-pierre.dupont2@{domain}",
        f"Jean.Dupont@{domain.upper()}",
        f"élodie.mérand@{domain}",
        f"jean.de.la.fontaine@{domain}",
        f"marie.martin-durand@{domain}",
        f"ce.0751234a@{domain}",
        f"pierre.d'alembert@{domain}",
        f"o'neil.smith@{domain}",
        f"jean&co@{domain}",
        f"zoe.legrand@{domain}",
        f"boss@{domain}",
        f"jean.dupont@{domain}.",
        "jean.dupont@example.net",
        "jean.dupont@unknown.example",
        "jean@exämple.fr",
        f"<script>alert(1)</script>@{domain}",
        f"jean\r\nSet-Cookie: x=1@{domain}",
        f"jean..dupont@{domain}",
        f"{'x' * 70}@{domain}",
        f"a@b@{domain}",
        "no-at-sign",
        "",
        f" jean.dupont@{domain} ",
    ]


def pox_body(address: str, schema: str = OUTLOOK_SCHEMA) -> bytes:
    escaped = address.replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{escaped}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def http_cases(domain: str, *others: str) -> Iterator[Case]:
    """The requests asked of every settings file; `domain` is its first provider's first domain,
    `others` the other domains it serves (asked for fewer addresses)."""
    host = {"Host": f"autoconfig.{domain}"}
    for path in ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"):
        for hosted in (f"autoconfig.{domain}", f"autodiscover.{domain}:8443", domain, "unknown.example", ""):
            yield Case(f"GET {path} Host={hosted}", "GET", path, {"Host": hosted})
    asked = addresses(domain) + [a for other in others for a in addresses(other)[:6]]
    for address in asked:
        query = quote(address, safe="@")
        yield Case(f"clientconfig {address!r}", "GET", f"/mail/config-v1.1.xml?emailaddress={query}", host)
        yield Case(
            f"json {address!r}",
            "GET",
            f"/autodiscover/autodiscover.json?Email={query}&Protocol=AutodiscoverV1",
        )
        yield Case(
            f"json path {address!r}",
            "GET",
            f"/autodiscover/autodiscover.json/v1.0/{quote(address, safe='@')}?Protocol=AutodiscoverV1",
        )
        yield Case(
            f"pox {address!r}",
            "POST",
            "/autodiscover/autodiscover.xml",
            {"Content-Type": "text/xml"},
            pox_body(address),
        )
        yield Case(f"profile fr {address!r}", "GET", f"/profile.mobileconfig?email={query}&lang=fr", host)
        yield Case(f"guide android {address!r}", "GET", f"/guide/android?email={query}&lang=fr", host)
    jean = f"jean.dupont@{domain}"
    query = quote(jean, safe="@")
    yield Case("clientconfig EmailAddress casing", "GET", f"/mail/config-v1.1.xml?EmailAddress={query}", host)
    for path in (
        "/autodiscover/autodiscover.xml",
        "/Autodiscover/Autodiscover.xml",
        "/AUTODISCOVER/AUTODISCOVER.XML",
    ):
        yield Case(f"pox {path}", "POST", path, {"Content-Type": "text/xml"}, pox_body(jean))
    yield Case("pox GET", "GET", "/autodiscover/autodiscover.xml")
    yield Case(
        "pox mobilesync", "POST", "/autodiscover/autodiscover.xml", {}, pox_body(jean, MOBILESYNC_SCHEMA)
    )
    yield Case("pox malformed", "POST", "/autodiscover/autodiscover.xml", {}, b"<Autodiscover><Request>")
    yield Case(
        "pox dtd",
        "POST",
        "/autodiscover/autodiscover.xml",
        {},
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Autodiscover>&e;</Autodiscover>',
    )
    yield Case("pox too large", "POST", "/autodiscover/autodiscover.xml", {}, b"<a>" + b"x" * 9000 + b"</a>")
    yield Case(
        "pox no address",
        "POST",
        "/autodiscover/autodiscover.xml",
        {},
        b"<Autodiscover><Request><LegacyDN>/o=x</LegacyDN></Request></Autodiscover>",
    )
    for protocol in ("ActiveSync", "autodiscoverv1", ""):
        yield Case(
            f"json protocol {protocol}",
            "GET",
            f"/Autodiscover/Autodiscover.json?Email={query}&Protocol={protocol}",
        )
    yield Case("profile en", "GET", f"/profile.mobileconfig?email={query}&lang=en", host)
    yield Case(
        "profile emailaddress",
        "GET",
        f"/profile.mobileconfig?emailaddress={query}",
        {**host, "Accept-Language": "en-GB,en;q=0.8"},
    )
    yield Case("profile none", "GET", "/profile.mobileconfig", host)
    for language in ("fr", "en"):
        yield Case(f"landing {language}", "GET", f"/?lang={language}", host)
        for device in DEVICES:
            yield Case(
                f"guide {device} {language}", "GET", f"/guide/{device}?email={query}&lang={language}", host
            )
        for agent, value in USER_AGENTS.items():
            yield Case(
                f"guide by {agent} {language}",
                "GET",
                f"/guide?email={query}&lang={language}",
                {**host, "User-Agent": value},
            )
    yield Case("landing Accept-Language en", "GET", "/", {**host, "Accept-Language": "en-US,en;q=0.9"})
    yield Case("landing unknown host", "GET", "/", {"Host": "unknown.example"})
    yield Case("guide no device", "GET", f"/guide/windows-phone?email={query}", host)
    yield Case("guide no address", "GET", "/guide/android", host)
    yield Case("static css", "GET", "/static/style.css")
    yield Case("static traversal", "GET", "/static/%2e%2e/%2e%2e/pyproject.toml")
    for kind in ("caldav", "carddav"):
        for hosted in (f"autoconfig.{domain}", domain, "unknown.example"):
            yield Case(f"{kind} GET Host={hosted}", "GET", f"/.well-known/{kind}", {"Host": hosted})
        yield Case(f"{kind} PROPFIND", "PROPFIND", f"/.well-known/{kind}", {"Host": domain})
    yield Case("PUT clientconfig", "PUT", "/mail/config-v1.1.xml", host)
    yield Case("not found", "GET", "/nothing-here", host)
    yield Case("HEAD clientconfig", "HEAD", f"/mail/config-v1.1.xml?emailaddress={query}", host)


def body_record(content: bytes, content_type: str) -> Any:
    textual = content_type.startswith(("text/", "application/xml", "application/json"))
    if textual and len(content) <= KEPT_WHOLE:
        return content.decode("utf-8")
    return {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def verified_content(signed: bytes, certificate: Path, folder: Path) -> bytes:
    """The content of a signed profile, once `openssl cms -verify` accepts its signature."""
    path = folder / "profile.der"
    path.write_bytes(signed)
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(path),
            "-CAfile",
            str(certificate),
            "-purpose",
            "any",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"the profile's signature does not verify: {result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def answer_record(response: httpx2.Response, state: Path, folder: Path) -> dict[str, Any]:
    headers = {name: response.headers[name] for name in HEADERS if name in response.headers}
    if "allow" in headers:  # Starlette lists the methods of a set, in no fixed order
        headers["allow"] = ", ".join(sorted(headers["allow"].split(", ")))
    record: dict[str, Any] = {"status": response.status_code, "headers": headers}
    content_type = headers.get("content-type", "")
    content = response.content
    if content_type == "application/x-apple-aspen-config" and not content.startswith(b"<?xml"):
        record["signed_by"] = "development certificate"
        content = verified_content(content, state / "dev-signing" / "certificate.pem", folder)
        content_type = "application/xml"
    record["body"] = body_record(content, content_type)
    return record


def masked_health(document: dict[str, Any]) -> dict[str, Any]:
    """/healthz with what changes from run to run (when, where, how long until expiry, counts) masked."""
    document["settings"]["file"] = document["settings"]["file"].replace(str(ROOT), "<root>")
    document["settings"]["loaded"] = "<time>"
    if document.get("signing"):
        document["signing"]["not_after"] = "<time>"
        document["signing"]["days_left"] = "<days>"
    document["version"] = "<version>"
    # What each worker has kept so far depends on which worker answered which case: not recorded (the
    # caches' report is tested in tests/web/test_health.py).
    document.pop("caches", None)
    if document.get("clients") is not None:
        # Counted by each worker and shared within two seconds: which counts a read sees is timing.
        document["clients"] = "<counts>"
    return document


def record_server(server: Server, domains: tuple[str, ...], state: Path, folder: Path) -> dict[str, Any]:
    records: dict[str, Any] = {}
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        for case in http_cases(*domains):
            request = client.build_request(
                case.method, case.path, headers=case.headers, content=case.body or None
            )
            if "Host" in case.headers and not case.headers["Host"]:
                request.headers["Host"] = ""
            records[case.name] = answer_record(client.send(request), state, folder)
        health = client.get("/healthz")
        records["healthz"] = {"status": health.status_code, "body": masked_health(health.json())}
        metrics = client.get("/metrics").text
        records["metrics families"] = sorted(set(re.findall(r"^# TYPE (\S+)", metrics, flags=re.M)))
    return records


def run_command(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_autoconfig(*args, cwd=cwd, env=env, timeout=60)

    def placed(output: bytes) -> str:
        # Where the checkout and the temporary folder are differs from one machine to the next.
        return output.decode("utf-8", "replace").replace(str(cwd), "<cwd>").replace(str(ROOT), "<root>")

    return {"exit": result.returncode, "stdout": placed(result.stdout), "stderr": placed(result.stderr)}


BROKEN = """\
[service]
public_url = "https://autoconfig.example.org/?x=1"
languages = ["fr", "de"]
log_addresses = "everything"

[[providers]]
id = "example.org"
domains = ["example.org", "example.org", "not a domain"]
login = { pattern = '(unclosed', template = "{first}", overrides = "missing.csv" }

[[providers.incoming]]
hots = "imap.example.org"
host = "imap.example.org"
port = 99999
security = "starttls"

[[providers.incoming]]
host = "imap.example.org"
port = 993
security = "starttls"

[providers.outgoing]
host = "smtp.example.org"
security = "tls"

[providers.directory]
host = "ldap.example.org"
base_dn = "not a dn"
lookup = { url = "http://ldap", bind_dn = "cn=x", filter = "(uid={user})" }
"""


def record_commands(folder: Path) -> dict[str, Any]:
    records: dict[str, Any] = {}
    broken = folder / "broken.toml"
    broken.write_text(BROKEN, encoding="utf-8")
    records["--help"] = run_command("--help")
    for command in ("serve", "check", "import", "dns", "render", "healthcheck"):
        records[f"{command} --help"] = run_command(command, "--help")
    for name, path in SETTINGS.items():
        given = ["--settings", str(path)] if path is not None else []
        records[f"check {name}"] = run_command("check", *given, cwd=folder)
        records[f"dns {name}"] = run_command("dns", *given)
        records[f"dns json {name}"] = run_command("dns", *given, "--format", "json")
        out = folder / f"render-{name}"
        records[f"render {name}"] = run_command("render", *given, "--out", str(out), cwd=folder)
        records[f"render files {name}"] = {
            str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.rglob("*"))
            if path.is_file()
        }
    records["check broken"] = run_command("check", "--settings", "broken.toml", cwd=folder)
    records["check missing file"] = run_command("check", "--settings", "absent.toml", cwd=folder)
    records["serve broken"] = run_command("serve", "--settings", "broken.toml", "--port", "1", cwd=folder)
    records["dns broken"] = run_command("dns", "--settings", "broken.toml", cwd=folder)
    for xml in sorted(CORPUS.glob("*.xml")):
        records[f"import {xml.name}"] = run_command("import", str(xml))
    records["import missing"] = run_command("import", "absent.xml", cwd=folder)
    records["import not xml"] = run_command("import", str(broken), cwd=folder)
    return records


def record_all() -> dict[str, dict[str, Any]]:
    """A fresh recording: {"ac-paris": {...}, "ile-de-france": {...}, "rich": {...}, "commands": {...}}."""
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="golden-") as temporary, ExitStack() as stack:
        root = Path(temporary)
        state = root / "state"
        env = {"AUTOCONFIG_STATE_DIR": str(state)}
        previous = os.environ.get("AUTOCONFIG_STATE_DIR")
        os.environ["AUTOCONFIG_STATE_DIR"] = str(state)
        try:
            for name, path in SETTINGS.items():
                server = stack.enter_context(serving(root / name, settings=path, env=env))
                out[name] = record_server(server, DOMAINS[name], state, root)
            out["commands"] = record_commands(root)
        finally:
            if previous is None:
                os.environ.pop("AUTOCONFIG_STATE_DIR", None)
            else:
                os.environ["AUTOCONFIG_STATE_DIR"] = previous
    return out


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.json"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--update", action="store_true", help="write the recording to tests/data/golden/")
    options = parser.parse_args()
    recorded = record_all()
    for name, records in recorded.items():
        text = json.dumps(records, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        if options.update:
            golden_path(name).write_text(text, encoding="utf-8")
        print(f"{name}: {len(records)} cases" + (f" -> {golden_path(name)}" if options.update else ""))


if __name__ == "__main__":
    main()
