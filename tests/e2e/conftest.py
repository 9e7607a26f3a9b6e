"""Fixtures for end-to-end tests against a real kube-apiserver, etcd,
kube-controller-manager and the test node agent (see tests/cluster/README.md).

Fixtures:
  cluster    session-scoped Cluster. Reuses the cluster HEADWATER_REUSE_CLUSTER names
             (a kubeconfig or a cluster dir; KUBECONFIG alone is never used, so the
             tests cannot start an operator on a real cluster by accident); otherwise
             runs tests/cluster/up into a temporary directory and tests/cluster/down at
             the end of the session.
  namespace  a fresh namespace per test (default ServiceAccount ready), deleted after.
  kubectl    cluster.kubectl: run the real kubectl with the cluster's kubeconfig.
  apply      cluster.apply: `kubectl apply` a path, YAML text, or dict(s).
  wait_for   poll a predicate with a deadline.
  operator   the session's `headwater operator` process (CRDs applied), running;
             kill()/stop()/start()/restart(), metrics_url, log tail on failure.
  object_store  the cluster's SeaweedFS S3 store (DIR/s3.json): env() gives the AWS_*
             variables a client needs, url() an s3:// URL in its bucket,
             create_secret() puts them into a namespace for a Job's envFrom.
  operator_on_object_store(cluster, object_store, operator_process)  a context: an
             operator on that store in place of the shared one, for a module's tests.
"""

from __future__ import annotations

import contextlib
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
            "HEADWATER_OPERATOR_NAMESPACE": "default",
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
        if isinstance(manifest, dict | list):
            # JSON documents: YAML would leave names like `y` or `n` bare, and kubectl
            # reads those as booleans.
            documents = manifest if isinstance(manifest, list) else [manifest]
            text = "\n---\n".join(json.dumps(d) for d in documents)
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
    # Only when asked: KUBECONFIG alone may point at a real cluster, where the tests
    # would start a cluster-wide operator.
    reuse = os.environ.get("HEADWATER_REUSE_CLUSTER")
    if reuse and os.environ.get("PYTEST_XDIST_WORKER"):
        # Each worker starts cluster-wide operators: two workers on one cluster would
        # reconcile each other's Runs.
        pytest.fail("HEADWATER_REUSE_CLUSTER needs one worker: add -n 0", pytrace=False)
    if reuse:
        kubeconfig = Path(reuse)
        if kubeconfig.is_dir():
            kubeconfig = kubeconfig / "kubeconfig"
        if not (kubeconfig.is_file() and _reachable(str(kubeconfig))):
            pytest.fail(f"HEADWATER_REUSE_CLUSTER={reuse} does not answer", pytrace=False)
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


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    """A second fresh namespace, for tests of what one namespace does to another."""
    name = f"other-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --- the headwater operator -------------------------------------------------------
#
# One operator process serves the whole session and watches all namespaces (each test
# has its own namespace, so they cannot be listed up front). Tests that must kill or
# restart the operator do it to this shared process — `kill()` then `start()`, or
# `restart()` — rather than starting a second operator: two operators reconciling the
# same Runs would race. Tests run one at a time, so nothing else is disturbed, and the
# function-scoped `operator` fixture starts the process again if a test left it down.

REPO = CLUSTER_DIR.parent.parent
POD_START_TIMEOUT = 15
"""The tests' operator fails a node whose Pod cannot start after this many seconds."""
OPERATOR_NAMESPACE = "default"
"""Where the tests' operator publishes headwater-store (and takes its Lease): the
clients the tests run are told so through HEADWATER_OPERATOR_NAMESPACE."""
CRD_DIR = REPO / "crds"
HEADWATER_KINDS = ("datasets", "functions", "dataflows", "runs")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Operator:
    """`python -m headwater operator` as a subprocess, logging to `log_path`."""

    def __init__(self, cluster: Cluster, log_path: Path, *extra: str) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.extra = extra
        self.metrics_port = _free_port()
        self.health_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/healthz"

    @property
    def ready_url(self) -> str:
        """200 once the operator leads, its cache is filled and it reconciles."""
        return f"http://127.0.0.1:{self.health_port}/readyz"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def arguments(self) -> list[str]:
        ports = ["--metrics-port", str(self.metrics_port), "--health-port", str(self.health_port)]
        fast = ["--resync-seconds", "5", "--pod-start-timeout", str(POD_START_TIMEOUT)]
        own = ["--operator-namespace", OPERATOR_NAMESPACE]
        return [*ports, "--listen-host", "127.0.0.1", *fast, *own, *self.extra]

    def start(self, ready: bool = True) -> None:
        """Start the process and wait until it reconciles (`ready`), or only until its
        health endpoint answers (a standby replica)."""
        import sys
        import urllib.request

        assert not self.alive, "the operator is already running"
        with self.log_path.open("ab") as log:
            log.write(f"\n=== operator start {time.strftime('%H:%M:%S')} ===\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "headwater", "operator", *self.arguments()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.cluster.env(),
                start_new_session=True,
            )

        url = self.ready_url if ready else self.health_url

        def healthy() -> bool:
            if not self.alive:
                raise AssertionError(f"the operator exited:\n{self.tail()}")
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200

        wait_for(healthy, 90, f"the operator's {url}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no cleanup at all."""
        if self.proc is not None and self.alive:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or not self.alive:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def tail(self, since: int = 0, lines: int = 80) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())


def cluster_dir(cluster: Cluster) -> Path | None:
    """The cluster's directory (claims, logs), also when reusing one we did not start."""
    if cluster.dir is not None:
        return cluster.dir
    parent = cluster.kubeconfig.resolve().parent
    return parent if (parent / "cluster.json").exists() else None


def install_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str(CRD_DIR))
    names = [f"crd/{plural}.headwater.dev" for plural in HEADWATER_KINDS]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names, timeout=90)


@pytest.fixture(scope="session")
def operator_process(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    install_crds(cluster)
    base = cluster_dir(cluster)
    logs = base / "logs" if base is not None else tmp_path_factory.mktemp("operator")
    logs.mkdir(parents=True, exist_ok=True)
    process = Operator(cluster, logs / f"operator-{uuid.uuid4().hex[:6]}.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def operator(operator_process: Operator) -> Iterator[Operator]:
    """The session's operator, running; its log lines of this test are printed on
    teardown, so a failing test shows them."""
    if not operator_process.alive:
        operator_process.start()
    since = operator_process.log_size()
    yield operator_process
    print(f"--- operator log ({operator_process.log_path}) ---")
    print(operator_process.tail(since, lines=150))


# --- headwater objects for tests --------------------------------------------------

HEADWATER_API = "headwater.dev/v1alpha1"


def hw_function(
    name: str, code: str, params: list[str], outputs: list[str], handler: str = "main"
) -> dict[str, Any]:
    """A Function with inline code and `value` params."""
    return {
        "apiVersion": HEADWATER_API,
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "handler": handler,
            "code": {"inline": code},
            "params": [{"name": p, "type": "value"} for p in params],
            "outputs": outputs,
        },
    }


def hw_dataflow(name: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": HEADWATER_API,
        "kind": "Dataflow",
        "metadata": {"name": name},
        "spec": {"nodes": nodes},
    }


def hw_run(name: str, dataflow: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": HEADWATER_API,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"dataflow": dataflow, **spec},
    }


def run_status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(cluster.json("run", name, "-n", namespace).get("status") or {})


def wait_run(
    cluster: Cluster, namespace: str, name: str, phase: str, timeout: float = 120
) -> dict[str, Any]:
    """Wait until the Run reaches `phase`; fail at once if it ends in another one."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = run_status(cluster, namespace, name)
        current = status.get("phase")
        if current == phase:
            return status
        if current in ("Succeeded", "Failed", "Cancelled"):
            raise AssertionError(f"run {name} ended {current}, not {phase}: {status}")
        time.sleep(POLL)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for run {name}: {status}")


def items(cluster: Cluster, namespace: str, kind: str, selector: str) -> list[dict[str, Any]]:
    return list(cluster.json(kind, "-n", namespace, "-l", selector)["items"])


def claim_path(cluster: Cluster, namespace: str, uri: str) -> str:
    """A URI under the nodes' store mount, as the agent's directory for the namespace's
    `headwater-artifacts` claim (tests/cluster/README.md), to read results back."""
    from headwater.controller.settings import STORE_MOUNT_PATH

    base = cluster_dir(cluster)
    assert base is not None, "reading the PVC needs the cluster's directory"
    assert uri.startswith(STORE_MOUNT_PATH + "/"), uri
    claims = base / "node" / "claims" / namespace / "headwater-artifacts"
    return str(claims / uri[len(STORE_MOUNT_PATH) + 1 :])


SLEEPS = "import time\n\ndef main(x):\n    time.sleep(300)\n    return x\n"
PLUS_ONE = "def main(x):\n    return x + 1\n"


def of_run(cluster: Cluster, namespace: str, kind: str, run: str) -> list[dict[str, Any]]:
    """The objects of `kind` labelled with the Run."""
    return items(cluster, namespace, kind, f"headwater.dev/run={run}")


def sleeper(cluster: Cluster, namespace: str, more: tuple[dict, ...] = (), **spec: Any) -> None:
    """Run r: node nap sleeps 300 s, then the `more` nodes (Function plus-one is there)."""
    nap = {"name": "nap", "function": "sleeps", "inputs": ["x"], "outputs": ["napped"]}
    cluster.apply(
        [
            hw_function("sleeps", SLEEPS, ["x"], ["out"]),
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow("slow", [nap, *more]),
            hw_run("r", "slow", parameters={"x": {"value": 1}}, **spec),
        ],
        namespace,
    )


def running_pod(cluster: Cluster, namespace: str, run: str = "r") -> bool:
    pods = of_run(cluster, namespace, "pods", run)
    return any(p.get("status", {}).get("phase") == "Running" for p in pods)


def restart_apiserver(cluster: Cluster) -> None:
    """Stop kube-apiserver (SIGTERM, as a rolling upgrade of the control plane would) and
    start it again with the same command line; returns once it answers /readyz."""
    import sys

    sys.path.insert(0, str(CLUSTER_DIR))
    from controlplane.procs import alive, read_pid, spawn, terminate

    base = cluster_dir(cluster)
    assert base is not None, "restarting the API server needs the cluster's directory"
    pid = read_pid(base / "kube-apiserver.pid")
    assert pid is not None and alive(pid)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    environ = Path(f"/proc/{pid}/environ").read_bytes().rstrip(b"\0").split(b"\0")
    env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    terminate([pid], grace=10)
    spawn("kube-apiserver", [a.decode() for a in argv], base, env)
    wait_for(lambda: _reachable(str(cluster.kubeconfig)), 60, "the API server back")


# --- the cluster's object store (SeaweedFS, started by tests/cluster/up) -------------


@dataclass(frozen=True)
class ObjectStore:
    """The S3 endpoint, bucket and credentials of the cluster, from DIR/s3.json."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    bucket: str

    def env(self) -> dict[str, str]:
        """All a client needs: botocore (under s3fs) reads each of these by itself, so
        node Jobs get exactly these keys from a Secret through envFrom."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
        }

    def url(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", *parts])

    def create_secret(self, cluster: Cluster, namespace: str, name: str = "headwater-s3") -> str:
        """A Secret holding env() in `namespace`; returns its name."""
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
        cluster.apply({**secret, "stringData": self.env()}, namespace)
        return name


@pytest.fixture(scope="session")
def object_store(cluster: Cluster) -> ObjectStore:
    base = cluster_dir(cluster)
    settings = base / "s3.json" if base is not None else None
    if settings is None or not settings.exists():
        pytest.fail(
            f"the cluster ({cluster.kubeconfig}) has no DIR/s3.json: start it with a "
            "tests/cluster/up that runs SeaweedFS",
            pytrace=False,
        )
    raw = json.loads(settings.read_text())
    return ObjectStore(
        raw["endpoint"], raw["region"], raw["accessKey"], raw["secretKey"], raw["bucket"]
    )


@contextlib.contextmanager
def operator_on_object_store(
    cluster: Cluster, object_store: ObjectStore, shared: Operator
) -> Iterator[tuple[Operator, str]]:
    """An operator on the cluster's object store (`--store-url s3://headwater/<fresh
    prefix>`, credentials from each namespace's Secret `headwater-s3`) in place of the
    shared one, which is stopped meanwhile and started again by the next test that asks
    for `operator`. Yields it and its store URL. Its own environment holds the store's
    credentials too: it probes Datasets with them."""

    class WithStoreCredentials(type(cluster)):  # type: ignore[misc]
        def env(self) -> dict[str, str]:
            return {**super().env(), **object_store.env()}

    url = object_store.url("stores", uuid.uuid4().hex[:8])
    credentialed = WithStoreCredentials(cluster.kubeconfig, cluster.dir, cluster.bin_dir)
    on_store = Operator(
        credentialed,
        shared.log_path,
        "--store-url",
        url,
        "--store-credentials-secret",
        "headwater-s3",
    )
    shared.stop()
    try:
        on_store.start()
        yield on_store, url
    finally:
        on_store.stop()
