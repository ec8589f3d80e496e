"""The Kubernetes manifests of deploy/kubernetes/ as data, and the files a pod sees at its mounts: read
by the manifest tests and by the test that `check` and `serve` agree on every shipped layout."""

from __future__ import annotations

import base64
import functools
import secrets
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml  # type: ignore[import-untyped]  # kubernetes-validate's own YAML reader

from tests.helpers.certs import make_chain
from tests.helpers.paths import ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"
FILES = sorted(MANIFESTS.glob("*.yaml"))
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
SERVICE_MONITOR = MANIFESTS / "servicemonitor.yaml"
# Kinds that are no Kubernetes API object (kustomize's) or need a CRD (the Prometheus Operator's): no
# schema ships for them, their fields are checked below.
UNSCHEMED = (KUSTOMIZATION, SERVICE_MONITOR)


# --- reading the manifests -----------------------------------------------------------------------------


def _duplicate_keys(node: Any) -> Iterator[str]:
    # PyYAML keeps the last of two equal keys silently; the API server refuses the object.
    if isinstance(node, yaml.MappingNode):
        keys = [key.value for key, _ in node.value]
        yield from sorted({f"{key} (line {node.start_mark.line + 1})" for key in keys if keys.count(key) > 1})
        for _, value in node.value:
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


@functools.cache
def documents(path: Path) -> tuple[dict[str, Any], ...]:
    text = path.read_text(encoding="utf-8")
    for node in yaml.compose_all(text):
        duplicates = list(_duplicate_keys(node))
        assert not duplicates, f"{path.name}: keys given twice: {duplicates}"
    return tuple(document for document in yaml.safe_load_all(text) if document is not None)


def resources() -> list[dict[str, Any]]:
    """Every object of the manifests, the kustomization aside."""
    return [document for path in FILES if path != KUSTOMIZATION for document in documents(path)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in resources() if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment")["spec"]["template"]
    return spec


def container() -> dict[str, Any]:
    (only,) = pod()["spec"]["containers"]
    return dict(only)


def volumes() -> dict[str, dict[str, Any]]:
    return {volume["name"]: volume for volume in pod()["spec"]["volumes"]}


def env() -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container().get("env", [])}


def container_port(port: int | str) -> int:
    """A port as a probe or the Service names it (number or name), as the container's port number."""
    by_name = {p["name"]: p["containerPort"] for p in container()["ports"]}
    number = by_name.get(port, port) if isinstance(port, str) else port
    assert number in by_name.values(), f"{port} is no port of the container"
    return int(number)


def selected(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def secret_data(name: str) -> dict[str, bytes]:
    secret = one("Secret", name)
    data = {key: base64.b64decode(value) for key, value in secret.get("data", {}).items()}
    data.update({key: value.encode() for key, value in secret.get("stringData", {}).items()})
    return data


def settings_text() -> str:
    text: str = one("ConfigMap")["data"]["settings.toml"]
    return text


def settings_data() -> dict[str, Any]:
    return tomllib.loads(settings_text())


# --- the pod's files, below a folder -------------------------------------------------------------------


def pod_files(folder: Path, given: dict[str, dict[str, bytes]] | None = None) -> Path:
    """Write what the container sees at its volume mounts below `folder` (mount /etc/autoconfig is
    folder/etc/autoconfig): the ConfigMap's keys and the Secrets' keys, the Secrets' values from `given`
    (by Secret name) where it has them, else the manifests' placeholders. Returns the settings file."""
    for mount in container()["volumeMounts"]:
        source = volumes()[mount["name"]]
        target = folder / PurePosixPath(mount["mountPath"]).relative_to("/")
        target.mkdir(parents=True, exist_ok=True)
        if "configMap" in source:
            reference = source["configMap"]
            data = {k: v.encode() for k, v in one("ConfigMap", reference["name"])["data"].items()}
        elif "secret" in source:
            reference = source["secret"]
            data = secret_data(reference["secretName"]) | (given or {}).get(reference["secretName"], {})
        else:
            continue
        names = {item["key"]: item["path"] for item in reference.get("items", [])} or {k: k for k in data}
        for key, path in names.items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(data[key])
    return folder / PurePosixPath(env()["AUTOCONFIG_SETTINGS"]).relative_to("/")


def real_secrets(folder: Path) -> dict[str, dict[str, bytes]]:
    """What an IT team puts in the two Secrets: a signing certificate with its chain, and keys."""
    chain = make_chain(name="Kubernetes").write(folder / "chain")
    return {
        "autoconfig-signing": {"tls.crt": chain.fullchain.read_bytes(), "tls.key": chain.key.read_bytes()},
        "autoconfig-secrets": {
            "log-hash-key": base64.b64encode(secrets.token_bytes(32)),
            "ldap-password": b"not-a-real-password\n",
        },
    }


def mount_of(path: PurePosixPath) -> dict[str, Any]:
    """The volume mount a path in the container lies on (the deepest one)."""
    mounts = [m for m in container()["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    assert mounts, f"{path} is on no volume"
    return max(mounts, key=lambda m: len(m["mountPath"]))


def uncommented(text: str, header: str) -> str:
    """The settings with a commented-out table (`# [header]` and the `# key = …` lines after it) in use."""
    lines = text.splitlines()
    start = lines.index(f"# [{header}]")
    end = start
    while end < len(lines) and lines[end].startswith("# "):
        lines[end] = lines[end][2:]
        end += 1
    return "\n".join(lines) + "\n"
