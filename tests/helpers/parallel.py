"""How the suite is shared between pytest-xdist's workers (tests/run: `pytest -n 3`).

Tests are sent to the workers in groups, each run whole on one worker and in its order, so that the
servers a module or a package starts once (module- or package-scoped fixtures) start once in the run:

- a test module is a group of its own (its Chromium, `autoconfig serve`, slapd or proxies);
- tests/probe is one group (its lab, Knot, nginx and a served instance, is package-scoped);
- the tests that build or boot a Debian root are one group, never beside each other: the image (podman's
  store, chroot, a mount namespace) and the systemd install and boot (chroot, systemd-nspawn), both on
  the roots kept in /var/cache/autoconfig-tests.

The heaviest groups are sent first, so that the last group to start is a short one and the two workers
end together. A plain `pytest` (no workers) keeps the collection's order.

The groups are made by a scheduler of ours rather than by `xdist_group` marks: pytest-xdist 3.8 marks a
group by rewriting `item._nodeid`, which pytest 9 no longer reads, so `--dist loadgroup` sends every test
on its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

EXCLUSIVE = "exclusive"
EXCLUSIVE_MODULES = frozenset({"tests/test_image.py", "tests/test_systemd.py"})
PACKAGES = ("tests/probe/",)
# The distribution modes whose groups are ours: `-n 2` alone is "load".
TAKEN_OVER = frozenset({"load", "loadscope", "loadfile", "loadgroup"})

# The groups that take longest (per-group seconds of a `pytest -n 2` on the 2-core machine, measured with a
# small plugin: systemd and image 100, accessibility 101, probe 80, browser 68, ...), heaviest first;
# every other group (under 7 s in that run, which had none of issue 23's new modules) follows in the
# collection's order.
HEAVIEST = (
    "tests/web/test_accessibility.py",
    EXCLUSIVE,
    "tests/probe/",
    "tests/web/test_browser.py",
    "tests/web/test_browser_address.py",
    "tests/test_layouts.py",
    "tests/serving/test_supervisor.py",
    "tests/web/test_browser_guides.py",
    "tests/serving/test_signing_reload.py",
    "tests/test_cli_errors.py",
    "tests/serving/test_protocol_limits.py",
    "tests/serving/test_restarts.py",
    "tests/serving/test_replicas.py",
    "tests/test_docs_output.py",
    "tests/web/test_authorization.py",
    "tests/test_golden.py",
    "tests/web/test_middleware.py",
    "tests/serving/test_metrics_folder.py",
    "tests/test_samples.py",
    "tests/web/test_app.py",
    "tests/serving/test_protocol.py",
    "tests/web/test_metrics.py",
    "tests/test_cli.py",
    "tests/web/test_guides.py",
    "tests/web/test_health.py",
    "tests/test_directory.py",
    "tests/web/test_server.py",
)


def group_of(nodeid: str) -> str:
    """The group of a test, from its id (`tests/web/test_app.py::test_x[one-worker]`)."""
    module = nodeid.split("::", 1)[0]
    if module in EXCLUSIVE_MODULES:
        return EXCLUSIVE
    for package in PACKAGES:
        if module.startswith(package):
            return package
    return module


def heaviest_first(items: list[pytest.Item]) -> None:
    """Sort the collected tests so that the heaviest groups come first: a stable sort, so each group's
    tests stay together and in their order."""
    rank = {group: index for index, group in enumerate(HEAVIEST)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(HEAVIEST)))


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """pytest-xdist's scheduling by scope, with our groups as the scopes, sent in the collection's order
    (which `heaviest_first` made)."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid)


def scheduler(config: pytest.Config, log: Any) -> Any:
    """Our scheduling for the modes that share tests out by load; None leaves the others to xdist."""
    if config.getvalue("dist") not in TAKEN_OVER:
        return None
    config.option.loadscopereorder = False  # xdist would sort the groups by their number of tests
    return GroupScheduling(config, log)
