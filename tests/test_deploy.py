"""The Kubernetes manifests (deploy/kubernetes/), without a cluster.

Every resource is validated offline against the Kubernetes schemas that kubernetes-validate ships, in
strict mode (a misspelt or misplaced field fails), for the oldest and the newest version meant. Then what
no schema sees: the settings in the ConfigMap load with the files the pod mounts where they name them, the
placeholders are refused, the container runs the image as the Dockerfile builds it, the probes, the
Service, the budget, the autoscaler, the Ingress and the ServiceMonitor find the pods, the ConfigMap can
reach running pods (no subPath), and the root filesystem is read-only with /tmp and the state folder
writable.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]  # kubernetes-validate's own YAML reader

from autoconfig.cli import main
from autoconfig.errors import SettingsError
from autoconfig.formats.signing import signer_for
from autoconfig.serving.startup import serving_snapshot
from autoconfig.serving.worker import GRACEFUL_SHUTDOWN_SECONDS
from autoconfig.web.routes import endpoint_for
from tests.helpers.ci import require
from tests.helpers.dockerfile import instructions
from tests.helpers.kubernetes import (
    FILES,
    KUSTOMIZATION,
    MANIFESTS,
    SERVICE_MONITOR,
    UNSCHEMED,
    container,
    container_port,
    documents,
    env,
    mount_of,
    one,
    pod,
    pod_files,
    real_secrets,
    resources,
    selected,
    settings_data,
    uncommented,
    volumes,
)
from tests.helpers.paths import ROOT

DOCKERFILE = ROOT / "Dockerfile"
# The oldest Kubernetes the manifests are meant for, and the newest the installed validator knows.
KUBERNETES = ("1.30", kubernetes_validate.latest_version())
# The supervisor waits this much beyond the workers' graceful shutdown before it kills them.
SUPERVISOR_MARGIN_SECONDS = 5


# --- the Dockerfile ------------------------------------------------------------------------------------


def dockerfile_stage() -> dict[str, Any]:
    """ENTRYPOINT, CMD, USER, ENV and EXPOSE of the Dockerfile's last stage (the image that runs)."""
    stage: dict[str, Any] = {}
    for word, arguments in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if word == "FROM":
            stage = {"ENV": {}, "EXPOSE": []}
        elif word in ("ENTRYPOINT", "CMD"):
            stage[word] = json.loads(arguments)
        elif word == "USER":
            stage[word] = arguments.strip()
        elif word == "ENV":
            stage["ENV"].update(pair.split("=", 1) for pair in arguments.split())
        elif word == "EXPOSE":
            stage["EXPOSE"] += [int(port.split("/")[0]) for port in arguments.split()]
    return stage


# --- the schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("path", [p for p in FILES if p not in UNSCHEMED], ids=lambda p: p.name)
def test_every_resource_is_valid_for_kubernetes(path: Path, version: str) -> None:
    assert documents(path), f"{path.name} holds no resource"
    for document in documents(path):
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{path.name}: {document['kind']} {where}: {exc.message} (Kubernetes {exc.version})")


def test_the_validator_refuses_an_unknown_field() -> None:
    # Strict mode is what makes the test above worth having: a misspelt field is no silent default.
    deployment = json.loads(json.dumps(one("Deployment")))
    context = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES[-1], strict=True)


def test_the_kustomization_applies_every_manifest_but_the_service_monitor() -> None:
    (kustomization,) = documents(KUSTOMIZATION)
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert set(kustomization) == {"apiVersion", "kind", "namespace", "resources"}
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    # The ServiceMonitor needs the Prometheus Operator's CRD: applied on its own where that runs.
    assert set(listed) == {p.name for p in FILES} - {p.name for p in UNSCHEMED}
    namespace = one("Namespace")["metadata"]["name"]
    assert kustomization["namespace"] == namespace
    # Each file names the namespace too, so that `kubectl apply -f FILE` puts it in the same place.
    for resource in resources():
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == namespace, resource["kind"]


def test_kubectl_builds_the_kustomization() -> None:
    kubectl = require(
        shutil.which("kubectl"),
        "kubectl is not installed (Debian: apt-get install kubernetes-client; tests/run installs it)",
        "build the kustomization as `kubectl apply -k` would",
    )
    built = subprocess.run(
        [kubectl, "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    objects = [document for document in yaml.safe_load_all(built) if document is not None]
    expected = [r for r in resources() if r["kind"] != "ServiceMonitor"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        (r["kind"], r["metadata"]["name"]) for r in expected
    )
    for document in objects:
        kubernetes_validate.validate(document, KUBERNETES[-1], strict=True)


def test_the_service_monitor_scrapes_the_service() -> None:
    (monitor,) = documents(SERVICE_MONITOR)
    service = one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert selected(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert endpoint.get("scheme", "http") == "http"  # the service speaks plain HTTP
    assert endpoint_for("/metrics") is not None
    # Prometheus scrapes from the pod network: metrics_networks must allow more than loopback.
    networks = [ipaddress.ip_network(n) for n in settings_data()["service"]["metrics_networks"]]
    assert any(not network.is_loopback for network in networks)


# --- the settings the pods see -------------------------------------------------------------------------


def test_the_settings_the_pods_see_load_with_the_files_they_mount(tmp_path: Path) -> None:
    folder = (tmp_path / "pod").resolve()
    path = pod_files(folder, real_secrets(tmp_path))
    snapshot, _ = serving_snapshot(path)  # what `autoconfig serve` checks before it starts
    settings = snapshot.settings()
    signer = signer_for(settings)
    # Every replica signs with the Secret's certificate, none with a development one of its own.
    assert settings.signing is not None
    assert signer is not None
    assert not signer.development
    assert snapshot.log_hash_key is not None
    assert settings.service.watch_seconds > 0  # an updated ConfigMap or Secret reaches running pods
    assert settings.service.trusted_proxies  # the ingress controller's X-Forwarded-For
    # Each file the settings name comes from a Secret the Deployment mounts, none from the ConfigMap.
    assert settings.referenced_files()
    for named in settings.referenced_files():
        mount = mount_of(PurePosixPath("/") / named.relative_to(folder))
        assert "secret" in volumes()[mount["name"]], named


def test_the_directory_lookup_once_uncommented_reads_its_password_from_a_secret(tmp_path: Path) -> None:
    folder = (tmp_path / "pod").resolve()
    path = pod_files(folder, real_secrets(tmp_path))
    path.write_text(uncommented(path.read_text(encoding="utf-8"), "providers.directory.lookup"))
    settings = serving_snapshot(path)[0].settings()
    directory = settings.providers[0].directory
    assert directory is not None
    assert directory.lookup is not None
    password = directory.lookup.bind_password_file
    assert password is not None
    mount = mount_of(PurePosixPath("/") / password.relative_to(folder))
    assert volumes()[mount["name"]]["secret"]["secretName"] == "autoconfig-secrets"


def test_the_placeholders_are_refused(tmp_path: Path) -> None:
    # Applied unedited, the pods refuse to start rather than serve unsigned, or with a published key.
    with pytest.raises(SettingsError) as unsigned:
        serving_snapshot(pod_files(tmp_path / "as-shipped"))
    assert {problem.path for problem in unsigned.value.problems} >= {"signing.certificate", "signing.key"}
    given = real_secrets(tmp_path)
    del given["autoconfig-secrets"]
    with pytest.raises(SettingsError) as unkeyed:
        serving_snapshot(pod_files(tmp_path / "signing-only", given))
    assert [problem.path for problem in unkeyed.value.problems] == ["service.log_hash_key_file"]


def test_the_ingress_serves_every_domain_of_the_settings() -> None:
    ingress = one("Ingress")
    service = one("Service")
    data = settings_data()
    expected = {urlsplit(data["service"]["public_url"]).hostname}
    for provider in data["providers"]:
        expected |= {
            f"{name}.{domain}" for domain in provider["domains"] for name in ("autoconfig", "autodiscover")
        }
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts >= expected
    assert {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]} >= hosts
    port_names = {port["name"] for port in service["spec"]["ports"]}
    for rule in ingress["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            assert (route["path"], route["pathType"]) == ("/", "Prefix")  # Outlook POSTs, pages, profiles
            assert route["backend"]["service"]["name"] == service["metadata"]["name"]
            assert route["backend"]["service"]["port"]["name"] in port_names


# --- the Deployment ------------------------------------------------------------------------------------


def test_the_container_runs_the_image_as_built() -> None:
    stage = dockerfile_stage()
    served = container()
    # No `command`: the image's ENTRYPOINT runs, the args take the place of its CMD.
    assert "command" not in served
    entrypoint = stage["ENTRYPOINT"]
    assert entrypoint[:2] == ["autoconfig", "serve"]
    options = main.commands["serve"].make_context("serve", [*entrypoint[2:], *served["args"]]).params
    assert options["host"] == "0.0.0.0"  # noqa: S104 - every interface of the pod
    assert options["workers"] >= 2
    ports = [port["containerPort"] for port in served["ports"]]
    assert ports == [options["port"]]
    assert options["port"] in stage["EXPOSE"]
    assert env()["AUTOCONFIG_STATE_DIR"] == stage["ENV"]["AUTOCONFIG_STATE_DIR"]
    uid = int(stage["USER"].split(":")[0])
    assert pod()["spec"]["securityContext"]["runAsUser"] == uid
    assert served["securityContext"]["runAsUser"] == uid
    # The settings file is the ConfigMap's key, at the mount the ConfigMap is on.
    settings = PurePosixPath(env()["AUTOCONFIG_SETTINGS"])
    mount = mount_of(settings)
    reference = volumes()[mount["name"]]["configMap"]
    assert reference["name"] == one("ConfigMap")["metadata"]["name"]
    assert str(settings.relative_to(mount["mountPath"])) in one("ConfigMap")["data"]


def test_the_probes_ask_healthz_on_the_container_port() -> None:
    assert endpoint_for("/healthz") is not None
    served = container()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = served[probe]["httpGet"]
        assert check["path"] == "/healthz", probe
        assert container_port(check["port"]) == 8080, probe
        assert check.get("scheme", "HTTP") == "HTTP", probe


def test_the_service_the_budget_and_the_autoscaler_find_the_pods() -> None:
    deployment = one("Deployment")
    labels = pod()["metadata"]["labels"]
    assert selected(deployment["spec"]["selector"]["matchLabels"], labels)
    service = one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert selected(service["spec"]["selector"], labels)
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 80)
    assert container_port(port["targetPort"]) == 8080
    budget = one("PodDisruptionBudget")
    assert selected(budget["spec"]["selector"]["matchLabels"], labels)
    # A drain can evict one pod while another serves.
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    autoscaler = one("HorizontalPodAutoscaler")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert deployment["spec"]["replicas"] == autoscaler["spec"]["minReplicas"] >= 2
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in container()["resources"]["requests"]  # utilization is relative to the request
    for spread in pod()["spec"]["topologySpreadConstraints"]:
        assert selected(spread["labelSelector"]["matchLabels"], labels)


def test_an_updated_config_map_reaches_the_running_pods() -> None:
    # The kubelet updates a ConfigMap or Secret volume in place, never a subPath mount of one.
    for mount in container()["volumeMounts"]:
        assert "subPath" not in mount, mount["name"]
        assert "subPathExpr" not in mount, mount["name"]
    # The supervisor notices the change and reloads in place.
    assert settings_data()["service"]["watch_seconds"] > 0


def test_the_root_is_read_only_and_tmp_and_the_state_folder_are_writable() -> None:
    spec = pod()["spec"]
    context = container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]
    assert context["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    # The workers' metrics files go to Python's temporary folder; the state folder is the image's.
    for path in ("/tmp", env()["AUTOCONFIG_STATE_DIR"]):  # noqa: S108 - the pod's own emptyDir
        mount = mount_of(PurePosixPath(path))
        assert mount["mountPath"] == path
        assert not mount.get("readOnly", False)
        assert "emptyDir" in volumes()[mount["name"]]
    for mount in container()["volumeMounts"]:
        source = volumes()[mount["name"]]
        if "configMap" in source or "secret" in source:
            assert mount["readOnly"] is True, mount["name"]


def test_a_stopping_pod_finishes_its_requests() -> None:
    spec = pod()["spec"]
    sleep = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    needed = int(sleep[1]) + GRACEFUL_SHUTDOWN_SECONDS + SUPERVISOR_MARGIN_SECONDS
    assert spec["terminationGracePeriodSeconds"] >= needed
    strategy = one("Deployment")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def _quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    text = str(value)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def test_resources_are_requested_and_limited() -> None:
    resources_ = container()["resources"]
    for name in ("cpu", "memory"):
        assert _quantity(resources_["requests"][name]) <= _quantity(resources_["limits"][name]), name
    # Two workers and the supervisor took 236 MiB after a load (see the comment in deployment.yaml).
    assert _quantity(resources_["requests"]["memory"]) >= 236 * 2**20
