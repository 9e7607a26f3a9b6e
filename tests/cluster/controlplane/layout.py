"""Where a cluster keeps its files, and the state `up` records for `down` and tests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

NODE_NAME = "headwater-node"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "node-agent", "seaweedfs")
# The SeaweedFS services `weed server` runs, each with an HTTP and a gRPC port.
SEAWEEDFS_SERVICES = ("master", "volume", "filer", "s3")


@dataclass(frozen=True)
class ClusterState:
    """Ports and paths of one running cluster, saved as DIR/cluster.json."""

    dir: str
    bin_dir: str
    etcd_data: str
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int
    kubelet_port: int
    # SeaweedFS: where weed is, its data dir, and its ports keyed by flag
    # ("filer.port.grpc" is -filer.port.grpc).
    seaweedfs_bin_dir: str
    seaweedfs_data: str
    seaweedfs_ports: dict[str, int]
    # What a client needs, as written to DIR/s3.json (see objectstore.S3Settings).
    s3: dict[str, str]
    node_name: str = NODE_NAME

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def save(self) -> None:
        path = Path(self.dir) / "cluster.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, cluster_dir: Path) -> ClusterState:
        return cls(**json.loads((cluster_dir / "cluster.json").read_text()))


def tmpfs_dir(cluster_dir: Path) -> Path:
    """A directory on the /dev/shm tmpfs that belongs to `cluster_dir`."""
    digest = hashlib.sha256(str(cluster_dir).encode()).hexdigest()[:16]
    return Path("/dev/shm") / f"headwater-{digest}"
