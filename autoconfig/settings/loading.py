"""Loading a settings file: the bytes, the TOML, the files it names, validation, and the checks that
span providers. Every problem found is reported at once (SettingsError)."""

from __future__ import annotations

import csv
import hashlib
import tomllib
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from autoconfig.addresses import address_key, parse_address
from autoconfig.domains import DomainNameError, to_ascii_domain
from autoconfig.errors import Problem, RequestError, SettingsError
from autoconfig.paths import default_settings_path

from .hosting import matches
from .models import Settings
from .report import problem_from, show, unwrap_model
from .types import CONTROL, FileKind, FileReads, FileRef, InvalidValue, Overrides, problem, resolve_path


def load_settings(path: Path | str | None = None) -> Settings:
    """Read and validate a settings file (the bundled default without a path), and the files it names.

    Raises SettingsError listing every problem found, each with key path, value, reason and fix.
    """
    source = Path(path) if path is not None else default_settings_path()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(
            source,
            [Problem("", None, f"cannot read the file: {reason}", "check the path given to --settings")],
        ) from None
    return settings_from_bytes(raw, source)


def settings_from_bytes(raw: bytes, source: Path, files: Mapping[Path, bytes] | None = None) -> Settings:
    """Validate a settings file's bytes. The files it names are read from disk, or, with `files`, taken
    from there (a snapshot of what another process read and validated: see snapshot.py)."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"the file is not UTF-8 text: line {line} holds the byte 0x{raw[exc.start]:02x}"
        raise SettingsError(
            source, [Problem("", None, message, "save it as UTF-8 (in your editor: Save As, encoding UTF-8)")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            source,
            [
                Problem(
                    "",
                    None,
                    f"not valid TOML: {exc}",
                    "correct the syntax there: text in quotes, tables as [name], lists of tables as [[name]]",
                )
            ],
        ) from None
    digest = hashlib.sha256(raw).hexdigest()
    return settings_from_dict(data, source=source, digest=digest, raw=raw, files=files)


def settings_from_dict(
    data: dict[str, Any],
    *,
    source: Path,
    digest: str = "",
    raw: bytes = b"",
    files: Mapping[Path, bytes] | None = None,
) -> Settings:
    """Validate settings as TOML holds them; `source` is where relative file paths start from."""
    # The files the settings name are read here, before validation; the validators raise what was found
    # at their own key, so that a missing file is reported in its place among the other problems.
    reads = read_files(data, source.parent, files)
    context = {"base_dir": source.parent, "files": reads}
    # Rules that span providers are checked on the raw data, so that they are reported with the rest.
    problems = list(_cross_checks(data))
    try:
        settings = Settings.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        # A list whose entries failed is also "too short" once they are dropped: say only the first.
        failed = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
        kept = [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed)]
        raise SettingsError(source, [*(problem_from(err) for err in kept), *problems]) from None
    if problems:
        raise SettingsError(source, problems)
    settings.loaded_from(source, digest, raw, reads.contents)
    return settings


def read_files(
    data: Mapping[str, Any], base_dir: Path, snapshot: Mapping[Path, bytes] | None = None
) -> FileReads:
    """Read the files the raw settings name (found by their FileRef type), keep their bytes, and note
    what is wrong. With `snapshot`, the files are taken from it instead of the disk."""
    reads = FileReads()
    for kind, path in named_files(data, base_dir):
        content = _read(path, snapshot)
        reads.contents[path] = content
        if isinstance(content, FileNotFoundError | IsADirectoryError):
            reads.problems[(kind, path)] = problem(
                "missing_file",
                f"no readable file at {path}",
                "write a path to an existing file; relative paths start from the settings file's folder",
            )
        elif kind == "secret":
            found = _check_secret(content)
            if found is not None:
                reads.problems[(kind, path)] = found
        elif kind == "overrides":
            reads.overrides[path] = _read_overrides(path, content)
    return reads


def _read(path: Path, snapshot: Mapping[Path, bytes] | None) -> bytes | OSError:
    if snapshot is not None:
        return snapshot[path] if path in snapshot else FileNotFoundError(2, "not in the snapshot", str(path))
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


def named_files(data: Any, base_dir: Path) -> Iterator[tuple[FileKind, Path]]:
    """The files raw settings name (the values whose type is a FileRef), at their paths as written."""
    return _named_files(Settings, data, base_dir)


def _named_files(model: type[BaseModel], data: Any, base_dir: Path) -> Iterator[tuple[FileKind, Path]]:
    if not isinstance(data, Mapping):
        return
    for name, field in model.model_fields.items():
        value = data.get(name)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        ref = _file_ref(field.annotation, tuple(field.metadata))
        if ref is not None:
            yield from ((ref.kind, resolve_path(item, base_dir)) for item in items if isinstance(item, str))
            continue
        table = unwrap_model(field.annotation)
        if table is not None:
            for item in items:
                yield from _named_files(table, item, base_dir)


def _file_ref(annotation: Any, metadata: tuple[Any, ...] = ()) -> FileRef | None:
    # The marker sits in the field's own metadata, or inside an Optional, a tuple or an Annotated.
    for item in metadata:
        if isinstance(item, FileRef):
            return item
    if typing.get_origin(annotation) is Annotated:
        base, *extra = typing.get_args(annotation)
        return _file_ref(base, tuple(extra))
    for arg in typing.get_args(annotation):
        found = _file_ref(arg)
        if found is not None:
            return found
    return None


def _check_secret(content: bytes | OSError) -> InvalidValue | None:
    # Checked readable now, so that `check` and `serve` refuse it with the others; it is used where it
    # is needed (directory.py), from the bytes read here.
    try:
        if isinstance(content, OSError):
            raise content
        readable = bool(content.decode("utf-8").strip())
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is not UTF-8 text"
        return problem(
            "unreadable_secret",
            f"the file cannot be read: {reason}",
            "give a UTF-8 text file holding the password, readable by the service's user",
        )
    if not readable:
        return problem("empty_secret", "the file is empty", "write the password in it, on one line")
    return None


def _read_overrides(path: Path, content: bytes | OSError) -> Overrides | InvalidValue:
    fix = "write a CSV file whose first line is address,login (or address,login,name), one person a line"
    try:
        if isinstance(content, OSError):
            raise content
        text = content.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return problem("bad_overrides", f"cannot read {path}: {exc}", fix)
    rows = csv.DictReader(text.splitlines())
    if rows.fieldnames is None or not {"address", "login"} <= set(rows.fieldnames):
        return problem("bad_overrides", f"{path.name} has no header with address and login", fix)
    table: Overrides = {}
    bad: list[str] = []
    for row in rows:
        address = (row.get("address") or "").strip()
        login = (row.get("login") or "").strip()
        name = (row.get("name") or "").strip() or None
        if not login or CONTROL.search(login + (name or "")):
            bad.append(str(rows.line_num))
            continue
        try:
            key = address_key(*parse_address(address))
        except RequestError:
            bad.append(str(rows.line_num))
            continue
        table[key] = (login, name)
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        lines = f"line {bad[0]} has" if len(bad) == 1 else f"lines {', '.join(bad[:10])}{more} have"
        return problem(
            "bad_overrides",
            f"{path.name}: {lines} no address of the form name@domain, no login, or control characters",
            fix,
        )
    return table


def _normalised_domain(value: Any) -> str | None:
    # The A-label form of a domain as written, or None when it is not one (reported elsewhere).
    if not isinstance(value, str):
        return None
    try:
        return to_ascii_domain(value)
    except DomainNameError:
        return None


def _cross_checks(data: Mapping[str, Any]) -> Iterator[Problem]:
    """Rules that span providers: ids and domains given twice. Values invalid on their own are skipped."""
    providers = data.get("providers")
    if not isinstance(providers, list):
        return
    seen_ids: dict[str, int] = {}
    seen_domains: dict[str, int] = {}
    seen_mx: dict[str, int] = {}
    for i, provider in enumerate(providers):
        if not isinstance(provider, Mapping):
            continue
        provider_id = _normalised_domain(provider.get("id"))
        if provider_id is not None and provider_id in seen_ids:
            yield Problem(
                f"providers[{i}].id",
                show(provider.get("id")),
                f"providers[{seen_ids[provider_id]}] has the same id",
                "give every provider its own id",
            )
        if provider_id is not None:
            seen_ids.setdefault(provider_id, i)
        # Domains and aliases share one space: an address's domain must lead to one provider, one way.
        for key in ("domains", "aliases"):
            listed = provider.get(key)
            for j, written in enumerate(listed if isinstance(listed, list) else []):
                domain = _normalised_domain(written)
                if domain is None:
                    continue
                if domain in seen_domains:
                    owner = seen_domains[domain]
                    where = "earlier in this provider" if owner == i else f"in providers[{owner}]"
                    yield Problem(
                        f"providers[{i}].{key}[{j}]",
                        show(written),
                        f"this domain is listed {where} already; a domain belongs to one provider, "
                        "as a domain or as an alias",
                        "remove the repeated domain",
                    )
                seen_domains.setdefault(domain, i)
        yield from _mx_given_twice(provider, i, seen_mx)


def _mx_given_twice(provider: Mapping[str, Any], i: int, seen: dict[str, int]) -> Iterator[Problem]:
    # A customer domain's MX must lead to one provider: its login rule and servers are the answer. A
    # pattern overlaps another when either names a host the other does (`*.mail.x` and `mx1.mail.x`).
    hosting = provider.get("hosting")
    listed = hosting.get("mx") if isinstance(hosting, Mapping) else None
    for j, written in enumerate(listed if isinstance(listed, list) else []):
        if not isinstance(written, str):
            continue
        pattern = written.strip().lower().rstrip(".")
        other = next((p for p, owner in seen.items() if owner != i and _overlap(p, pattern)), None)
        if other is not None:
            yield Problem(
                f"providers[{i}].hosting.mx[{j}]",
                show(written),
                f"providers[{seen[other]}] hosts mail on this MX host already ({other}); an MX host "
                "belongs to one provider",
                "remove it from one of the two providers",
            )
        seen.setdefault(pattern, i)


def _overlap(one: str, other: str) -> bool:
    return matches(one, other.removeprefix("*.")) or matches(other, one.removeprefix("*."))
