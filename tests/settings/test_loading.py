"""autoconfig.settings.loading: reading the file (missing, not UTF-8, not TOML, empty), its digest, and the
files it names (signing files, the overrides CSV, password files), from the settings file's folder.

Error tests assert on the rendered report, as a person reads it: the file, the key path, the value
found, the reason and the fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autoconfig.errors import SettingsError
from autoconfig.paths import profiles_dir
from autoconfig.settings import Settings, load_settings
from tests.helpers.ldap_server import SERVICE_DN
from tests.helpers.settings import MINIMAL_TOML
from tests.helpers.settings_checks import assert_problem, edit_toml, load_error, shown_path

SettingsFile = Callable[..., Path]
WriteToml = Callable[..., Path]

# The provider's login rule naming an overrides file, next to the settings file.
EXCEPTIONS: dict[str, Any] = {"login": {"overrides": "exceptions.csv"}}


def test_digest_is_sha256_of_the_file(settings_file: SettingsFile, write_toml: WriteToml) -> None:
    path = settings_file()
    assert load_settings(path).digest == hashlib.sha256(path.read_bytes()).hexdigest()
    # The same settings plus a comment: only TOML text can say that.
    commented = path.read_text(encoding="utf-8") + "# a comment changes the digest\n"
    other = write_toml(commented, "other.toml")
    assert load_settings(other).digest != load_settings(path).digest


def test_bundled_digest(settings: Settings) -> None:
    bundled = (profiles_dir() / "ac-paris.toml").read_bytes()
    assert settings.digest == hashlib.sha256(bundled).hexdigest()


def test_signing_paths_are_relative_to_the_settings_file(settings_file: SettingsFile) -> None:
    path = settings_file(signing={"certificate": "tls/cert.pem", "key": "tls/key.pem"})
    (path.parent / "tls").mkdir()
    for name in ("cert.pem", "key.pem"):
        (path.parent / "tls" / name).write_text("-----BEGIN-----\n", encoding="ascii")
    settings = load_settings(path)
    assert settings.signing is not None
    assert settings.signing.certificate == path.parent / "tls" / "cert.pem"
    assert settings.signing.key.is_absolute()
    assert settings.signing.chain == ()


def test_overrides_table(settings_file: SettingsFile) -> None:
    path = settings_file(provider={"login": {"overrides": "overrides.csv"}})
    (path.parent / "overrides.csv").write_text(
        "\ufeffaddress,login,name\n"
        "Jean.Dupont@Exämple.FR,jdupont2,Jean Dupont\n"
        "ce.0751234a@example.org,ce0751234a,\n",
        encoding="utf-8",
    )
    table = load_settings(path).providers[0].login.table
    assert dict(table) == {
        "jean.dupont@xn--exmple-cua.fr": ("jdupont2", "Jean Dupont"),
        "ce.0751234a@example.org": ("ce0751234a", None),
    }


# --- reading the file ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    error = load_error(path)
    assert error.source == str(path)
    assert_problem(
        error,
        path="(top level)",
        found=None,
        says="cannot read the file: No such file or directory",
        fix="check the path given to --settings",
    )


def test_file_not_utf8(tmp_path: Path) -> None:
    # The file's bytes are the subject: TOML text, saved in Latin-1.
    path = tmp_path / "latin1.toml"
    path.write_bytes(MINIMAL_TOML.replace("Example", "Exemple café").encode("latin-1"))
    line = MINIMAL_TOML.splitlines().index('name = "Example"') + 1
    assert_problem(
        load_error(path),
        path="(top level)",
        found=None,
        says=f"the file is not UTF-8 text: line {line} holds the byte 0xe9",
        fix="save it as UTF-8",
    )


def test_toml_syntax_error_names_the_line(write_toml: WriteToml) -> None:
    text = edit_toml(("port = 587", "port = 587\nsecurity starttls"))
    line = text.splitlines().index("security starttls") + 1
    error = load_error(write_toml(text))
    assert_problem(
        error,
        path="(top level)",
        found=None,
        says=f"not valid TOML: Expected '=' after a key in a key/value pair (at line {line}, column 10)",
        fix="correct the syntax there",
    )


def test_empty_file_asks_for_the_required_tables(write_toml: WriteToml) -> None:
    error = load_error(write_toml("# nothing yet\n"))
    assert_problem(
        error, path="service", found=None, says="this key is required", fix="add it: The service", count=2
    )
    assert_problem(
        error,
        path="providers",
        found=None,
        says="this key is required",
        fix="add it: The mail providers",
        count=2,
    )


# --- the files the settings name ----------------------------------------------------------------------


def test_overrides_file_missing(settings_file: SettingsFile) -> None:
    path = settings_file(provider=EXCEPTIONS)
    assert_problem(
        load_error(path),
        path="providers[0].login.overrides",
        found='"exceptions.csv"',
        says=f"no readable file at {path.parent / 'exceptions.csv'}",
        fix="write a path to an existing file; relative paths start from the settings file's folder",
    )


def test_overrides_without_header(settings_file: SettingsFile) -> None:
    path = settings_file(provider=EXCEPTIONS)
    csv_file = path.parent / "exceptions.csv"
    csv_file.write_text("jean.dupont@example.org,jdupont\n", encoding="utf-8")
    assert_problem(
        load_error(path),
        path="providers[0].login.overrides",
        found=shown_path(csv_file),
        says="exceptions.csv has no header with address and login",
        fix="write a CSV file whose first line is address,login (or address,login,name)",
    )


def test_overrides_bad_lines_are_named(settings_file: SettingsFile) -> None:
    path = settings_file(provider=EXCEPTIONS)
    (path.parent / "exceptions.csv").write_text(
        "address,login\n"
        "jean.dupont@example.org,jdupont\n"  # 2: fine
        "no-at-sign,x\n"  # 3: no @
        "marie.curie@example.org,\n"  # 4: no login
        "paul@intranet,paul\n"  # 5: not a domain
        "ok@example.org,ok\n"  # 6: fine
        'tab@example.org,"t\tb"\n',  # 7: control character
        encoding="utf-8",
    )
    assert_problem(
        load_error(path),
        path="providers[0].login.overrides",
        found=shown_path(path.parent / "exceptions.csv"),
        says="exceptions.csv: lines 3, 4, 5, 7 have no address of the form name@domain, no login, "
        "or control characters",
        fix="one person a line",
    )


def test_overrides_one_bad_line(settings_file: SettingsFile) -> None:
    path = settings_file(provider=EXCEPTIONS)
    (path.parent / "exceptions.csv").write_text("address,login\nnobody,x\n", encoding="utf-8")
    error = load_error(path)
    assert "exceptions.csv: line 2 has no address" in error.render()


def test_overrides_many_bad_lines_are_counted(settings_file: SettingsFile) -> None:
    path = settings_file(provider=EXCEPTIONS)
    (path.parent / "exceptions.csv").write_text("address,login\n" + "nobody,x\n" * 12, encoding="utf-8")
    error = load_error(path)
    assert "lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more have no address" in error.render()


def test_signing_files_missing(settings_file: SettingsFile) -> None:
    path = settings_file(signing={"certificate": "tls/cert.pem", "key": "tls/key.pem"})
    error = load_error(path)
    for key, name in (("certificate", "cert.pem"), ("key", "key.pem")):
        assert_problem(
            error,
            path=f"signing.{key}",
            found=f'"tls/{name}"',
            says=f"no readable file at {path.parent / 'tls' / name}",
            fix="relative paths start from the settings file's folder",
            count=2,
        )


def test_signing_chain_must_be_a_list(settings_file: SettingsFile) -> None:
    path = settings_file(signing={"certificate": "c.pem", "key": "k.pem", "chain": "ca.pem"})
    for name in ("c.pem", "k.pem", "ca.pem"):
        (path.parent / name).write_text("x", encoding="ascii")
    assert_problem(
        load_error(path),
        path="signing.chain",
        found='"ca.pem"',
        says="this must be a list",
        fix='write it in brackets, as a list of one: ["ca.pem"]',
    )


def test_signing_path_must_be_text(settings_file: SettingsFile) -> None:
    path = settings_file(signing={"certificate": 1, "key": "k.pem"})
    (path.parent / "k.pem").write_text("x", encoding="ascii")
    assert_problem(
        load_error(path), path="signing.certificate", found="1", says="this must be text", fix="double quotes"
    )


def test_an_unreadable_password_file_is_a_settings_problem(
    tmp_path: Path, settings_file: SettingsFile
) -> None:
    (tmp_path / "pw").write_bytes(b"\xff\xfe")
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    for name, reason in (("pw", "it is not UTF-8 text"), ("empty", "the file is empty")):
        # Loading reads the password file but never dials the directory: no server behind the URL.
        lookup = {"url": "ldap://127.0.0.1", "bind_dn": SERVICE_DN, "bind_password_file": name}
        directory = {"host": "ldap.example.org", "base_dn": "dc=example,dc=org", "lookup": lookup}
        path = settings_file(name=f"{name}.toml", provider={"directory": directory})
        with pytest.raises(SettingsError) as caught:
            load_settings(path)
        assert "providers[0].directory.lookup.bind_password_file" in caught.value.render()
        assert reason in caught.value.render()
