"""The address form (`[providers.address_form]`): what it accepts, and `check` reporting a form the login
rule cannot read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoconfig.settings import AddressForm, load_settings
from autoconfig.settings.reference import settings_reference
from tests.helpers.commands import autoconfig
from tests.helpers.settings import settings_data, write_settings
from tests.helpers.settings_checks import assert_problem, load_error

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
# The Académie's rule (profiles/ac-paris.toml) and its form, as data.
PARIS_RULE = {
    "pattern": r"^(?P<first>[a-z]+)(?:[-\x27][a-z]+)*\.(?P<last>[a-z][a-z.\x27-]*?)(?P<n>[0-9]*)$",
    "template": "{first:.1}{last}{n}",
    "remove": ".'",
    "fallback": "%EMAILLOCALPART%",
}
PARIS_FORM = {
    "pattern": r"^[a-z]+(?:[-\x27][a-z]+)*\.[a-z]+(?:[-.\x27][a-z]+)*[0-9]*$",
    "example": "jean.dupont",
    "description": {"fr": "prénom.nom", "en": "firstname.lastname"},
    "also_valid": [r"^ce\.[0-9]{7}[a-z]$"],
}


def write(tmp_path: Path, **provider: Any) -> Path:
    return write_settings(tmp_path, settings_data(provider=provider))


@pytest.mark.parametrize("name", ["ac-paris.toml", "ile-de-france.toml"])
def test_bundled_profiles_state_the_form_of_paris(name: str) -> None:
    paris = load_settings(PROFILES / name).providers[0]
    form = paris.address_form
    assert form is not None
    assert form.example == "jean.dupont"
    assert form.description.get("fr") == "prénom.nom"
    assert form.description.get("en") == "firstname.lastname"


# The README's table: every person's address fits; the login typed as an address does not; a school's
# functional mailbox is right, by the other form.
@pytest.mark.parametrize(
    ("local", "fits"),
    [
        ("jean.dupont", True),
        ("jean-pierre.dupont2", True),
        ("marie.martin-durand", True),
        ("jean.de.la.fontaine", True),
        ("élodie.mérand", True),
        ("Jean.Dupont", True),  # matched folded, as the login rule is
        ("jean.d'alembert", True),
        ("ce.0751234a", True),
        ("jdupont", False),
        ("jdupont2", False),
        ("marie", False),
        ("jean.", False),
        ("jean.dupont.", False),
        ("2jean.dupont", False),
        ("ce.075123a", False),  # a UAI is seven digits and a letter
    ],
)
def test_the_paris_form(local: str, fits: bool) -> None:
    form = load_settings(PROFILES / "ac-paris.toml").providers[0].address_form
    assert form is not None
    assert form.fits(local) is fits


def test_a_form_is_optional_and_absent_by_default(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path)).providers[0].address_form is None


def test_a_form_without_a_login_pattern_is_accepted(tmp_path: Path) -> None:
    # The rule gives every address its login by fallback: nothing in the form for it to read.
    settings = load_settings(write(tmp_path, address_form=PARIS_FORM))
    assert isinstance(settings.providers[0].address_form, AddressForm)


def test_check_reports_an_example_off_its_form(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, login=PARIS_RULE, address_form={**PARIS_FORM, "example": "jdupont"}))
    assert_problem(
        error,
        path="providers[0].address_form.example",
        found='"jdupont"',
        says="the example does not fit the form's pattern",
        fix="write an example of the form your addresses have",
    )


def test_check_reports_a_form_the_login_rule_cannot_read(tmp_path: Path) -> None:
    # The form says nom_prenom; the rule reads prenom.nom: every such address would get the fallback.
    form = {**PARIS_FORM, "pattern": r"^[a-z]+_[a-z]+$", "example": "dupont_jean"}
    error = load_error(write(tmp_path, login=PARIS_RULE, address_form=form))
    assert_problem(
        error,
        path="providers[0].address_form.example",
        found='"dupont_jean"',
        says="the login rule cannot read this form",
        fix="make login.pattern match addresses of this form",
    )


def test_a_form_problem_is_reported_with_the_others(tmp_path: Path) -> None:
    form = {**PARIS_FORM, "pattern": r"^[a-z]+_[a-z]+$", "example": "dupont_jean"}
    path = write(tmp_path, login=PARIS_RULE, address_form=form, name="")
    error = load_error(path)
    assert {p.path for p in error.problems} == {"providers[0].name", "providers[0].address_form.example"}


@pytest.mark.parametrize(
    ("change", "path", "says"),
    [
        ({"pattern": "^[a-z+$"}, "providers[0].address_form.pattern", "does not compile"),
        ({"also_valid": ["^ce\\.(["]}, "providers[0].address_form.also_valid", "does not compile"),
        ({"description": {"fr": ""}}, "providers[0].address_form.description", "the text is empty"),
    ],
)
def test_check_reports_a_broken_form(tmp_path: Path, change: dict[str, Any], path: str, says: str) -> None:
    error = load_error(write(tmp_path, address_form={**PARIS_FORM, **change}))
    assert len(error.problems) == 1, error.render()
    (problem,) = error.problems
    assert problem.path == path, error.render()
    assert says in problem.message, error.render()


def test_check_command_names_the_key_and_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, login=PARIS_RULE, address_form={**PARIS_FORM, "example": "jdupont"})
    result = autoconfig("check", "--settings", str(path))
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    assert 'providers[0].address_form.example: found "jdupont"' in text
    assert "fix: write an example of the form your addresses have" in text


def test_the_reference_lists_every_key_of_the_form() -> None:
    reference = settings_reference()
    for key in ("address_form", "pattern", "example", "description", "also_valid"):
        path = "providers" + ("" if key == "address_form" else ".address_form") + f".{key}"
        assert f"| `{path}` |" in reference
