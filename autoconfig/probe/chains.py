"""A client's chain of steps: it tries each in its order and keeps the first answer it can use. The
probe tries them all, and judges each by where it stands in the chain."""

from __future__ import annotations

from dataclasses import dataclass

from .expected import Outcome, compare
from .report import Result, Status

SERVICE_ANSWERS_OTHERWISE = (
    "the service answers other values than these settings give: reload it with these settings "
    "(systemctl reload autoconfig), or find what else answers this name"
)


@dataclass(frozen=True)
class Step:
    """One step as the client lives it."""

    name: str
    url: str | None
    # What the client would end up with from this step, described; None when it cannot use the answer.
    answer: str | None = None
    # Why the client cannot use it (no answer), or how its answer differs from the settings.
    problem: str | None = None
    fix: str | None = None
    # The difference is a known limitation of the client or of the settings (the login Thunderbird for
    # Android fills in): a warning, whatever the step's place.
    known_limit: bool = False
    plain_http: bool = False  # the answer came without TLS
    note: str = ""  # how it was reached (a redirect), for the detail
    # No answer, and rightly so: plain http refused, where clients simply go on.
    harmless: bool = False


def judged_step(
    name: str,
    url: str,
    outcome: Outcome,
    wanted: Outcome,
    *,
    plain: bool = False,
    note: str = "",
    login_fix: str | None = None,
) -> Step:
    """A step that gave the client settings, compared with the settings' own. A login that differs is
    a known limit when `login_fix` says why it may (the directory, a client that sends no address)."""
    differences = compare(outcome, wanted)
    if differences.servers or (differences.logins and login_fix is None):
        return Step(
            name,
            url,
            outcome.describe(),
            differences.describe(),
            SERVICE_ANSWERS_OTHERWISE,
            plain_http=plain,
            note=note,
        )
    if differences.logins:
        return Step(
            name,
            url,
            outcome.describe(),
            differences.describe(),
            login_fix,
            known_limit=True,
            plain_http=plain,
            note=note,
        )
    return Step(name, url, outcome.describe(), plain_http=plain, note=note)


def judge(client: str, steps: list[Step]) -> list[Result]:
    """One result per step, then what the client ends up with."""
    used = next((i for i, step in enumerate(steps) if step.answer is not None), None)
    results = []
    for index, step in enumerate(steps):
        where = ""
        if used is not None and index > used:
            where = f"not reached (the client stops at {steps[used].name}); "
        note = f" ({step.note})" if step.note else ""
        if step.answer is None and step.harmless:
            results.append(Result(client, step.name, Status.OK, f"{where}{step.problem}{note}", url=step.url))
            continue
        if step.answer is None:
            status = Status.FAIL if used is None else Status.WARN
            detail = f"{where}{step.problem}{note}"
            if used is not None and index < used:
                detail += "; the client goes on to the next step"
            results.append(Result(client, step.name, status, detail, step.fix, step.url))
            continue
        same = (
            used is not None
            and index > used
            and (step.answer, step.problem) == (steps[used].answer, steps[used].problem)
        )
        if same:
            # A fallback as good as what the client uses: whatever is wrong is said once, where it is met.
            results.append(
                Result(client, step.name, Status.OK, f"{where}would answer the same{note}", url=step.url)
            )
            continue
        if step.problem is None:
            status = Status.OK
            detail = f"{where}answers {step.answer}{note}"
        else:
            status = Status.FAIL if index == used and not step.known_limit else Status.WARN
            detail = f"{where}answers {step.answer}{note}: {step.problem}"
        results.append(Result(client, step.name, status, detail, step.fix, step.url))
    results.append(_result(client, steps, used, results))
    return results


def _result(client: str, steps: list[Step], used: int | None, results: list[Result]) -> Result:
    if used is None:
        return Result(
            client,
            "result",
            Status.FAIL,
            "finds no settings: no step gives an answer the client can use",
            "see the steps above",
        )
    step, judged = steps[used], results[used]
    if judged.status is Status.OK and step.plain_http:
        return Result(
            client,
            "result",
            Status.WARN,
            f"ends up with {step.answer}, fetched over plain http (an attacker on the way could change it)",
            "make the https steps above work",
            step.url,
        )
    detail = f"ends up with {step.answer}"
    if step.problem is not None:
        detail += f": {step.problem}"
    return Result(client, "result", judged.status, detail, judged.fix, step.url)


class UnusableAnswerError(Exception):
    """An answer the client cannot use (Thunderbird's XML, Outlook's POX), and why."""
