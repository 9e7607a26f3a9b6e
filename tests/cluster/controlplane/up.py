"""`tests/cluster/up DIR`: start etcd, kube-apiserver, kube-controller-manager, the
node agent and SeaweedFS for a cluster living in DIR; return once it is ready for Pods
and the object store takes writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .certs import ClusterPki, make_pki
from .down import down
from .kubeconfig import write_kubeconfig
from .layout import COMPONENTS, NODE_NAME, ClusterState, tmpfs_dir
from .objectstore import new_settings, port_flags, start_seaweedfs, store_ready
from .probe import context, get, get_json
from .procs import alive, free_ports, read_pid, spawn
from .storage import PROVISIONER, install_storage

HERE = Path(__file__).resolve().parent.parent
SERVICE_CIDR = "10.0.0.0/24"
ISSUER = "https://kubernetes.default.svc"


class UpError(RuntimeError):
    """The cluster did not come up."""


def build_binaries(script: str) -> Path:
    """Run tests/cluster/SCRIPT (instant on a cache hit) and return its bin dir."""
    out = subprocess.run([str(HERE / script)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, cluster_dir: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for name in COMPONENTS:
            pid = read_pid(cluster_dir / f"{name}.pid")
            if pid is not None and not alive(pid):
                raise UpError(f"{name} exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise UpError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def start_etcd(state: ClusterState, cluster_dir: Path) -> None:
    client = f"http://127.0.0.1:{state.etcd_client_port}"
    peer = f"http://127.0.0.1:{state.etcd_peer_port}"
    spawn(
        "etcd",
        [
            f"{state.bin_dir}/etcd",
            "--name=default",
            f"--data-dir={state.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        cluster_dir,
    )
    wait_until(lambda: get(f"{client}/health")[0] == 200, 30, "etcd /health", cluster_dir)


def start_apiserver(state: ClusterState, pki: ClusterPki, cluster_dir: Path) -> None:
    spawn(
        "kube-apiserver",
        [
            f"{state.bin_dir}/kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{state.etcd_client_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={state.apiserver_port}",
            f"--tls-cert-file={pki.apiserver.cert}",
            f"--tls-private-key-file={pki.apiserver.key}",
            f"--client-ca-file={pki.ca.cert}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-account-issuer={ISSUER}",
            f"--api-audiences={ISSUER}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--kubelet-client-certificate={pki.apiserver_kubelet_client.cert}",
            f"--kubelet-client-key={pki.apiserver_kubelet_client.key}",
            f"--kubelet-certificate-authority={pki.ca.cert}",
            "--kubelet-preferred-address-types=InternalIP",
            # Endpoints may not point at loopback, so no reconciler for the kubernetes Service.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ],
        cluster_dir,
    )
    ctx = context(pki.ca, pki.admin)
    wait_until(
        lambda: get(f"{state.server}/readyz", ctx)[0] == 200,
        60,
        "kube-apiserver /readyz",
        cluster_dir,
    )


def start_controller_manager(state: ClusterState, pki: ClusterPki, cluster_dir: Path) -> None:
    kubeconfig = write_kubeconfig(
        cluster_dir / "controller-manager.kubeconfig",
        state.server,
        pki.ca.cert,
        pki.controller_manager,
        "system:kube-controller-manager",
    )
    spawn(
        "kube-controller-manager",
        [
            f"{state.bin_dir}/kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={state.controller_manager_port}",
            "--leader-elect=false",
            "--controllers=*",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca.cert}",
            f"--cluster-signing-cert-file={pki.ca.cert}",
            f"--cluster-signing-key-file={pki.ca.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
        ],
        cluster_dir,
    )


def start_agent(state: ClusterState, pki: ClusterPki, cluster_dir: Path) -> None:
    config = {
        "node_name": state.node_name,
        "server": state.server,
        "ca": str(pki.ca.cert),
        "node_cert": str(pki.node_client.cert),
        "node_key": str(pki.node_client.key),
        "scheduler_cert": str(pki.scheduler.cert),
        "scheduler_key": str(pki.scheduler.key),
        "provisioner_cert": str(pki.provisioner.cert),
        "provisioner_key": str(pki.provisioner.key),
        "provisioner_name": PROVISIONER,
        "serving_cert": str(pki.node_serving.cert),
        "serving_key": str(pki.node_serving.key),
        "kubelet_port": state.kubelet_port,
        "state_dir": str(cluster_dir / "node"),
        "tmpfs_dir": str(tmpfs_dir(cluster_dir) / "node"),
    }
    (cluster_dir / "agent.json").write_text(json.dumps(config, indent=2) + "\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    spawn(
        "node-agent",
        [sys.executable, "-m", "agent", str(cluster_dir / "agent.json")],
        cluster_dir,
        env,
    )
    ctx = context(pki.ca, pki.admin)

    def node_ready() -> bool:
        node = get_json(f"{state.server}/api/v1/nodes/{state.node_name}", ctx)
        conditions = (node or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_until(node_ready, 30, f"node {state.node_name} Ready", cluster_dir)

    def default_sa() -> bool:
        url = f"{state.server}/api/v1/namespaces/default/serviceaccounts/default"
        return get(url, ctx)[0] == 200

    wait_until(default_sa, 30, "the default ServiceAccount", cluster_dir)


def up(cluster_dir: Path) -> ClusterState:
    """Start a cluster in `cluster_dir` and return its state once ready."""
    cluster_dir = cluster_dir.resolve()
    cluster_dir.mkdir(parents=True, exist_ok=True)
    for name in ("etcd", "kube-apiserver"):
        pid = read_pid(cluster_dir / f"{name}.pid")
        if pid is not None and alive(pid):
            raise UpError(f"{cluster_dir} already runs a cluster ({name} pid {pid})")
    bin_dir = build_binaries("build")
    seaweedfs_bin_dir = build_binaries("build-seaweedfs")
    shm = tmpfs_dir(cluster_dir)
    shutil.rmtree(shm, ignore_errors=True)
    shm.mkdir(mode=0o700)
    flags = port_flags()
    etcd_client, etcd_peer, apiserver, kcm, kubelet, *weed = free_ports(5 + len(flags))
    seaweedfs_ports = dict(zip(flags, weed, strict=True))
    state = ClusterState(
        dir=str(cluster_dir),
        bin_dir=str(bin_dir),
        etcd_data=str(shm / "etcd"),
        etcd_client_port=etcd_client,
        etcd_peer_port=etcd_peer,
        apiserver_port=apiserver,
        controller_manager_port=kcm,
        kubelet_port=kubelet,
        seaweedfs_bin_dir=str(seaweedfs_bin_dir),
        seaweedfs_data=str(shm / "seaweedfs"),
        seaweedfs_ports=seaweedfs_ports,
        s3=dict(new_settings(seaweedfs_ports["s3.port"])),
    )
    state.save()
    # SeaweedFS needs nothing from Kubernetes and takes longer than it to take writes
    # (its filer waits seconds for peers before it serves locks), so it starts first
    # and is waited for last.
    start_seaweedfs(state, cluster_dir)
    pki = make_pki(cluster_dir / "pki", NODE_NAME)
    write_kubeconfig(cluster_dir / "kubeconfig", state.server, pki.ca.cert, pki.admin, "admin")
    start_etcd(state, cluster_dir)
    start_apiserver(state, pki, cluster_dir)
    install_storage(state.server, context(pki.ca, pki.admin))
    start_controller_manager(state, pki, cluster_dir)
    start_agent(state, pki, cluster_dir)
    wait_until(store_ready(state), 60, "SeaweedFS S3 to take writes", cluster_dir)
    return state


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: up DIR", file=sys.stderr)
        return 2
    cluster_dir = Path(args[0]).resolve()
    started = time.monotonic()
    try:
        up(cluster_dir)
    except (UpError, subprocess.CalledProcessError) as err:
        print(f"up: {err}", file=sys.stderr)
        for log in sorted((cluster_dir / "logs").glob("*.log")):
            print(f"--- {log.name} (tail) ---\n{_tail(log)}", file=sys.stderr)
        down(cluster_dir)
        return 1
    print(f"up: ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(cluster_dir / "kubeconfig")
    return 0
