"""The HTTP contract of the Thunderbird routes, through the ASGI application."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from autoconfig.accounts import resolve_account
from autoconfig.formats.thunderbird import build_clientconfig
from autoconfig.paths import profiles_dir
from autoconfig.settings import Provider, Settings, load_settings
from autoconfig.web.app import create_app
from tests.helpers.http import cache_directives, check_plain_sentence, check_xml_answer
from tests.helpers.thunderbird import ServerView, paris_view, read_config

PATHS = ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]
CONFIG = PATHS[0]
JEAN = "jean.dupont@ac-paris.fr"


# --- answers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("key", ["emailaddress", "emailAddress", "EmailAddress", "EMAILADDRESS"])
def test_address_in_the_query_gets_its_own_document(
    client: TestClient, settings: Settings, paris: Provider, path: str, key: str
) -> None:
    response = client.get(path, params={key: JEAN})
    check_xml_answer(response, personal=True)
    assert read_config(response.content) == paris_view("jdupont")
    assert response.content == build_clientconfig(paris, resolve_account(settings, JEAN))


def test_percent_encoded_address_as_thunderbird_sends_it(client: TestClient) -> None:
    response = client.get(f"{CONFIG}?emailaddress=jean.dupont%40ac-paris.fr")
    check_xml_answer(response, personal=True)
    view = read_config(response.content)
    assert view.incoming == (
        ServerView("imap", "imap.ac-paris.fr", 143, "STARTTLS", "jdupont", ("password-cleartext",)),
    )
    assert view.outgoing == (
        ServerView("smtp", "smtp.ac-paris.fr", 587, "STARTTLS", "jdupont", ("password-cleartext",)),
    )


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "host",
    [
        "autoconfig.ac-paris.fr",
        "ac-paris.fr",
        "autoconfig.ac-paris.fr:443",
        "ac-paris.fr:8080",
        "AutoConfig.AC-Paris.FR",
        "autoconfig.ac-paris.fr.",
        "autodiscover.ac-paris.fr",
    ],
)
def test_without_an_address_the_host_names_the_domain(
    client: TestClient, paris: Provider, path: str, host: str
) -> None:
    response = client.get(path, headers={"Host": host})
    check_xml_answer(response, personal=False)
    assert read_config(response.content) == paris_view("%EMAILLOCALPART%")
    assert response.content == build_clientconfig(paris)


@pytest.mark.parametrize(
    "host",
    [
        "testserver",
        "example.org",
        "autoconfig.example.org",
        "mail.ac-paris.fr",
        "ac-paris.fr.evil.example",
        "autoconfig.autoconfig.ac-paris.fr",
        "127.0.0.1",
        "127.0.0.1:8080",
        "[::1]:8080",
        "",
        "ac-paris.fr:8080:1",
        "ac-paris .fr",
    ],
)
def test_without_an_address_an_unknown_host_is_404(client: TestClient, host: str) -> None:
    response = client.get(CONFIG, headers={"Host": host})
    text = check_plain_sentence(response, 404)
    assert text == "This service does not configure mail for that domain.\n"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "address",
    ["jean.dupont@example.org", "jean.dupont@ac-creteil.fr", "x@paris.fr", "x@ac-paris.fr.evil.example"],
)
def test_unknown_domain_in_the_address_is_404(client: TestClient, path: str, address: str) -> None:
    text = check_plain_sentence(client.get(path, params={"emailaddress": address}), 404)
    assert text == "This service does not configure mail for that domain.\n"


def test_the_address_wins_over_the_host(client: TestClient) -> None:
    # A known Host does not rescue an unknown address; an unknown Host does not hide a known address.
    response = client.get(CONFIG, params={"emailaddress": "x@example.org"}, headers={"Host": "ac-paris.fr"})
    check_plain_sentence(response, 404)
    response = client.get(CONFIG, params={"emailaddress": JEAN}, headers={"Host": "example.org"})
    check_xml_answer(response, personal=True)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "jean.dupont",
        "@ac-paris.fr",
        "jean.dupont@",
        "jean..dupont@ac-paris.fr",
        ".jean@ac-paris.fr",
        "jean dupont@ac-paris.fr",
        "<script>alert(1)</script>@ac-paris.fr",
        'jean"dupont@ac-paris.fr',
        "jean.dupont@ac-paris.fr>",
        "jean.dupont@ac_paris.fr",
        "jean.dupont@localhost",
        "jean.dupont@127.0.0.1",
        "jean\x00dupont@ac-paris.fr",
        "jean\tdupont@ac-paris.fr",
        "jean\r\nX-Injected: yes@ac-paris.fr",
        "jean.dupont@ac-paris.fr\r\nSet-Cookie: a=b",
        "\u202erf.sirap-ca@tnopud.naej",
        "jean\u202e.dupont@ac-paris.fr",
        "jean\u200b.dupont@ac-paris.fr",
        "a" * 65 + "@ac-paris.fr",
        "a" * 1000,
        "a" * 1000 + "@ac-paris.fr",
        "a@" + "b" * 1000 + ".fr",
        "a" * 10_000 + "@ac-paris.fr",
    ],
)
def test_malformed_address_is_400_with_one_plain_sentence(client: TestClient, address: str) -> None:
    response = client.get(CONFIG, params={"emailaddress": address})
    text = check_plain_sentence(response, 400)
    assert not address or address[:8] not in text  # the address is not echoed back
    assert "x-injected" not in response.headers
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "query",
    [
        "emailaddress=jean%0d%0aX-Injected:%20yes@ac-paris.fr",
        "emailaddress=jean.dupont@ac-paris.fr%0d%0aX-Injected:%20yes",
        "emailaddress=jean.dupont%0aX-Injected:yes%40ac-paris.fr",
        "emailaddress=%E2%80%AEjean@ac-paris.fr",
        "emailaddress=jean%00@ac-paris.fr",
        "emailaddress=%ff%fe@ac-paris.fr",
        "emailaddress=jean@ac-paris.fr%ff",
    ],
)
def test_encoded_injection_attempts_are_400(client: TestClient, query: str) -> None:
    response = client.get(f"{CONFIG}?{query}")
    check_plain_sentence(response, 400)
    assert "x-injected" not in response.headers
    assert not any("\r" in value or "\n" in value for value in response.headers.values())


@pytest.mark.parametrize(
    ("address", "username"),
    [
        ("nobody.exists.here@ac-paris.fr", "nexistshere"),
        ("x@ac-paris.fr", "x"),
        ("ce.0751234a@ac-paris.fr", "ce.0751234a"),
        ("Jean.Dupont@AC-PARIS.FR", "jdupont"),
        ("o'neil&co@ac-paris.fr", "o'neil&co"),
        ("a&lt@ac-paris.fr", "a&lt"),
        ("{}|~^`#$%*+/=?!@ac-paris.fr", "{}|~^`#$%*+/=?!"),
        ("%EMAILDOMAIN%@ac-paris.fr", "%EMAILDOMAIN%"),
        ("a" * 64 + "@ac-paris.fr", "a" * 64),
    ],
)
def test_any_local_part_at_a_known_domain_answers(client: TestClient, address: str, username: str) -> None:
    response = client.get(CONFIG, params={"emailaddress": address})
    check_xml_answer(response, personal=True)
    assert read_config(response.content) == paris_view(username)
    if "&" in username:
        assert username.replace("&", "&amp;").encode() in response.content


def test_existing_and_invented_mailboxes_answer_alike(client: TestClient) -> None:
    real = client.get(CONFIG, params={"emailaddress": JEAN})
    invented = client.get(CONFIG, params={"emailaddress": "zq.xwv@ac-paris.fr"})
    assert real.status_code == invented.status_code == 200
    assert dict(real.headers) == {**dict(invented.headers), "content-length": real.headers["content-length"]}
    assert real.content.replace(b"jdupont", b"zxwv") == invented.content


# --- methods and headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(client: TestClient, path: str, method: str) -> None:
    response = client.request(method, path, params={"emailaddress": JEAN})
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"<clientConfig" not in response.content


@pytest.mark.parametrize("path", PATHS)
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    get = client.get(path, params={"emailaddress": JEAN})
    head = client.head(path, params={"emailaddress": JEAN})
    assert head.status_code == 200
    assert head.content == b""
    assert dict(head.headers) == dict(get.headers)
    assert int(head.headers["content-length"]) == len(get.content) > 0
    assert client.head(path, headers={"Host": "example.org"}).status_code == 404


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for response in (
        client.get(CONFIG, params={"emailaddress": JEAN}),
        client.get(CONFIG, params={"emailaddress": "bad"}),
        client.get(CONFIG, headers={"Host": "example.org"}),
        client.post(CONFIG),
        client.get("/no/such/page"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_cache_lifetime_comes_from_the_settings(
    make_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    client = make_client(make_settings(service={"cache_max_age": 60}), host="example.org")
    personal = client.get(CONFIG, params={"emailaddress": "ana@example.org"})
    anonymous = client.get(CONFIG)
    assert cache_directives(personal) == {"private", "max-age=60"}
    assert cache_directives(anonymous) == {"public", "max-age=60"}
    assert read_config(personal.content).incoming[0].username == "ana@example.org"
    assert read_config(anonymous.content).incoming[0].username == "%EMAILADDRESS%"


def test_each_provider_of_a_multi_provider_file_answers_for_its_domains(
    make_client: Callable[..., TestClient],
) -> None:
    # No Host of its own: the addresses alone name the provider.
    client = make_client(load_settings(profiles_dir() / "ile-de-france.toml"), host=None)
    by_host = {
        host: read_config(client.get(CONFIG, headers={"Host": host}).content)
        for host in ("autoconfig.ac-paris.fr", "autoconfig.ac-creteil.fr", "ac-versailles.fr")
    }
    creteil = client.get(CONFIG, params={"emailaddress": "marie.curie@ac-creteil.fr"})
    versailles = client.get(PATHS[1], params={"emailAddress": "marie.curie@ac-versailles.fr"})
    assert [view.id for view in by_host.values()] == ["ac-paris.fr", "ac-creteil.fr", "ac-versailles.fr"]
    assert [view.incoming[0].username for view in by_host.values()] == [
        "%EMAILLOCALPART%",
        "%EMAILADDRESS%",
        "%EMAILLOCALPART%",
    ]
    check_xml_answer(creteil, personal=True)
    assert read_config(creteil.content).incoming == (
        ServerView(
            "imap", "imap.ac-creteil.fr", 993, "SSL", "marie.curie@ac-creteil.fr", ("password-cleartext",)
        ),
    )
    check_xml_answer(versailles, personal=True)
    assert read_config(versailles.content).domains == ("ac-versailles.fr",)
    assert read_config(versailles.content).incoming[0].username == "marie.curie"


# The client is function-scoped but holds no state between examples: every request stands alone.
@hypothesis_settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(address=st.text(max_size=80) | st.builds(lambda local: f"{local}@ac-paris.fr", st.text(max_size=70)))
def test_no_input_makes_a_500(client: TestClient, address: str) -> None:
    response = client.get(CONFIG, params={"emailaddress": address})
    assert response.status_code in {200, 400, 404}
    if response.status_code == 200:
        check_xml_answer(response, personal=True)
        username = read_config(response.content).incoming[0].username
        assert username.strip() == username != ""
    else:
        check_plain_sentence(response, response.status_code)


def test_an_unexpected_failure_is_a_plain_500_with_the_security_headers(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    # An app of its own: the route added here must not reach the shared one.
    app = create_app(settings)

    async def boom(request: Request) -> Response:
        raise RuntimeError("secret detail: jean.dupont@ac-paris.fr")

    app.router.routes.append(Route("/boom", boom))
    test_client = make_client(app, host=None, raise_server_exceptions=False)
    response = test_client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.text == "The service could not answer; the error is in its log.\n"
