"""Daemon processes of a cluster: start detached, find, and stop them.

Every process a cluster starts carries `HEADWATER_CLUSTER=<cluster dir>` in its
environment (the node agent passes it on to Pod processes), so `down` can find
stragglers by scanning /proc even when a pid file is missing or a process escaped its
process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

MARKER = "HEADWATER_CLUSTER"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports, in ascending order."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def spawn(
    name: str, argv: Sequence[str], cluster_dir: Path, env: dict[str, str] | None = None
) -> int:
    """Start `argv` in its own session, logging to logs/NAME.log; write NAME.pid."""
    logs = cluster_dir / "logs"
    logs.mkdir(exist_ok=True)
    full_env = dict(os.environ if env is None else env)
    full_env[MARKER] = str(cluster_dir)
    with open(logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cluster_dir,
            start_new_session=True,
        )
    (cluster_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def marked_pids(cluster_dir: Path) -> list[int]:
    """Pids of live processes whose environment names `cluster_dir`."""
    needle = f"\0{MARKER}={cluster_dir}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in b"\0" + environ + b"\0" and alive(int(entry)):
            found.append(int(entry))
    return found


def _signal_groups(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        for send in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                send(pid, sig)


def terminate(pids: Sequence[int], grace: float) -> None:
    """SIGTERM the process groups led by `pids`, then SIGKILL what is left after `grace`."""
    _signal_groups(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    _signal_groups([p for p in pids if alive(p)], signal.SIGKILL)


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
