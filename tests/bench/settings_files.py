"""Settings files for the growth table and the soak: the bundled Académie de Paris settings, grown.

Each is the bundled file's data (so the requests of the main table still find jean.dupont@ac-paris.fr),
changed by one dimension at a time: more providers, a long overrides file, the directory lookup on a
real slapd. A generated file is not the bundled default, which alone gets the development signer: each
is given an ECDSA P-256 certificate of its own instead, so that profiles are signed alike.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from tests.helpers.certs import make_chain
from tests.helpers.ldap_server import PEOPLE
from tests.helpers.settings import provider_data, write_settings

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "ac-paris.toml"
OVERRIDDEN = "agent.17500@ac-paris.fr"  # a row in the middle of the overrides file


def bundled_data() -> dict[str, Any]:
    return tomllib.loads(PROFILE.read_text(encoding="utf-8"))


def generated(folder: Path, data: dict[str, Any]) -> Path:
    """Write `data` with a signing certificate of its own into `folder`; the settings file's path."""
    files = make_chain("ec", name="bench").write(folder / "signing")
    return write_settings(folder, {**data, "signing": files.signing_data()})


def with_providers(count: int) -> dict[str, Any]:
    """The Académie first, then made-up providers up to `count`, two domains each."""
    data = bundled_data()
    for number in range(1, count):
        data["providers"].append(
            provider_data(
                id=f"p{number:04d}.example.org",
                name=f"Provider {number}",
                domains=[f"p{number:04d}.example.org", f"p{number:04d}.example.net"],
                incoming=[{"host": f"imap.p{number:04d}.example.org", "security": "tls"}],
                outgoing=[{"host": f"smtp.p{number:04d}.example.org", "security": "tls"}],
            )
        )
    return data


def with_overrides(folder: Path, rows: int) -> dict[str, Any]:
    """The Académie with an overrides file of `rows` people (OVERRIDDEN among them)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["address,login,name"]
    lines += [f"agent.{n}@ac-paris.fr,ag{n:06d},Agent {n}" for n in range(rows)]
    (folder / "overrides.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = bundled_data()
    data["providers"][0]["login"]["overrides"] = "overrides.csv"
    return data


def with_directory(url: str) -> dict[str, Any]:
    """The Académie asking the staff directory at `url` (tests/data/staff.ldif), without STARTTLS: it is
    on loopback, as the tests' slapd."""
    data = bundled_data()
    directory = copy.deepcopy(data["providers"][0]["directory"])
    directory.update(base_dn=PEOPLE, lookup={"url": url, "starttls": False})
    data["providers"][0]["directory"] = directory
    return data
