"""The login rule: how a person's login is derived from their address."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from .types import (
    TEMPLATE_BUILTINS,
    FileReads,
    InvalidValue,
    LoginForm,
    Model,
    Overrides,
    OverridesPath,
    problem,
)

# Letters that Unicode does not decompose but people spell out when they write without accents.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "ı": "i"})  # noqa: RUF001 - the dotless i is meant


def fold(text: str) -> str:
    """Lower case without accents, as the rule's patterns read a local part: `Jérôme` -> `jerome`,
    `Cœur` -> `coeur`."""
    if text.isascii():  # nothing to decompose, no ligature
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class LoginRule(Model):
    pattern: str | None = Field(
        default=None,
        description=(
            "Regular expression matched against the whole local part, lower-cased and with accents "
            "folded; its named groups feed `template`. Write it between single quotes."
        ),
    )
    template: str | None = Field(
        default=None,
        description=(
            "The login built from the pattern's groups and `localpart`, `domain`, `address`: `{name}` or "
            "`{name:.N}` (its first N characters), e.g. `{first:.1}{last}{n}`."
        ),
    )
    remove: str = Field(
        default="",
        description=(
            'Characters deleted from a login built by the template, e.g. `"-\'."` to drop hyphens, '
            "apostrophes and dots."
        ),
    )
    fallback: LoginForm = Field(
        default="%EMAILADDRESS%",
        description=(
            "The login when there is no address (sent as is, for the client to fill in) or when the "
            "pattern does not match (filled in here): `%EMAILADDRESS%`, `%EMAILLOCALPART%`, "
            "`%EMAILDOMAIN%` and literal text."
        ),
    )
    overrides: OverridesPath | None = Field(
        default=None,
        description=(
            "CSV file of exceptions to the rule: a header `address,login` (and optionally `name`), one "
            "person a line."
        ),
    )
    address_accepted: bool = Field(
        default=False,
        description=(
            "The mail servers also accept the full address as the login. Answers that name no person "
            "(Thunderbird for Android and K-9 Mail never send the address; `autoconfig render` writes "
            "files for no one) then give `%EMAILADDRESS%`, which every client fills in right, instead "
            "of a `fallback` that the pattern, the overrides or the directory would contradict."
        ),
    )

    _regex: re.Pattern[str] | None = PrivateAttr(default=None)
    _table: Overrides = PrivateAttr(default_factory=dict)

    # Each part is checked on its own, so that its problem is reported with every other one in the file
    # (a table's own validator runs only once all its keys are valid).
    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            _compile_pattern(pattern)
        return pattern

    @field_validator("template")
    @classmethod
    def _template_fits_the_pattern(cls, template: str | None, info: ValidationInfo) -> str | None:
        pattern = info.data.get("pattern")  # absent when the pattern itself was refused
        if template is not None and pattern is not None:
            _check_template(template, set(re.compile(pattern).groupindex))
        return template

    @field_validator("overrides")
    @classmethod
    def _overrides_read(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is not None:
            _overrides_table(path, info)  # raises what the loader found wrong in the file
        return path

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> LoginRule:
        if (self.pattern is None) != (self.template is None):
            given, absent = ("pattern", "template") if self.template is None else ("template", "pattern")
            raise problem(
                "incomplete_rule",
                f"{given} is set but {absent} is not; pattern and template go together",
                "give both pattern and template, or neither to always use fallback",
                key=absent,
            )
        if self.pattern is not None:
            self._regex = re.compile(self.pattern)
        if self.overrides is not None:
            self._table = _overrides_table(self.overrides, info)
        return self

    @property
    def exact_without_address(self) -> bool:
        """Whether `fallback` gives every person's login: no pattern, no overrides (the directory, which
        the provider may also ask, is checked where it is known)."""
        return self.pattern is None and self.overrides is None

    @property
    def regex(self) -> re.Pattern[str] | None:
        return self._regex

    def derive(self, local: str, domain: str) -> str | None:
        """The login the pattern and template make of an address, or None when they do not apply (the
        caller then uses `fallback`)."""
        regex, template = self._regex, self.template
        if regex is None or template is None:
            return None
        folded = fold(local)
        match = regex.fullmatch(folded)
        if match is None:
            return None
        fields = {k: v or "" for k, v in match.groupdict().items()}
        fields.update(localpart=folded, domain=domain, address=f"{folded}@{domain}")
        login = template.format_map(fields)
        if self.remove:
            login = login.translate(str.maketrans("", "", self.remove))
        # Folding can turn a rare letter into a space (U+037A, U+FDFA): such a login is no login.
        if login and login.isprintable() and not any(c.isspace() for c in login):
            return login
        return None

    @property
    def table(self) -> Mapping[str, tuple[str, str | None]]:
        """Overrides: normalised address -> (login, display name or None)."""
        return self._table


def _overrides_table(path: Path, info: ValidationInfo) -> Overrides:
    # The loader read and parsed the file (loading.py); a problem in it is reported at this key.
    reads = (info.context or {}).get("files")
    if not isinstance(reads, FileReads):
        return {}
    read = reads.overrides.get(path, {})
    if isinstance(read, InvalidValue):
        raise problem(read.code, read.message, read.fix, found=str(path))
    return read


def compile_regex(pattern: str) -> re.Pattern[str]:
    """A regular expression of the settings, or the problem that names why it does not compile."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise problem(
            "bad_pattern",
            f"the regular expression does not compile: {exc}",
            "correct it; in TOML write it between single quotes so backslashes stay as they are",
        ) from None


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    regex = compile_regex(pattern)
    if not regex.groupindex:
        raise problem(
            "bad_pattern",
            "the regular expression has no named group",
            "name the parts the template uses, such as (?P<first>[a-z]+)",
        )
    return regex


def _check_template(template: str, groups: set[str]) -> None:
    allowed = groups | set(TEMPLATE_BUILTINS)
    fix = f"use only {{name}} or {{name:.N}} with a name from: {', '.join(sorted(allowed))}"
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise problem("bad_template", f"the template is malformed: {exc}", fix) from None
    if not any(name for _, name, _, _ in fields):
        raise problem("bad_template", "the template uses no field", fix)
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in allowed or conversion or (spec and not re.fullmatch(r"\.[1-9][0-9]?", spec)):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise problem("bad_template", f"{shown} is not a field the template can use", fix)
