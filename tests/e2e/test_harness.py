"""Tests of the end-to-end harness itself: the cluster behaves like Kubernetes."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Cluster

    WaitFor = Callable[..., Any]

CLUSTER_DIR = Path(__file__).resolve().parent.parent / "cluster"
sys.path.insert(0, str(CLUSTER_DIR))
from controlplane.layout import COMPONENTS, ClusterState  # noqa: E402
from controlplane.procs import alive, marked_pids, read_pid  # noqa: E402

pytestmark = pytest.mark.e2e


def job(name: str, script: str, backoff_limit: int = 0, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "busybox", "command": ["sh", "-c", script]}
                    ],
                }
            },
            **spec,
        },
    }


def job_condition(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The Job's Complete or Failed condition once it has one."""
    conditions = cluster.json("job", name, "-n", namespace).get("status", {}).get("conditions", [])
    return next(
        (c for c in conditions if c["type"] in ("Complete", "Failed") and c["status"] == "True"),
        None,
    )


def pods_of(cluster: Cluster, namespace: str, job_name: str) -> list[dict[str, Any]]:
    selector = f"batch.kubernetes.io/job-name={job_name}"
    return list(cluster.json("pods", "-n", namespace, "-l", selector)["items"])


def test_server_version(cluster: Cluster) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["gitVersion"].startswith("v1.33.")


def test_apply_keeps_strings_that_yaml_would_read_as_booleans(
    cluster: Cluster, namespace: str
) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "answers", "namespace": namespace},
        "data": {"n": "y"},
    }
    cluster.apply(config_map)
    assert cluster.json("configmap", "answers", "-n", namespace)["data"] == {"n": "y"}


def test_job_completes_and_logs(cluster: Cluster, namespace: str, wait_for: WaitFor) -> None:
    cluster.apply(job("hello", "echo hello; exit 0"), namespace)
    condition = wait_for(lambda: job_condition(cluster, namespace, "hello"), 60, "job hello")
    assert condition["type"] == "Complete"
    assert cluster.kubectl("logs", "-n", namespace, "job/hello").stdout.strip() == "hello"


def test_backoff_limit_fails_after_three_pods(
    cluster: Cluster, namespace: str, wait_for: WaitFor
) -> None:
    cluster.apply(job("flaky", "echo failing; exit 1", backoff_limit=2), namespace)
    condition = wait_for(lambda: job_condition(cluster, namespace, "flaky"), 120, "job flaky")
    assert condition["type"] == "Failed"
    assert condition["reason"] == "BackoffLimitExceeded"
    pods = pods_of(cluster, namespace, "flaky")
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Failed"
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_pod_failure_policy_fails_job_at_once(
    cluster: Cluster, namespace: str, wait_for: WaitFor
) -> None:
    policy = {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [2]},
            }
        ]
    }
    cluster.apply(job("fatal", "exit 2", backoff_limit=5, podFailurePolicy=policy), namespace)
    condition = wait_for(lambda: job_condition(cluster, namespace, "fatal"), 60, "job fatal")
    assert condition["type"] == "Failed"
    assert condition["reason"] == "PodFailurePolicy"
    assert len(pods_of(cluster, namespace, "fatal")) == 1


def test_pod_reads_configmap_volume_and_secret_env(
    cluster: Cluster, namespace: str, wait_for: WaitFor
) -> None:
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"greeting": "hello from a configmap"},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds"},
                "stringData": {"token": "s3cret"},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "reader"},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "command": [
                                "sh",
                                "-c",
                                'echo "$(cat /etc/settings/greeting) token=$TOKEN" '
                                "| tee /dev/termination-log",
                            ],
                            "env": [
                                {
                                    "name": "TOKEN",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": "creds", "key": "token"}
                                    },
                                }
                            ],
                            "volumeMounts": [
                                {"name": "settings", "mountPath": "/etc/settings", "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "settings", "configMap": {"name": "settings"}}],
                },
            },
        ],
        namespace,
    )

    def finished() -> dict[str, Any] | None:
        pod = cluster.json("pod", "reader", "-n", namespace)
        return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

    pod = wait_for(finished, 60, "pod reader to finish")
    expected = "hello from a configmap token=s3cret"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert pod["status"]["phase"] == "Succeeded", terminated
    assert terminated["message"].strip() == expected
    assert cluster.kubectl("logs", "-n", namespace, "reader").stdout.strip() == expected


def test_background_deletion_removes_pods(
    cluster: Cluster, namespace: str, wait_for: WaitFor
) -> None:
    cluster.apply(job("sleeper", "sleep 300"), namespace)

    def running() -> bool:
        pods = pods_of(cluster, namespace, "sleeper")
        return bool(pods) and pods[0]["status"].get("phase") == "Running"

    wait_for(running, 60, "the sleeper pod to run")
    cluster.kubectl(
        "delete", "job", "sleeper", "-n", namespace, "--cascade=background", "--wait=false"
    )
    wait_for(lambda: not pods_of(cluster, namespace, "sleeper"), 60, "the sleeper pods to go")


def test_server_side_dry_run_rejects_schema_violation(
    cluster: Cluster, namespace: str, wait_for: WaitFor
) -> None:
    group = f"{namespace}.e2e.headwater.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                }
                            },
                        },
                    },
                }
            ],
        },
    }
    cluster.apply(crd)
    try:
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=30s"
        )
        good = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "ok"},
            "spec": {"size": 3},
        }
        bad = {**good, "metadata": {"name": "bad"}, "spec": {"size": "huge"}}
        wait_for(
            lambda: cluster.apply(good, namespace, "--dry-run=server"),
            30,
            "the Widget kind to be served",
        )
        with pytest.raises(AssertionError, match=r"spec\.size"):
            cluster.apply(bad, namespace, "--dry-run=server")
        assert cluster.kubectl("get", "widgets", "-n", namespace, "-o", "name").stdout == ""
    finally:
        cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets `pid` listens on, from /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.add((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def test_second_cluster_up_and_down_leaves_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "second"
    up = subprocess.run(
        [str(CLUSTER_DIR / "up"), str(directory)], capture_output=True, text=True, timeout=300
    )
    assert up.returncode == 0, up.stderr
    try:
        state = ClusterState.load(directory)
        pids = [read_pid(directory / f"{name}.pid") for name in COMPONENTS]
        assert all(pid is not None and alive(pid) for pid in pids)
        ports = [
            state.etcd_client_port,
            state.etcd_peer_port,
            state.apiserver_port,
            state.controller_manager_port,
            state.kubelet_port,
            *state.seaweedfs_ports.values(),
        ]
        assert all(_listening(port) for port in ports)
        # Every port of weed is one `up` chose and recorded, and only on loopback.
        weed = read_pid(directory / "seaweedfs.pid")
        assert weed is not None
        expected = {("127.0.0.1", port) for port in state.seaweedfs_ports.values()}
        assert listening_sockets(weed) == expected
        version = subprocess.run(
            ["kubectl", "--kubeconfig", str(directory / "kubeconfig"), "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert version.stdout.strip() == "ok"
    finally:
        down = subprocess.run(
            [str(CLUSTER_DIR / "down"), str(directory)], capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if pid is not None and alive(pid)]
    assert marked_pids(directory.resolve()) == []
    assert not [port for port in ports if _listening(port)]
    assert not Path(state.etcd_data).exists()
    assert not Path(state.seaweedfs_data).exists()
    # weed puts a unix socket per gRPC port in /tmp and removes it when it stops cleanly.
    assert not [p for p in state.seaweedfs_ports.values() if list(Path("/tmp").glob(f"*-{p}.sock"))]
