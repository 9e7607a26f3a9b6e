"""`tests/cluster/down DIR`: stop every process of the cluster in DIR and free its tmpfs."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from .layout import COMPONENTS, tmpfs_dir
from .procs import alive, marked_pids, read_pid, terminate

# Agent first (it stops its Pods, which may be writing to SeaweedFS), etcd last (the
# others need it while shutting down).
ORDER = ("node-agent", "seaweedfs", "kube-controller-manager", "kube-apiserver", "etcd")
assert set(ORDER) == set(COMPONENTS)


def down(cluster_dir: Path, grace: float = 10.0) -> list[int]:
    """Stop the cluster; return pids that could not be killed (empty on success)."""
    cluster_dir = cluster_dir.resolve()
    for name in ORDER:
        pid_file = cluster_dir / f"{name}.pid"
        pid = read_pid(pid_file)
        if pid is not None and alive(pid):
            terminate([pid], grace)
        pid_file.unlink(missing_ok=True)
    # Stragglers: Pod processes of a killed agent, children that left their group.
    deadline = time.monotonic() + grace
    while (left := marked_pids(cluster_dir)) and time.monotonic() < deadline:
        terminate(left, 1.0)
    shutil.rmtree(tmpfs_dir(cluster_dir), ignore_errors=True)
    return [p for p in marked_pids(cluster_dir) if alive(p)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: down DIR", file=sys.stderr)
        return 2
    left = down(Path(args[0]))
    if left:
        print(f"down: processes still alive: {left}", file=sys.stderr)
        return 1
    return 0
