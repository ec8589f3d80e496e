"""funnel.py: outcomes, counts by the hour over the last 24 hours, the counts of other processes read from
their files, and the summary /healthz gives the IT team's networks only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from autoconfig.settings import load_settings
from autoconfig.web.app import create_app
from autoconfig.web.funnel import Funnel, outcome_of, say
from autoconfig.web.metrics import RequestMetrics
from autoconfig.web.routes import classify
from tests.helpers.commands import autoconfig
from tests.helpers.live import serving, wait_for

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.5.0"
JEAN = "jean.dupont@ac-paris.fr"


class Clock:
    """Time that the test moves: the funnel's hours are real hours."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("status", "endpoint", "said", "outcome"),
    [
        (200, "clientconfig", None, "answered"),
        (301, "dav", None, "answered"),
        (200, "clientconfig", "generic", "generic"),
        (200, "autodiscover_xml", "refused", "refused"),  # a POX error: 200, as Exchange answers
        (404, "clientconfig", None, "unknown_domain"),
        (404, "other", None, "refused"),  # no such path: no domain was looked up
        (400, "mobileconfig", None, "refused"),
        (413, "autodiscover_xml", None, "refused"),
        (500, "clientconfig", "generic", "error"),  # a failure after the view spoke is still a failure
        (503, "mobileconfig", None, "error"),
        (499, "autodiscover_xml", None, "disconnected"),  # the client left before its body was read
        (499, "clientconfig", "generic", "disconnected"),
    ],
)
def test_outcomes(status: int, endpoint: str, said: str | None, outcome: str) -> None:
    scope: dict[str, object] = {"type": "http"}
    if said is not None:
        say(scope, said)
    assert outcome_of(scope, status, endpoint) == outcome


def test_counts_are_kept_for_24_hours_by_the_hour() -> None:
    clock = Clock()
    funnel = Funnel(clock=clock)
    funnel.count("thunderbird", "clientconfig", "answered")
    clock.now += 3600 * 23  # the 24th hour: still in
    funnel.count("thunderbird_android", "clientconfig", "generic")
    summary = funnel.summary()
    assert summary["hours"] == 24
    assert summary["families"] == {
        "thunderbird": {"requests": 1, "outcomes": {"answered": 1}, "endpoints": {"clientconfig": 1}},
        "thunderbird_android": {"requests": 1, "outcomes": {"generic": 1}, "endpoints": {"clientconfig": 1}},
    }
    clock.now += 3600  # the first hour leaves the window
    assert set(funnel.summary()["families"]) == {"thunderbird_android"}
    funnel.count("browser", "guide_android", "answered")  # a new hour drops what no summary will show
    assert len(funnel.hours) == 2


def test_requests_counted_in_bulk_keep_their_hour_and_show_at_once() -> None:
    # The metrics observer holds a worker's counts and adds them to the funnel in bulk (metrics.py): a
    # summary shows them at once, and each request stays in the hour it was answered in.
    clock = Clock()
    funnel = Funnel(clock=clock)
    observe = RequestMetrics(classify, funnel)
    thunderbird = {"type": "http", "path": "/mail/config-v1.1.xml", "headers": [(b"user-agent", b"x")]}

    async def answered() -> dict[str, object]:
        observe(thunderbird, 200, 0.001)
        observe(thunderbird, 404, 0.001)
        first: dict[str, object] = funnel.summary()["families"]
        clock.now += 3600 * 23  # 23 hours later: the first hour is the oldest one kept
        observe(thunderbird, 200, 0.001)
        clock.now += 3600  # the first hour leaves the window, the second stays
        return first

    first = asyncio.run(answered())
    assert first == {
        "unknown": {
            "requests": 2,
            "outcomes": {"answered": 1, "unknown_domain": 1},
            "endpoints": {"clientconfig": 2},
        }
    }
    assert funnel.summary()["families"] == {
        "unknown": {"requests": 1, "outcomes": {"answered": 1}, "endpoints": {"clientconfig": 1}}
    }


def test_each_process_reads_the_others_files(tmp_path: Path) -> None:
    clock = Clock()
    first = Funnel(str(tmp_path), clock, name="1")
    second = Funnel(str(tmp_path), clock, name="2")
    for _ in range(3):
        first.count("outlook", "autodiscover_xml", "answered")
    second.count("outlook", "autodiscover_xml", "refused")
    # Outside an event loop (here), each count is written at once; in a worker, within two seconds.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["funnel-1.json", "funnel-2.json"]
    for funnel in (first, second):
        assert funnel.summary()["families"]["outlook"] == {
            "requests": 4,
            "outcomes": {"answered": 3, "refused": 1},
            "endpoints": {"autodiscover_xml": 4},
        }


def test_a_damaged_or_foreign_file_is_skipped(tmp_path: Path) -> None:
    funnel = Funnel(str(tmp_path), name="1")
    funnel.count("kmail", "clientconfig", "answered")
    (tmp_path / "funnel-2.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "funnel-3.json").write_text(json.dumps({"1": [["a", "b"]]}), encoding="utf-8")
    assert funnel.summary()["families"] == {
        "kmail": {"requests": 1, "outcomes": {"answered": 1}, "endpoints": {"clientconfig": 1}}
    }


def test_a_read_only_folder_loses_the_shared_view_not_the_counts(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    funnel = Funnel(str(folder), name="1")
    folder.chmod(0o500)
    try:
        funnel.count("evolution", "clientconfig", "answered")
    finally:
        folder.chmod(0o700)
    assert funnel.summary()["families"]["evolution"]["requests"] == 1


def test_healthz_shows_the_summary_to_the_it_teams_networks_only(
    make_client: Callable[..., TestClient],
) -> None:
    # An application of its own: the shared one has counted the other tests' requests.
    inside = make_client(create_app(load_settings()), host=None, client=("127.0.0.1", 40000))
    inside.get("/mail/config-v1.1.xml", params={"emailaddress": JEAN}, headers={"User-Agent": THUNDERBIRD})
    inside.get(
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        headers={"User-Agent": "okhttp/5.4.0", "Host": "autoconfig.ac-paris.fr"},
    )
    families = inside.get("/healthz").json()["clients"]["families"]
    assert families["thunderbird"]["outcomes"] == {"answered": 1}
    assert families["thunderbird_android"]["outcomes"] == {"generic": 1}
    outside = make_client(inside.app, host=None, client=("192.0.2.7", 40000))
    assert (
        outside.get("/healthz").json() == {"status": "ok"} or "clients" not in outside.get("/healthz").json()
    )


def test_healthcheck_prints_the_funnel_of_a_live_service(tmp_path: Path) -> None:
    with serving(tmp_path / "logs", workers=2) as server:
        for _ in range(3):
            server.get(f"/mail/config-v1.1.xml?emailaddress={JEAN}", {"User-Agent": THUNDERBIRD})
        server.get("/mail/config-v1.1.xml", {"User-Agent": "okhttp/5.4.0", "Host": "autoconfig.ac-paris.fr"})
        server.get("/guide/android", {"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/131.0"})

        def printed() -> str | None:
            result = autoconfig("healthcheck", "--port", str(server.port), "--clients")
            assert result.returncode == 0, result.stderr
            # Each worker writes its counts within 2 s: wait for every request of the three families,
            # whoever answered.
            asked = {"thunderbird": "3", "thunderbird_android": "1", "browser": "1"}
            rows = [line.split() for line in result.stdout.splitlines() if line.startswith("  ")]
            told = {row[0]: row[1] for row in rows if len(row) > 1}
            done = all(told.get(family) == count for family, count in asked.items())
            return result.stdout if done else None

        lines = wait_for(printed, 10, "the funnel in healthcheck's output").splitlines()
    assert "clients over the last 24 hours" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("  ") and "family" not in line}
    # family, requests, answered, generic, unknown_domain, refused, error, disconnected, hosted, then
    # the endpoints
    assert rows["thunderbird"][:9] == ["thunderbird", "3", "3", "0", "0", "0", "0", "0", "0"]
    assert rows["thunderbird_android"][:9] == ["thunderbird_android", "1", "0", "1", "0", "0", "0", "0", "0"]
    assert rows["browser"][9:] == ["guide_android", "1"]
