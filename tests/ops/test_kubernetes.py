"""deploy/kubernetes: the base and the try-out overlay, rendered by tests/support/kustomize.py (a small Python
Kustomize: `kubectl kustomize` is not installed here), validate against the schemas of a pinned Kubernetes version
(`kubernetes-validate`, offline, strict: unknown fields fail), and wire what the plan asks for."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server.settings import documented_settings
from tests.support.kustomize import find, merge, render
from tests.support.servers import REPO

KUBERNETES = "1.31.0"  # the version the manifests are validated against
DEPLOY = REPO / "deploy" / "kubernetes"
PODS = {"app.kubernetes.io/name": "valgame", "app.kubernetes.io/component": "node"}


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(DEPLOY / "base")


@pytest.fixture(scope="module")
def try_out(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The overlay as a user renders it: with the jwt.env they create (git keeps it out)."""
    copy = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    (copy / "overlays" / "try-out" / "jwt.env").write_text("VALGAME_JWT_SECRET=" + "t" * 48 + "\n")
    return render(copy / "overlays" / "try-out")


def validate(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{obj['kind']} {obj['metadata']['name']}: {exc.message} at {list(exc.path)}") \
                from None


def test_base_validates(base: list[dict[str, Any]]) -> None:
    validate(base)
    assert {o["kind"] for o in base} == {"ConfigMap", "Deployment", "Service", "Ingress", "PodDisruptionBudget",
                                         "HorizontalPodAutoscaler"}
    assert not [o for o in base if o["kind"] == "Secret"]  # the secret is the user's, never in the repository


def test_try_out_overlay_validates(try_out: list[dict[str, Any]]) -> None:
    validate(try_out)
    assert {o["metadata"].get("namespace") for o in try_out if o["kind"] != "Namespace"} == {"valgame-tryout"}
    assert find(try_out, "Namespace")["metadata"]["name"] == "valgame-tryout"


def test_validation_catches_a_wrong_manifest(base: list[dict[str, Any]]) -> None:
    broken = merge(find(base, "Deployment"), {"spec": {"template": {"spec": {"terminationGracePeriod": 30}}}})
    with pytest.raises(AssertionError, match="terminationGracePeriod"):
        validate([broken])


def test_node_deployment(base: list[dict[str, Any]]) -> None:
    deployment = find(base, "Deployment", "valgame")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"] == PODS == pod["metadata"]["labels"]
    [node] = pod["spec"]["containers"]
    assert node["livenessProbe"]["httpGet"]["path"] == "/health"
    assert node["startupProbe"]["httpGet"]["path"] == "/health"
    assert node["readinessProbe"]["httpGet"]["path"] == "/ready"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(node["resources"][kind]), kind
    assert node["envFrom"] == [{"configMapRef": {"name": "valgame-settings"}}]
    secret = {e["name"]: e for e in node["env"]}["VALGAME_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "valgame-jwt", "key": "VALGAME_JWT_SECRET"}
    settings = find(base, "ConfigMap", "valgame-settings")["data"]
    assert node["ports"][0]["containerPort"] == int(settings["VALGAME_PORT"])
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == settings["VALGAME_PORT"]
    # the grace covers the preStop wait, the node's drain, closing its sockets (2 s) and a margin
    pre_stop = int(node["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["spec"]["terminationGracePeriodSeconds"] >= pre_stop + float(settings["VALGAME_DRAIN_SECONDS"]) + 2 + 5


def test_settings_are_real_settings(base: list[dict[str, Any]], try_out: list[dict[str, Any]]) -> None:
    known = {env for env, _, _, _ in documented_settings()}
    for objects in (base, try_out):
        keys = set(find(objects, "ConfigMap", "valgame-settings")["data"])
        assert keys <= known, keys - known
        assert "VALGAME_JWT_SECRET" not in keys and "VALGAME_BACKUP_KEY" not in keys


def test_service_ingress_and_budget_reach_the_pods(base: list[dict[str, Any]]) -> None:
    service = find(base, "Service", "valgame")
    assert service["spec"]["selector"] == PODS
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    ingress = find(base, "Ingress", "valgame")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "valgame", "port": {"name": "http"}}
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600  # sockets live for hours
    budget = find(base, "PodDisruptionBudget", "valgame")
    assert budget["spec"]["selector"]["matchLabels"] == PODS and budget["spec"]["maxUnavailable"] == 1


def test_autoscaler_encodes_the_plan(base: list[dict[str, Any]]) -> None:
    hpa = find(base, "HorizontalPodAutoscaler", "valgame")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "valgame"}
    assert spec["minReplicas"] == 1
    targets = {}
    for metric in spec["metrics"]:
        if metric["type"] == "Resource":
            targets[metric["resource"]["name"]] = metric["resource"]["target"]["averageUtilization"]
        else:
            targets[metric["pods"]["metric"]["name"]] = int(metric["pods"]["target"]["averageValue"])
    assert targets == {"cpu": 70, "memory": 80, "valgame_commands_inflight": 100}
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 300
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert all(p["periodSeconds"] == 300 for p in spec["behavior"]["scaleUp"]["policies"])
    assert all(p["periodSeconds"] == 600 for p in spec["behavior"]["scaleDown"]["policies"])


def test_try_out_runs_its_own_storage_and_bus(try_out: list[dict[str, Any]]) -> None:
    settings = find(try_out, "ConfigMap", "valgame-settings")["data"]
    for name, port, url in (("mongodb", 27017, settings["VALGAME_STORAGE"]),
                            ("redis", 6379, settings["VALGAME_BUS"])):
        stateful = find(try_out, "StatefulSet", name)
        service = find(try_out, "Service", name)
        assert stateful["spec"]["serviceName"] == name and service["spec"]["clusterIP"] == "None"
        assert service["spec"]["selector"] == stateful["spec"]["template"]["metadata"]["labels"]
        assert f"://{name}-0.{name}:{port}/" in url
    assert "replicaSet=rs0" in settings["VALGAME_STORAGE"]  # transactions need a replica set
    assert settings["VALGAME_DRAIN_SECONDS"] == "10"  # the base's settings stay, the patch only adds
    secret = find(try_out, "Secret", "valgame-jwt")
    assert set(secret["data"]) == {"VALGAME_JWT_SECRET"}
    assert find(try_out, "HorizontalPodAutoscaler", "valgame")["spec"]["minReplicas"] == 1
    assert (DEPLOY / "overlays" / "try-out" / ".gitignore").read_text().split() == ["jwt.env"]


def test_in_cluster_scrape_config_labels_pods_for_the_adapter() -> None:
    config = yaml.safe_load((DEPLOY / "monitoring" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == "valgame"
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod", "__address__", "__metrics_path__"} <= targets
    adapter = yaml.safe_load((DEPLOY / "monitoring" / "prometheus-adapter.yaml").read_text())
    assert adapter["rules"][0]["name"]["as"] == "valgame_commands_inflight"


def test_sentinel_overlay_puts_the_bus_behind_three_sentinels(tmp_path: Path) -> None:
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, copy)
    (copy / "overlays" / "try-out" / "jwt.env").write_text("VALGAME_JWT_SECRET=" + "t" * 48 + "\n")
    objects = render(copy / "overlays" / "sentinel")
    validate(objects)
    bus = find(objects, "ConfigMap", "valgame-settings")["data"]["VALGAME_BUS"]
    assert bus.startswith("redis+sentinel://") and bus.endswith("/mymaster/0")
    sentinels = find(objects, "StatefulSet", "sentinel")
    assert sentinels["spec"]["replicas"] == 3
    assert all(f"sentinel-{i}.sentinel:26379" in bus for i in range(3))
    assert "sentinel monitor mymaster redis-0.redis 6379 2" in sentinels["spec"]["template"]["spec"]["containers"][0][
        "args"][0]
    redis = find(objects, "StatefulSet", "redis")
    assert redis["spec"]["replicas"] == 2
    assert "--replicaof redis-0.redis 6379" in redis["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert find(objects, "Service", "sentinel")["spec"]["clusterIP"] == "None"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"valgame-tryout"}


def test_picows_overlay_routes_the_socket_path_to_the_socket_port() -> None:
    """deploy/kubernetes/overlays/picows: valid, real settings, and /ws reaches the port the nodes serve it on."""
    objects = render(DEPLOY / "overlays" / "picows")
    validate(objects)
    settings = find(objects, "ConfigMap", "valgame-settings")["data"]
    assert set(settings) <= {env for env, _, _, _ in documented_settings()}
    assert settings["VALGAME_TRANSPORT"] == "picows" and settings["VALGAME_WS_PUBLIC_URL"] == "/ws"
    container = find(objects, "Deployment", "valgame")["spec"]["template"]["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000, "ws": int(settings["VALGAME_WS_PORT"])}
    service_ports = {port["name"]: port["targetPort"] for port in find(objects, "Service", "valgame")["spec"]["ports"]}
    assert service_ports == {"http": "http", "ws": "ws"}
    paths = {path["path"]: path["backend"]["service"]["port"]["name"]
             for path in find(objects, "Ingress", "valgame")["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/ws": "ws", "/": "http"}
