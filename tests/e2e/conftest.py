"""Fixtures for end-to-end tests against a real kube-apiserver, etcd,
kube-controller-manager and the test node agent (see tests/cluster/README.md).

Fixtures:
  cluster    session-scoped Cluster. Reuses the cluster KUBECONFIG points at when
             HEADWATER_REUSE_CLUSTER or KUBECONFIG is set and it answers /readyz;
             otherwise runs tests/cluster/up into a temporary directory and
             tests/cluster/down at the end of the session.
  namespace  a fresh namespace per test (default ServiceAccount ready), deleted after.
  kubectl    cluster.kubectl: run the real kubectl with the cluster's kubeconfig.
  apply      cluster.apply: `kubectl apply` a path, YAML text, or dict(s).
  wait_for   poll a predicate with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

CLUSTER_DIR = Path(__file__).resolve().parent.parent / "cluster"
POLL = 0.2
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test against a real API server (tests/cluster)"
    )


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; return that value.

    Exceptions raised by the predicate count as "not yet"; the last one is reported
    if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except Exception as err:
            value, last = None, err  # type: ignore[assignment]
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"
            )
        time.sleep(POLL)


@dataclass
class Cluster:
    """A running cluster and the tools to drive it."""

    kubeconfig: Path
    dir: Path | None  # None when reusing a cluster we did not start
    bin_dir: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raise with its output when `check` and it fails."""
        proc = subprocess.run(
            ["kubectl", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(
        self, manifest: str | Path | dict | list[dict], namespace: str | None = None, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        """kubectl apply a file path, YAML text, or one or more objects."""
        ns = ["-n", namespace] if namespace else []
        if isinstance(manifest, Path) or (
            isinstance(manifest, str) and "\n" not in manifest and Path(manifest).exists()
        ):
            return self.kubectl("apply", *ns, *extra, "-f", str(manifest))
        if isinstance(manifest, dict):
            text = yaml.safe_dump(manifest)
        elif isinstance(manifest, list):
            text = yaml.safe_dump_all(manifest)
        else:
            text = manifest
        return self.kubectl("apply", *ns, *extra, "-f", "-", input=text)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the pinned helm binary against this cluster."""
        proc = subprocess.run(
            [str(self.bin_dir / "helm"), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
        return proc


def _reachable(kubeconfig: str) -> bool:
    try:
        proc = subprocess.run(
            ["kubectl", "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _bin_dir() -> Path:
    out = subprocess.run([str(CLUSTER_DIR / "build")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reuse = os.environ.get("HEADWATER_REUSE_CLUSTER") or os.environ.get("KUBECONFIG")
    if reuse:
        kubeconfig = Path(reuse)
        if kubeconfig.is_dir():
            kubeconfig = kubeconfig / "kubeconfig"
        if not kubeconfig.exists():
            kubeconfig = Path(os.environ.get("KUBECONFIG", "")).expanduser()
        if kubeconfig.is_file() and _reachable(str(kubeconfig)):
            yield Cluster(kubeconfig, None, _bin_dir())
            return
    directory = tmp_path_factory.mktemp("cluster")
    up = subprocess.run([str(CLUSTER_DIR / "up"), str(directory)], capture_output=True, text=True)
    if up.returncode != 0:
        pytest.fail(f"tests/cluster/up failed:\n{up.stderr}", pytrace=False)
    try:
        yield Cluster(Path(up.stdout.strip().splitlines()[-1]), directory, _bin_dir())
    finally:
        subprocess.run([str(CLUSTER_DIR / "down"), str(directory)], check=False)


@pytest.fixture
def kubectl(cluster: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cluster.kubectl


@pytest.fixture
def apply(cluster: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    return cluster.apply


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return wait_for


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, with its default ServiceAccount in place."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode
            == 0
        ),
        30,
        f"the default ServiceAccount in {name}",
    )
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
