"""DNS: the records `autoconfig dns` says the address's domain should publish, compared with what the
resolver answers."""

from __future__ import annotations

import json
from collections import defaultdict

from autoconfig.formats.dns import NOTE, OWN_NAME, TTL, Record
from autoconfig.formats.pacc import TXT_LABEL

from .lookup import Lookup, LookupFailure
from .report import Result, Status

CLIENT = "dns"
PACC_PREFIX = "v=UAAC1"
NOT_OFFERED = "0 0 0 ."


def check_records(records: list[Record], lookup: Lookup) -> list[Result]:
    """One result per name and type, in the order `autoconfig dns` lists them (the domain's records:
    version.records_for)."""
    grouped: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in records:
        grouped[(record.name, record.type)].append(record)
    results = []
    for (name, kind), wanted in grouped.items():
        if kind == OWN_NAME:
            results.append(_own_name(name, lookup))
        elif kind == NOTE:
            results.append(_no_pacc(name, wanted[0], lookup))
        elif kind == "CNAME":
            results.append(_cname(name, wanted[0], lookup))
        elif kind == "SRV":
            results.append(_srv(name, wanted, lookup))
        elif kind == "TXT":
            results.append(_txt(name, wanted, lookup))
    return results


def _bare(name: str) -> str:
    return name.rstrip(".")


def _publish(records: list[Record]) -> str:
    return "publish " + " and ".join(f"`{r.name} {TTL} IN {r.type} {r.data}`" for r in records)


def _own_name(name: str, lookup: Lookup) -> Result:
    step = f"{_bare(name)} A/AAAA"
    try:
        addresses = lookup.addresses(name)
    except LookupFailure as failure:
        return Result(
            CLIENT,
            step,
            Status.FAIL,
            f"no address: {failure.message}",
            f"give {_bare(name)}, the service's own name, A and AAAA records with the addresses of the "
            "web server that serves it",
        )
    return Result(CLIENT, step, Status.OK, f"{', '.join(addresses)} (the service's own name)")


def _cname(name: str, wanted: Record, lookup: Lookup) -> Result:
    step = f"{_bare(name)} CNAME"
    target = _bare(wanted.data).lower()
    try:
        found = lookup.cnames(name)
    except LookupFailure as failure:
        if failure.kind == "timeout":
            return Result(CLIENT, step, Status.FAIL, failure.message, "check that the resolver answers")
        found = []
    if target in found:
        return Result(CLIENT, step, Status.OK, f"CNAME {target}")
    if found:
        return Result(
            CLIENT,
            step,
            Status.WARN,
            f"CNAME {found[0]}, where `autoconfig dns` says {target}: clients go wherever it leads (the "
            "HTTPS checks tell whether the service answers there)",
            f"unless {found[0]} serves this service on purpose, {_publish([wanted])}",
        )
    # A and AAAA records instead of a CNAME do as well when they are the service's addresses.
    try:
        addresses = lookup.addresses(name)
    except LookupFailure as failure:
        return Result(CLIENT, step, Status.FAIL, f"missing: {failure.message}", _publish([wanted]))
    try:
        service = lookup.addresses(target)
    except LookupFailure:
        service = []
    if set(addresses) & set(service):
        return Result(CLIENT, step, Status.OK, f"A/AAAA {', '.join(addresses)}, the addresses of {target}")
    return Result(
        CLIENT,
        step,
        Status.WARN,
        f"A/AAAA {', '.join(addresses)}, not the addresses of {target} ({', '.join(service) or 'none'})",
        f"unless that server serves this service on purpose, {_publish([wanted])}",
    )


def _srv_data(text: str) -> str:
    priority, weight, port, target = text.split()
    return f"{int(priority)} {int(weight)} {int(port)} {target.lower()}"


def _srv(name: str, wanted: list[Record], lookup: Lookup) -> Result:
    step = f"{_bare(name)} SRV"
    expected = {_srv_data(r.data) for r in wanted}
    try:
        found = {record.zone_data() for record in lookup.srv(name)}
    except LookupFailure as failure:
        if failure.kind == "timeout":
            return Result(CLIENT, step, Status.FAIL, failure.message, "check that the resolver answers")
        found = set()
    shown = ", ".join(sorted(found)) or "none"
    not_offered = expected == {NOT_OFFERED}
    if found == expected:
        return Result(CLIENT, step, Status.OK, "not offered (target .)" if not_offered else shown)
    if not found:
        # A service not offered only says so to the few clients that read these records.
        status = Status.WARN if not_offered else Status.FAIL
        return Result(CLIENT, step, status, "missing", _publish(wanted))
    missing = expected - found
    if missing:
        return Result(
            CLIENT,
            step,
            Status.FAIL,
            f"holds {shown}; `autoconfig dns` says {', '.join(r.data for r in wanted)}",
            _publish(wanted) + " in place of what is there",
        )
    return Result(
        CLIENT,
        step,
        Status.WARN,
        f"holds {shown}: more than `autoconfig dns` says ({', '.join(r.data for r in wanted)})",
        "remove the records `autoconfig dns` does not print",
    )


def _txt(name: str, wanted: list[Record], lookup: Lookup) -> Result:
    step = f"{_bare(name)} TXT"
    expected = [json.loads(r.data) for r in wanted]
    try:
        found = lookup.texts(name)
    except LookupFailure as failure:
        if failure.kind == "timeout":
            return Result(CLIENT, step, Status.FAIL, failure.message, "check that the resolver answers")
        found = []
    pacc = _bare(name).startswith(f"{TXT_LABEL}.")
    relevant = [t for t in found if t.startswith(PACC_PREFIX)] if pacc else found
    if expected[0] in relevant:
        return Result(CLIENT, step, Status.OK, f'"{expected[0]}"')
    if not relevant:
        return Result(CLIENT, step, Status.FAIL, "missing", _publish(wanted[:1]))
    shown = "; ".join(f'"{t}"' for t in relevant)
    what = "a PACC digest that is not the digest of the settings' document" if pacc else "other text"
    return Result(
        CLIENT,
        step,
        Status.FAIL,
        f'holds {shown}: {what}; `autoconfig dns` says "{expected[0]}"',
        _publish(wanted[:1])
        + (
            " (beside the old record while the TTL runs, then remove the old: `autoconfig dns --previous`)"
            if pacc
            else ""
        ),
    )


def _no_pacc(name: str, note: Record, lookup: Lookup) -> Result:
    step = f"{_bare(name)} TXT"
    try:
        found = [t for t in lookup.texts(name) if t.startswith(PACC_PREFIX)]
    except LookupFailure:
        found = []
    if found:
        return Result(
            CLIENT,
            step,
            Status.WARN,
            "a PACC record is published, but the settings give this domain no PACC document",
            f"remove the record ({note.comment.removeprefix('no PACC document: ')})",
        )
    return Result(
        CLIENT,
        step,
        Status.OK,
        "none, as expected: PACC cannot describe this provider's servers (implicit TLS on the standard "
        "ports only), so it has no document",
    )
