"""The MX path, for an address at a customer domain the settings do not list when a provider hosts mail
for other domains: the domain's MX, then Thunderbird desktop's and Thunderbird for Android's requests to
`autoconfig.<the MX host less its first label>` and to its registrable domain, and Outlook's
`_autodiscover._tcp` SRV record to the hoster's POX address, each judged as for a listed domain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from autoconfig.accounts import Account, hosted_account
from autoconfig.formats.dns import registrable_above
from autoconfig.settings import Provider, Settings
from autoconfig.version import Version

from . import outlook, thunderbird, tls
from .chains import Step, UnusableAnswerError, judge, judged_step
from .expected import expected_outcome, login_fix
from .lookup import LookupFailure
from .network import FetchError, Network
from .report import Result, Status
from .thunderbird import Read


@dataclass(frozen=True)
class MxPath:
    """What the customer domain's MX says, for the clients that follow it."""

    result: Result  # the `dns` line
    provider: Provider  # the hoster it leads to, or the one expected when it leads elsewhere
    parent: str | None  # the best MX host less its first label, when the MX is the provider's
    registrable: str | None  # the registrable domain above `parent`, when not `parent` itself
    skipped: bool = False  # the MX host is in the address's own domain: Thunderbird skips the path


def mx_path(settings: Settings, domain: str, network: Network) -> MxPath:
    """The domain's best MX hosts judged: the provider's (and the domain admitted), or not."""
    expected = settings.hosting_providers[0]
    step = f"{domain} MX"
    hosts_wanted = " or ".join(expected.hosting.mx) if expected.hosting else ""
    fix = (
        f"point the MX of {domain} at {hosts_wanted} (every MX of the lowest preference); if its mail is "
        f"hosted elsewhere, it is not a customer of {expected.name}"
    )
    try:
        records = network.lookup.mx(domain)
    except LookupFailure as failure:
        return MxPath(
            Result("dns", step, Status.FAIL, f"no MX: {failure.message}", fix), expected, None, None
        )
    best = [host for preference, host in records if preference == records[0][0] and host] if records else []
    if not best:
        detail = f"{domain} has no MX record" if not records else f"{domain} has a null MX (no mail)"
        return MxPath(Result("dns", step, Status.FAIL, detail, fix), expected, None, None)
    owners = {settings.hoster_of_mx(host) for host in best}
    provider = owners.pop() if len(owners) == 1 else None
    shown = ", ".join(best)
    if provider is None or provider.hosting is None:
        detail = (
            f"the best MX is {shown}, not {expected.name}'s ({hosts_wanted}): the service answers {domain} "
            "as an unknown domain, and Thunderbird asks another autoconfig server"
        )
        return MxPath(Result("dns", step, Status.FAIL, detail, fix), expected, None, None)
    if not provider.hosting.admits(domain):
        detail = f"the best MX is {shown}, {provider.name}'s, but hosting.allow or hosting.deny refuses it"
        refix = f"remove {domain} from hosting.deny (or add it to hosting.allow), if it is a customer"
        return MxPath(Result("dns", step, Status.FAIL, detail, refix), provider, None, None)
    parent = best[0].partition(".")[2]
    listed = settings.listed_domains
    above = registrable_above(parent, listed)
    registrable = above[-1] if above else None
    skipped = parent == domain or parent.endswith(f".{domain}")
    detail = f"the best MX is {shown} (preference {records[0][0]}), {provider.name}'s"
    return MxPath(Result("dns", step, Status.OK, detail), provider, parent, registrable, skipped)


def _mx_urls(path: MxPath, query: str) -> list[tuple[str, str]]:
    urls = [("mx-autoconfig", f"https://autoconfig.{path.parent}/mail/config-v1.1.xml{query}")]
    if path.registrable is not None:
        urls.append(("mx-registrable", f"https://autoconfig.{path.registrable}/mail/config-v1.1.xml{query}"))
    return urls


def _chain(client: str, path: MxPath, query: str, read: Read, host: str) -> list[Result]:
    if path.parent is None:
        return [
            Result(
                client,
                "result",
                Status.FAIL,
                "finds no settings: the MX does not lead to the service",
                "see the MX result above",
            )
        ]
    if path.skipped:
        return [
            Result(
                client,
                "result",
                Status.FAIL,
                "finds no settings: the MX host is in the address's own domain, where the client skips "
                "the MX path",
                "use MX hosts under the hoster's own name, or serve the domain's own autoconfig name",
            )
        ]
    steps = []
    for name, url in _mx_urls(path, query):
        try:
            steps.append(read(name, url))
        except (FetchError, UnusableAnswerError) as failure:
            named = url.split("/")[2]
            fix = (
                f"see the https results for {named}"
                if isinstance(failure, FetchError) and failure.kind.startswith("tls")
                else f"publish {named} as a CNAME to {host} and serve the service there (autoconfig dns)"
            )
            steps.append(Step(name, url, problem=str(failure), fix=fix))
    return judge(client, steps)


def _outlook(
    account: Account, typed: str, domain: str, network: Network, *, mx_ok: bool, host: str
) -> list[Result]:
    record = f"_autodiscover._tcp.{domain}"
    publish = (
        f"publish `{record}. 3600 IN SRV 0 0 443 {host}.` "
        f"(autoconfig dns --customer {domain}); Thunderbird needs no record, only Outlook does"
    )
    try:
        found = [srv for srv in network.lookup.srv(record) if srv.offered]
    except LookupFailure as failure:
        detail = f"no SRV record ({failure.message}): Outlook finds no settings for {domain}"
        return [Result(outlook.CLIENT, "srv", Status.WARN, detail, publish)]
    if not found:
        detail = f"no SRV record at {record}: Outlook finds no settings for {domain}"
        return [Result(outlook.CLIENT, "srv", Status.WARN, detail, publish)]
    port = "" if found[0].port == 443 else f":{found[0].port}"
    url = f"https://{found[0].host}{port}/autodiscover/autodiscover.xml"
    srv = Result(outlook.CLIENT, "srv", Status.OK, f"{record} points to {found[0].host}{port}")
    try:
        outcome, note = outlook.read_pox(network, url, typed)
    except (FetchError, UnusableAnswerError) as failure:
        fix = (
            f"point {record} at the service's autodiscover host (autoconfig dns --customer {domain})"
            if mx_ok
            else "see the MX result above: the service answers only domains whose MX is the hoster's"
        )
        step = Step("pox-srv", url, problem=str(failure), fix=fix)
    else:
        wanted = expected_outcome(account)
        step = judged_step("pox-srv", url, outcome, wanted, note=note, login_fix=login_fix(account))
    return [srv, *judge(outlook.CLIENT, [step])]


def hosted_probe(
    version: Version, typed: str, domain: str, network: Network, now: dt.datetime
) -> list[Result]:
    """Every check of the MX path for an address at a customer domain, in the probe's order."""
    path = mx_path(version.settings, domain, network)
    account = hosted_account(path.provider, typed.rpartition("@")[0], domain)
    results = [path.result]
    host = version.host
    names = [tls.Name(host, "the service's own name")]
    if path.parent is not None and not path.skipped:
        names.append(
            tls.Name(f"autoconfig.{path.parent}", "Thunderbird's MX path: the MX host less its first label")
        )
        if path.registrable is not None:
            names.append(
                tls.Name(f"autoconfig.{path.registrable}", "Thunderbird's MX path: the registrable domain")
            )
    merged: dict[str, tls.Name] = {}
    for name in names:  # one line per name, saying each reason it is asked
        seen = merged.get(name.host)
        merged[name.host] = name if seen is None else tls.Name(name.host, f"{seen.why}; {name.why}")
    unique = list(merged.values())
    results += [checked.result for checked in tls.check_names(unique, network, now)]
    query = thunderbird.address_query(typed)
    results += _chain(
        thunderbird.DESKTOP, path, query, thunderbird.desktop_reader(account, typed, domain, network), host
    )
    results += _chain(
        thunderbird.ANDROID, path, "", thunderbird.android_reader(account, typed, domain, network), host
    )
    results += _outlook(account, typed, domain, network, mx_ok=path.parent is not None, host=host)
    return results
