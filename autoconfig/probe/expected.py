"""What a client should end up with for an address, from the settings, and how what it got differs."""

from __future__ import annotations

from dataclasses import dataclass

from autoconfig.accounts import Account
from autoconfig.settings import Server

SECURITY_WORDS = {"starttls": "STARTTLS", "tls": "SSL/TLS", "none": "no encryption"}
PROTOCOL_WORDS = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}


@dataclass(frozen=True)
class MailServer:
    """One mail server as a client will use it."""

    protocol: str  # imap, pop3, smtp
    host: str
    port: int
    security: str  # starttls, tls, none
    login: str | None  # None: the format names none (PACC)

    def describe(self) -> str:
        return f"{PROTOCOL_WORDS.get(self.protocol, self.protocol)} {self.host}:{self.port} " + (
            SECURITY_WORDS.get(self.security, self.security)
        )

    def place(self) -> tuple[str, str, int, str]:
        return self.protocol, self.host.lower(), self.port, self.security


@dataclass(frozen=True)
class Outcome:
    """What a client ends up with: its incoming and outgoing server."""

    incoming: MailServer | None
    outgoing: MailServer | None

    def describe(self) -> str:
        servers = [e for e in (self.incoming, self.outgoing) if e is not None]
        logins = {e.login for e in servers if e.login is not None}
        if len(logins) > 1:
            return ", ".join(f"{e.describe()} login {e.login}" for e in servers)
        described = [e.describe() for e in servers]
        return ", ".join(described + [f"login {login}" for login in logins])


def mail_server(server: Server, account: Account) -> MailServer:
    return MailServer(
        server.protocol_name,
        account.fill(server.host).lower(),
        server.effective_port,
        server.security,
        account.login_for(server.username),
    )


def expected_outcome(
    account: Account, incoming: Server | None = None, outgoing: Server | None = None
) -> Outcome:
    """The provider's preferred servers (or those given) with this person's host names and logins."""
    provider = account.provider
    return Outcome(
        mail_server(incoming or provider.incoming[0], account),
        mail_server(outgoing or provider.outgoing[0], account),
    )


@dataclass(frozen=True)
class Differences:
    servers: list[str]
    logins: list[str]

    def describe(self) -> str:
        return "; ".join(self.servers + self.logins)


def compare(found: Outcome, wanted: Outcome) -> Differences:
    servers: list[str] = []
    logins: list[str] = []
    for kind, got, want in (
        ("incoming", found.incoming, wanted.incoming),
        ("outgoing", found.outgoing, wanted.outgoing),
    ):
        if want is None:
            continue
        if got is None:
            servers.append(f"no {kind} server, where the settings say {want.describe()}")
            continue
        if got.place() != want.place():
            servers.append(f"{got.describe()}, where the settings say {want.describe()}")
        if got.login is not None and want.login is not None and got.login != want.login:
            logins.append(
                f"{PROTOCOL_WORDS.get(got.protocol, got.protocol)} login {got.login}, where the settings "
                f"give {want.login}"
            )
    return Differences(servers, logins)


def login_fix(account: Account) -> str | None:
    """Why a login may rightly differ from the rule's: the service asks the staff directory, which the
    probe cannot."""
    directory = account.provider.directory
    if directory is None or directory.lookup is None:
        return None
    return (
        "the service asks the staff directory for logins, which the probe does not: check that the "
        "directory gives this login"
    )
