"""The node agent reports failures in the shapes a kubelet, kube-scheduler and a
dynamic provisioner produce, and recovers as they do once the cause is gone.

Plain Pods and claims applied with kubectl; every expected string is the real
component's (Kubernetes v1.33), see tests/cluster/README.md.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from conftest import cluster_dir, wait_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Cluster

pytestmark = pytest.mark.e2e

NODE = "headwater-node"
NO_PREEMPTION = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
UNPULLABLE = "registry.invalid/team/app:1"


def pod(name: str, script: str = "echo ran", image: str = "busybox", **spec: Any) -> dict:
    container = {"name": "main", "image": image, "command": ["sh", "-c", script]}
    container |= spec.pop("container", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def claim(name: str, mode: str = "ReadWriteOnce") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": [mode], "resources": {"requests": {"storage": "1Gi"}}},
    }


def source(kind: str, name: str, data: dict[str, str]) -> dict:
    field = "data" if kind == "configmap" else "stringData"
    kind_name = "ConfigMap" if kind == "configmap" else "Secret"
    return {"apiVersion": "v1", "kind": kind_name, "metadata": {"name": name}, field: data}


def wait_until(read: Callable[[], dict[str, Any]], key: str, value: str, what: str) -> dict:
    """Poll `read` until what it returns has `key` equal to `value`; return that."""

    def check() -> dict[str, Any] | None:
        got = read()
        return got if got.get(key) == value else None

    return dict(wait_for(check, 60, what))


def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(cluster.json("pod", name, "-n", namespace).get("status") or {})


def waiting(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    statuses = status(cluster, namespace, name).get("containerStatuses") or [{}]
    return dict(statuses[0].get("state", {}).get("waiting") or {})


def scheduled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    conditions = status(cluster, namespace, name).get("conditions") or []
    return next((c for c in conditions if c["type"] == "PodScheduled"), {})


def events(cluster: Cluster, namespace: str, name: str, reason: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.name={name},reason={reason}"
    return list(cluster.json("events", "-n", namespace, "--field-selector", selector)["items"])


def messages(cluster: Cluster, namespace: str, name: str, reason: str) -> list[str]:
    return [e["message"] for e in events(cluster, namespace, name, reason)]


def succeeded(cluster: Cluster, namespace: str, name: str) -> bool:
    phase = status(cluster, namespace, name).get("phase")
    assert phase != "Failed", status(cluster, namespace, name)
    return phase == "Succeeded"


def logs(cluster: Cluster, namespace: str, name: str) -> str:
    return cluster.kubectl("logs", "-n", namespace, name).stdout.strip()


def output_once_created(cluster: Cluster, namespace: str, missing: dict) -> str:
    """Create the object the Pod `reader` waits for; its output once it has run."""
    cluster.apply(missing, namespace)
    wait_for(lambda: succeeded(cluster, namespace, "reader"), 60, "the pod to run")
    return logs(cluster, namespace, "reader")


# --- kubelet: env references ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["configmap", "secret"])
def test_missing_env_reference_is_create_container_config_error_until_it_exists(
    cluster: Cluster, namespace: str, kind: str
) -> None:
    ref_field = "configMapKeyRef" if kind == "configmap" else "secretKeyRef"
    kind_name = "ConfigMap" if kind == "configmap" else "Secret"
    env = [{"name": "A", "valueFrom": {ref_field: {"name": "cfg", "key": "a"}}}]
    cluster.apply(pod("reader", 'echo "a=$A"', container={"env": env}), namespace)

    not_found = f'{kind} "cfg" not found'
    state = wait_until(
        lambda: waiting(cluster, namespace, "reader"), "message", not_found, "the missing object"
    )
    assert state["reason"] == "CreateContainerConfigError"
    assert status(cluster, namespace, "reader")["phase"] == "Pending"
    failed = wait_for(lambda: events(cluster, namespace, "reader", "Failed"), 30, "Failed event")
    assert failed[0]["message"] == f"Error: {not_found}"
    assert failed[0]["involvedObject"]["fieldPath"] == "spec.containers{main}"
    assert failed[0]["source"] == {"component": "kubelet", "host": NODE}

    cluster.apply(source(kind, "cfg", {"b": "other"}), namespace)
    missing_key = f"couldn't find key a in {kind_name} {namespace}/cfg"
    wait_for(
        lambda: waiting(cluster, namespace, "reader").get("message") == missing_key,
        30,
        "the missing key's message",
    )
    assert f"Error: {missing_key}" in messages(cluster, namespace, "reader", "Failed")

    found = source(kind, "cfg", {"a": "found"})
    assert output_once_created(cluster, namespace, found) == "a=found"


def test_missing_env_from_secret_waits_and_optional_refs_do_not(
    cluster: Cluster, namespace: str
) -> None:
    container = {
        "envFrom": [
            {"secretRef": {"name": "creds"}, "prefix": "S_"},
            {"configMapRef": {"name": "absent", "optional": True}},
        ],
        "env": [
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}},
            }
        ],
    }
    cluster.apply(pod("reader", 'echo "$S_token ${OPT:-unset}"', container=container), namespace)
    wait_for(
        lambda: waiting(cluster, namespace, "reader").get("message") == 'secret "creds" not found',
        30,
        "CreateContainerConfigError for the Secret",
    )
    creds = source("secret", "creds", {"token": "t0k"})
    assert output_once_created(cluster, namespace, creds) == "t0k unset"


# --- kubelet: volumes -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["configmap", "secret"])
def test_missing_volume_source_fails_mount_with_backoff_until_it_exists(
    cluster: Cluster, namespace: str, kind: str
) -> None:
    items = [{"key": "a", "path": "a.txt"}]
    volume = (
        {"name": "conf", "configMap": {"name": "cfg", "items": items}}
        if kind == "configmap"
        else {"name": "conf", "secret": {"secretName": "cfg", "items": items}}
    )
    mount = {"volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]}
    reader = pod("reader", "cat /etc/conf/a.txt", container=mount, volumes=[volume])
    cluster.apply(reader, namespace)

    prefix = 'MountVolume.SetUp failed for volume "conf" : '
    not_found = f'{prefix}{kind} "cfg" not found'

    def repeated() -> list[dict[str, Any]]:
        found = events(cluster, namespace, "reader", "FailedMount")
        return found if found and found[0].get("count", 1) >= 2 else []

    failed = wait_for(repeated, 30, "a FailedMount event counted twice")
    assert [e["message"] for e in failed] == [not_found], "one Event per message, counted"
    assert failed[0]["type"] == "Warning"
    current = status(cluster, namespace, "reader")
    assert current["phase"] == "Pending"
    assert waiting(cluster, namespace, "reader") == {"reason": "ContainerCreating"}
    ready = {c["type"]: c["status"] for c in current["conditions"]}
    assert ready["PodScheduled"] == "True"
    assert ready["PodReadyToStartContainers"] == "False"

    cluster.apply(source(kind, "cfg", {"b": "other"}), namespace)
    missing_key = (
        "configmap references non-existent config key: a"
        if kind == "configmap"
        else "references non-existent secret key: a"
    )
    wait_for(
        lambda: prefix + missing_key in messages(cluster, namespace, "reader", "FailedMount"),
        30,
        "FailedMount for the missing item key",
    )
    mounted = source(kind, "cfg", {"a": "mounted"})
    assert output_once_created(cluster, namespace, mounted) == "mounted"


# --- kubelet: image pulls -------------------------------------------------------------


def test_unpullable_image_backs_off_and_runs_once_the_image_changes(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(pod("app", image=UNPULLABLE), namespace)
    back_off = f'Back-off pulling image "{UNPULLABLE}"'
    state = wait_until(
        lambda: waiting(cluster, namespace, "app"), "reason", "ImagePullBackOff", "back-off"
    )
    pull_error = (
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{UNPULLABLE}": '
        f'failed to resolve reference "{UNPULLABLE}": failed to do request: '
        'Head "https://registry.invalid/v2/team/app/manifests/1": '
        "dial tcp: lookup registry.invalid: no such host"
    )
    assert state["message"] == f"{back_off}: ErrImagePull: {pull_error}"
    assert status(cluster, namespace, "app")["phase"] == "Pending"
    failed = messages(cluster, namespace, "app", "Failed")
    assert f'Failed to pull image "{UNPULLABLE}": {pull_error}' in failed
    assert "Error: ErrImagePull" in failed
    assert "Error: ImagePullBackOff" in failed
    assert messages(cluster, namespace, "app", "Pulling") == [f'Pulling image "{UNPULLABLE}"']
    assert messages(cluster, namespace, "app", "BackOff") == [back_off]

    cluster.kubectl("set", "image", "pod/app", "main=busybox", "-n", namespace)
    wait_for(lambda: succeeded(cluster, namespace, "app"), 60, "the pod to run")
    assert logs(cluster, namespace, "app") == "ran"


# --- scheduler ------------------------------------------------------------------------


def test_pod_whose_node_selector_does_not_match_is_unschedulable_until_the_node_matches(
    cluster: Cluster, namespace: str
) -> None:
    label = f"e2e.headwater.dev/{namespace}"
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": label, "operator": "In", "values": ["b"]}]}
                ]
            }
        }
    }
    cluster.apply(
        [pod("selected", nodeSelector={label: "a"}), pod("affine", affinity=affinity)], namespace
    )
    expected = (
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
        + NO_PREEMPTION
    )
    for name in ("selected", "affine"):
        condition = wait_until(
            lambda name=name: scheduled(cluster, namespace, name), "status", "False", name
        )
        assert condition["reason"] == "Unschedulable"
        assert condition["message"] == expected
        failed = wait_for(lambda name=name: events(cluster, namespace, name, "FailedScheduling"))
        assert failed[0]["message"] == expected
        assert failed[0]["source"]["component"] == "default-scheduler"
    assert not cluster.json("pod", "selected", "-n", namespace)["spec"].get("nodeName")

    try:
        cluster.kubectl("label", "node", NODE, f"{label}=a")
        wait_for(lambda: succeeded(cluster, namespace, "selected"), 60, "selected to run")
        assert scheduled(cluster, namespace, "affine")["status"] == "False"
        cluster.kubectl("label", "node", NODE, f"{label}=b", "--overwrite")
        wait_for(lambda: succeeded(cluster, namespace, "affine"), 60, "affine to run")
    finally:
        cluster.kubectl("label", "node", NODE, f"{label}-", check=False)
    assert messages(cluster, namespace, "selected", "Scheduled") == [
        f"Successfully assigned {namespace}/selected to {NODE}"
    ]


def test_pod_that_does_not_tolerate_a_taint_waits_for_its_removal(
    cluster: Cluster, namespace: str
) -> None:
    key = f"e2e.headwater.dev/{namespace}"
    tolerant = pod("tolerant", tolerations=[{"key": key, "operator": "Exists"}])
    cluster.kubectl("taint", "node", NODE, f"{key}=gpu:NoSchedule")
    try:
        cluster.apply([pod("plain"), tolerant], namespace)
        condition = wait_until(
            lambda: scheduled(cluster, namespace, "plain"), "status", "False", "plain"
        )
        assert condition["message"] == (
            f"0/1 nodes are available: 1 node(s) had untolerated taint {{{key}: gpu}}. "
            + NO_PREEMPTION
        )
        wait_for(lambda: succeeded(cluster, namespace, "tolerant"), 60, "tolerant to run")
        assert scheduled(cluster, namespace, "plain")["status"] == "False"
    finally:
        cluster.kubectl("taint", "node", NODE, f"{key}-", check=False)
    wait_for(lambda: succeeded(cluster, namespace, "plain"), 60, "plain to run once untainted")


# --- scheduler and provisioner: claims ------------------------------------------------


def test_claims_missing_then_pending_then_bound_schedule_the_pod(
    cluster: Cluster, namespace: str
) -> None:
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    script = "echo written > /data/out; cat /data/out"
    cluster.apply(pod("writer", script, container=mount, volumes=volumes), namespace)

    def unschedulable_message() -> str:
        condition = scheduled(cluster, namespace, "writer")
        assert condition.get("reason") == "Unschedulable", condition
        return str(condition["message"])

    missing = f'0/1 nodes are available: persistentvolumeclaim "data" not found. {NO_PREEMPTION}'
    wait_for(lambda: unschedulable_message() == missing, 30, "the missing claim's message")
    assert missing in messages(cluster, namespace, "writer", "FailedScheduling")

    cluster.apply(claim("data", "ReadWriteMany"), namespace)
    unbound = (
        f"0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        f"{NO_PREEMPTION}"
    )
    wait_for(lambda: unschedulable_message() == unbound, 30, "the unbound claim's message")
    refused = wait_for(
        lambda: messages(cluster, namespace, "data", "ProvisioningFailed"), 30, "refusal"
    )
    assert refused == [
        'failed to provision volume with StorageClass "standard": access mode ReadWriteMany '
        "is not supported: this single-node hostpath provisioner serves only ReadWriteOnce, "
        "ReadOnlyMany, ReadWriteOncePod"
    ]
    assert cluster.json("pvc", "data", "-n", namespace)["status"]["phase"] == "Pending"

    cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=true")
    cluster.apply(claim("data"), namespace)
    wait_for(lambda: succeeded(cluster, namespace, "writer"), 60, "the writer to run")
    assert logs(cluster, namespace, "writer") == "written"
    base = cluster_dir(cluster)
    assert base is not None
    directory = base / "node" / "claims" / namespace / "data"
    assert (directory / "out").read_text() == "written\n"

    cluster.kubectl("delete", "pod", "writer", "-n", namespace, "--wait=true")
    volume = cluster.json("pvc", "data", "-n", namespace)["spec"]["volumeName"]
    cluster.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=true")
    wait_for(
        lambda: cluster.kubectl("get", "pv", volume, check=False).returncode != 0,
        60,
        "the released volume to be deleted",
    )
    assert not directory.exists(), "reclaim Delete removes the claim's directory"


@pytest.mark.parametrize("mode", ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod"])
def test_default_class_provisions_a_bound_hostpath_volume(
    cluster: Cluster, namespace: str, mode: str
) -> None:
    name = f"c-{uuid.uuid4().hex[:6]}"
    cluster.apply(claim(name, mode), namespace)

    def claim_status() -> dict[str, Any]:
        return dict(cluster.json("pvc", name, "-n", namespace)["status"])

    wait_until(claim_status, "phase", "Bound", "the claim to bind")
    bound = cluster.json("pvc", name, "-n", namespace)
    assert bound["spec"]["storageClassName"] == "standard", "DefaultStorageClass admission"
    volume = cluster.json("pv", bound["spec"]["volumeName"])
    base = cluster_dir(cluster)
    assert base is not None
    assert volume["spec"]["hostPath"]["path"] == str(base / "node" / "claims" / namespace / name)
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert volume["spec"]["accessModes"] == [mode]
    assert volume["spec"]["claimRef"]["uid"] == bound["metadata"]["uid"]
    assert messages(cluster, namespace, name, "ProvisioningSucceeded") == [
        f"Successfully provisioned volume {volume['metadata']['name']}"
    ]
