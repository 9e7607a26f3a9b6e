"""`headwater dataset push|pull` and `headwater outputs` on the real control plane, for
each kind of store: the per-namespace PVC (reached through transfer Jobs: ConfigMaps
in, Pods' logs out) with the shared operator, and the object store (SeaweedFS, reached
directly with the namespace's credentials Secret) with an operator on `--store-url`.

The CLI runs as a user would run it: a subprocess with a kubeconfig and no AWS_*
variables of its own, so what it knows of the object store comes from the cluster."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import yaml
from conftest import (
    HEADWATER_API,
    REPO,
    cluster_dir,
    hw_dataflow,
    hw_run,
    operator_on_object_store,
    wait_for,
)

from headwater.transfer.builders import MAX_UPLOAD_VIA_JOB

if TYPE_CHECKING:
    from conftest import Cluster, ObjectStore, Operator

pytestmark = pytest.mark.e2e

BIG = 50_000_000
"""The 50 MB file of the issue: three upload batches, nine download segments."""
TRANSFER_JOBS = "app.kubernetes.io/component=transfer"
CHUNKS = "headwater.dev/transfer"
CHART = REPO / "charts" / "headwater"


@dataclass
class Store:
    """The kind of store the operator of these tests runs with, and how a test looks
    into it behind the CLI's back."""

    kind: str
    cluster: Cluster
    object_store: ObjectStore
    url: str | None = None

    def prepare(self, namespace: str) -> None:
        if self.kind == "object":
            self.object_store.create_secret(self.cluster, namespace)

    def _filesystem(self, namespace: str, folder: str) -> tuple[Any, str]:
        import fsspec

        options = {
            "key": self.object_store.access_key,
            "secret": self.object_store.secret_key,
            "endpoint_url": self.object_store.endpoint,
        }
        filesystem, root = fsspec.core.url_to_fs(f"{self.url}/{namespace}/{folder}", **options)
        filesystem.invalidate_cache()
        return filesystem, root

    def files(self, namespace: str, folder: str) -> list[str]:
        """File names under `folder` of the namespace's store."""
        if self.kind == "pvc":
            base = cluster_dir(self.cluster)
            assert base is not None
            path = base / "node" / "claims" / namespace / "headwater-artifacts" / folder
            return sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        filesystem, root = self._filesystem(namespace, folder)
        try:
            found = filesystem.ls(root, detail=True)
        except FileNotFoundError:
            return []
        return sorted(e["name"].rsplit("/", 1)[-1] for e in found if e["type"] == "file")

    def uploads(self, namespace: str, folder: str) -> list[str]:
        """Multipart uploads in progress into `folder` (object store): what an
        interrupted upload must not complete."""
        filesystem, root = self._filesystem(namespace, folder)
        bucket, _, prefix = root.partition("/")
        found = filesystem.list_multipart_uploads(bucket)
        return [u["Key"] for u in found if u["Key"].startswith(prefix + "/")]


@pytest.fixture(scope="module", params=["pvc", "object"])
def store(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    object_store: ObjectStore,
    operator_process: Operator,
) -> Iterator[Store]:
    """Module-scoped, so pytest runs every PVC test, then every object-store test,
    starting the object-store operator once."""
    if request.param == "pvc":
        if not operator_process.alive:
            operator_process.start()
        yield Store("pvc", cluster, object_store)
        return
    with operator_on_object_store(cluster, object_store, operator_process) as (_, url):
        yield Store("object", cluster, object_store, url)


def cli_env(cluster: Cluster, **extra: str) -> dict[str, str]:
    """What a user's shell has: a kubeconfig, and no object-store credentials."""
    env = {k: v for k, v in cluster.env().items() if not k.startswith("AWS_")}
    return {**env, **extra}


def headwater(
    cluster: Cluster, *args: str, check: bool = True, **extra: str
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        capture_output=True,
        text=True,
        env=cli_env(cluster, **extra),
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, f"headwater {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ready(cluster: Cluster, namespace: str, dataset: str) -> dict[str, Any] | None:
    """The Dataset's Ready condition once the operator has looked at this generation."""
    body = cluster.json("dataset", dataset, "-n", namespace)
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return None
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)


def names(cluster: Cluster, namespace: str, kind: str, selector: str) -> list[str]:
    """Names only, from the server's table: chunk ConfigMaps hold 1 MB each."""
    table = cluster.kubectl("get", kind, "-n", namespace, "-l", selector, "--no-headers")
    return [line.split()[0] for line in table.stdout.splitlines() if line.strip()]


def left_over(cluster: Cluster, namespace: str) -> list[str]:
    """Transfer Jobs, their Pods and chunk ConfigMaps still in the namespace."""
    return [
        f"{kind}/{name}"
        for kind, selector in (("jobs", TRANSFER_JOBS), ("pods", TRANSFER_JOBS), ("cm", CHUNKS))
        for name in names(cluster, namespace, kind, selector)
    ]


def function(name: str, code: str, params: list[dict[str, str]], outputs: list[str]) -> dict:
    return {
        "apiVersion": HEADWATER_API,
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {"handler": "main", "code": {"inline": code}, "params": params, "outputs": outputs},
    }


DIGEST = """\
import hashlib

def main(blob):
    with open(blob, "rb") as f:
        data = f.read()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}, data
"""
JOIN = "def main(left, right):\n    return left.merge(right, on='key')\n"


def test_pushed_files_feed_a_dataflow_and_its_outputs_come_back(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    store.prepare(namespace)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(BIG))
    left = pd.DataFrame({"key": range(1000), "x": [i * 0.5 for i in range(1000)]})
    right = pd.DataFrame({"key": range(0, 2000, 2), "y": [f"y{i}" for i in range(1000)]})
    left.to_parquet(tmp_path / "left.parquet")
    right.to_parquet(tmp_path / "right.parquet")

    for name, path in (("blob", blob), ("left", "left.parquet"), ("right", "right.parquet")):
        out = headwater(cluster, "dataset", "push", name, str(tmp_path / path), "-n", namespace)
        assert f"dataset {name}: pushed" in out.stderr, out.stderr
    for name, path in (("blob", blob), ("left", "left.parquet"), ("right", "right.parquet")):
        condition = wait_for(lambda n=name: ready(cluster, namespace, n), 60, f"{name} checked")
        assert condition["status"] == "True", condition
        assert condition["reason"] == ("Pushed" if store.kind == "pvc" else "Reachable")
        status = cluster.json("dataset", name, "-n", namespace)["status"]
        local = tmp_path / path
        assert (status["size"], status["sha256"]) == (local.stat().st_size, sha256(local))
    spec = cluster.json("dataset", "left", "-n", namespace)["spec"]
    assert spec == {"format": "parquet", "source": {"uri": "datasets/left/left.parquet"}}
    assert store.files(namespace, "datasets/blob") == ["blob.bin"]

    cluster.apply(
        [
            function("digest", DIGEST, [{"name": "blob", "type": "path"}], ["summary", "copy"]),
            function(
                "join",
                JOIN,
                [{"name": "left", "type": "artifact"}, {"name": "right", "type": "artifact"}],
                ["joined"],
            ),
            hw_dataflow(
                "flow",
                [
                    {"name": "digest", "function": "digest", "inputs": ["blob"]},
                    {"name": "join", "function": "join", "inputs": ["left", "right"]},
                ],
            ),
            hw_run(
                "r",
                "flow",
                parameters={n: {"dataset": n} for n in ("blob", "left", "right")},
            ),
        ],
        namespace,
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Finished", "run/r", "--timeout=300s", timeout=320
    )
    assert cluster.json("run", "r", "-n", namespace)["status"]["phase"] == "Succeeded"

    listed = json.loads(headwater(cluster, "outputs", "r", "-n", namespace, "-o", "json").stdout)
    by_name = {o["name"]: o for o in listed}
    assert sorted(by_name) == ["copy", "joined", "summary"]
    assert by_name["summary"]["value"] == {"size": BIG, "sha256": sha256(blob)}
    assert (by_name["joined"]["node"], by_name["joined"]["meta"]["serializer"]) == (
        "join",
        "parquet",
    )
    assert all(o["final"] and o["meta"] for o in listed)
    table = headwater(cluster, "outputs", "r", "-n", namespace).stdout
    assert table.splitlines()[0].split() == ["NAME", "NODE", "FORMAT", "SIZE", "VALUE", "URI"]
    assert f'"sha256":"{sha256(blob)[:8]}' in table

    into = tmp_path / "outputs"
    headwater(cluster, "outputs", "r", "-n", namespace, "--download", str(into))
    copy = into / "digest" / "copy"
    assert pickle.loads((copy / "data.pkl").read_bytes()) == blob.read_bytes()
    meta = json.loads((copy / "meta.json").read_text())
    assert meta["sha256"] == sha256(copy / "data.pkl")
    joined = pd.read_parquet(into / "join" / "joined" / "data.parquet")
    pd.testing.assert_frame_equal(joined, left.merge(right, on="key"))
    one = tmp_path / "one"
    headwater(cluster, "outputs", "r", "summary", "-n", namespace, "--download", str(one))
    assert json.loads((one / "digest" / "summary" / "data.json").read_text())["size"] == BIG
    assert sorted(p.name for p in one.iterdir()) == ["digest"]

    pulled = tmp_path / "pulled.bin"
    headwater(cluster, "dataset", "pull", "blob", str(pulled), "-n", namespace)
    assert pulled.read_bytes() == blob.read_bytes()
    (tmp_path / "here").mkdir()
    headwater(cluster, "dataset", "pull", "right", str(tmp_path / "here"), "-n", namespace)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "here" / "right.parquet"), right)
    assert wait_for(lambda: not left_over(cluster, namespace), 60, "transfer objects gone")


def test_a_second_push_of_the_same_bytes_changes_nothing(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    store.prepare(namespace)
    data = tmp_path / "numbers.json"
    data.write_text(json.dumps(list(range(100))))
    headwater(cluster, "dataset", "push", "numbers", str(data), "-n", namespace)
    before = cluster.json("dataset", "numbers", "-n", namespace)["metadata"]["resourceVersion"]

    again = headwater(cluster, "dataset", "push", "numbers", str(data), "-n", namespace)

    assert "dataset numbers: unchanged" in again.stderr and "nothing pushed" in again.stderr
    after = cluster.json("dataset", "numbers", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before
    data.write_text(json.dumps([1, 2, 3]))
    changed = headwater(cluster, "dataset", "push", "numbers", str(data), "-n", namespace)
    assert "dataset numbers: pushed" in changed.stderr
    annotations = cluster.json("dataset", "numbers", "-n", namespace)["metadata"]["annotations"]
    assert annotations["headwater.dev/pushed-sha256"] == sha256(data)
    assert annotations["headwater.dev/pushed-size"] == str(data.stat().st_size)


def chart_roles(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    """The chart's headwater-view and headwater-edit ClusterRoles as Roles of one
    namespace: exactly what the chart grants, without installing it cluster-wide."""
    rendered = cluster.helm(
        "template", "hw", str(CHART), "--show-only", "templates/user-roles.yaml"
    ).stdout
    roles = []
    for document in yaml.safe_load_all(rendered):
        name = document["metadata"]["name"]
        roles.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": document["rules"],
            }
        )
    return roles


@pytest.fixture
def store_reader(cluster: Cluster) -> Iterator[None]:
    """The chart's Role that lets every signed-in user read headwater-store, in the
    namespace where the tests' operator publishes it."""
    release = f"tr-{uuid.uuid4().hex[:6]}"
    rendered = cluster.helm(
        "template", release, str(CHART), "-n", "default", "--show-only", "templates/rbac.yaml"
    ).stdout
    documents = [
        d
        for d in yaml.safe_load_all(rendered)
        if d and d["metadata"]["name"].endswith("-store-reader")
    ]
    assert {d["kind"] for d in documents} == {"Role", "RoleBinding"}
    cluster.apply(documents)
    try:
        yield
    finally:
        for document in documents:
            kind, name = document["kind"].lower(), document["metadata"]["name"]
            cluster.kubectl("delete", kind, name, "-n", "default", check=False)


def user(cluster: Cluster, namespace: str, name: str, roles: list[str], tmp_path: Path) -> Path:
    """A ServiceAccount bound to `roles` (Kubernetes' ClusterRoles, then the chart's
    Roles in the namespace), and a kubeconfig that signs in as it."""
    cluster.kubectl("create", "serviceaccount", name, "-n", namespace)
    for role in roles:
        kind = "--role" if role.startswith("headwater-") else "--clusterrole"
        cluster.kubectl(
            "create",
            "rolebinding",
            f"{name}-{role}",
            "-n",
            namespace,
            f"{kind}={role}",
            f"--serviceaccount={namespace}:{name}",
        )
    token = cluster.kubectl("create", "token", name, "-n", namespace).stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [server],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": server["name"], "user": name, "namespace": namespace},
            }
        ],
        "current-context": name,
    }
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_editor_pushes_and_pulls_and_a_viewer_is_refused(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path, store_reader: None
) -> None:
    """Kubernetes' `edit` plus the chart's headwater-edit is all a push and a pull
    need, the claim included (no Run has made it yet); `view` is refused by the API
    server before a byte moves."""
    store.prepare(namespace)
    cluster.apply(chart_roles(cluster, namespace))
    roles = ["edit", "headwater-view", "headwater-edit"]
    editor = user(cluster, namespace, "editor", roles, tmp_path)
    viewer = user(cluster, namespace, "viewer", ["view", "headwater-view"], tmp_path)
    data = tmp_path / "model.npy"
    data.write_bytes(os.urandom(3_000_000))

    pushed = headwater(cluster, "dataset", "push", "model", str(data), KUBECONFIG=str(editor))
    assert "dataset model: pushed" in pushed.stderr
    back = tmp_path / "back.npy"
    headwater(cluster, "dataset", "pull", "model", str(back), KUBECONFIG=str(editor))
    assert back.read_bytes() == data.read_bytes()

    refused = headwater(
        cluster, "dataset", "push", "theirs", str(data), check=False, KUBECONFIG=str(viewer)
    )

    assert refused.returncode == 1
    expected = (
        f"datasets.headwater.dev is forbidden: User"
        f' "system:serviceaccount:{namespace}:viewer" cannot create resource "datasets"'
        f' in API group "headwater.dev" in the namespace "{namespace}"'
    )
    assert expected in refused.stderr, refused.stderr
    found = cluster.kubectl("get", "dataset", "theirs", "-n", namespace, check=False)
    assert found.returncode != 0
    assert store.files(namespace, "datasets/theirs") == []
    assert not left_over(cluster, namespace)


def test_an_interrupted_push_leaves_no_dataset_and_no_job(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """Ctrl-C and SIGTERM mid-upload: the CLI deletes what it made and exits 130;
    the Dataset still names the complete file of the push before. SIGKILL cannot clean
    up, but leaves no Dataset pointing at a half-written file either."""
    store.prepare(namespace)
    first = tmp_path / "blob.bin"
    first.write_bytes(os.urandom(1000))
    headwater(cluster, "dataset", "push", "blob", str(first), "-n", namespace)
    big = tmp_path / "big" / "blob.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(BIG))
    before = cluster.json("dataset", "blob", "-n", namespace)

    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        push = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headwater",
                "dataset",
                "push",
                "blob",
                str(big),
                "-n",
                namespace,
            ],
            env=cli_env(cluster),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: uploading(store, cluster, namespace), 120, "the upload under way")
            if store.kind == "pvc" and stop == signal.SIGINT:
                assert_restricted(cluster, namespace)
            push.send_signal(stop)
            _, err = push.communicate(timeout=60)
        finally:
            push.kill()
        if stop != signal.SIGKILL:
            assert push.returncode == 130, err
            assert "interrupted" in err
            wait_for(lambda: not left_over(cluster, namespace), 60, "transfer objects gone")
            assert not [f for f in store.files(namespace, "datasets/blob") if "push" in f]
            if store.kind == "object":
                assert store.uploads(namespace, "datasets/blob") == []
        after = cluster.json("dataset", "blob", "-n", namespace)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "blob.bin" in store.files(namespace, "datasets/blob")
    back = tmp_path / "back.bin"
    headwater(cluster, "dataset", "pull", "blob", str(back), "-n", namespace)
    assert back.read_bytes() == first.read_bytes()


def uploading(store: Store, cluster: Cluster, namespace: str) -> bool:
    """A batch's chunks are on their way (PVC), or the temporary object is being
    uploaded (object store)."""
    if store.kind == "pvc":
        return bool(names(cluster, namespace, "cm", CHUNKS))
    return bool(store.uploads(namespace, "datasets/blob"))


def assert_restricted(cluster: Cluster, namespace: str) -> None:
    """A chunk under way is owned by its batch's Job, whose Pods are restricted."""

    def chunk_owner() -> dict[str, Any]:
        chunk = names(cluster, namespace, "cm", CHUNKS)[0]
        owners = cluster.kubectl(
            "get", "cm", chunk, "-n", namespace, "-o", "jsonpath={.metadata.ownerReferences}"
        )
        (owner,) = json.loads(owners.stdout)
        job = cluster.json("job", owner["name"], "-n", namespace)
        assert (owner["kind"], owner["uid"]) == ("Job", job["metadata"]["uid"])
        return dict(job)

    # A batch may end and take its chunks while this looks: look again.
    job = wait_for(chunk_owner, 30, "a chunk and its Job")
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "transfer"
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_a_dataset_whose_file_is_not_in_the_store_is_not_ready(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    store.prepare(namespace)
    cluster.apply(
        {
            "apiVersion": HEADWATER_API,
            "kind": "Dataset",
            "metadata": {"name": "ghost"},
            "spec": {"source": {"uri": "datasets/ghost/ghost.bin"}},
        },
        namespace,
    )
    condition = wait_for(lambda: ready(cluster, namespace, "ghost"), 60, "ghost checked")
    assert condition["status"] == "False", condition
    assert condition["reason"] == ("NotPushed" if store.kind == "pvc" else "NotFound")
    assert "datasets/ghost/ghost.bin" in condition["message"]

    pulled = headwater(
        cluster, "dataset", "pull", "ghost", str(tmp_path / "g"), "-n", namespace, check=False
    )

    assert pulled.returncode == 1
    assert "datasets/ghost/ghost.bin" in pulled.stderr and "no such file" in pulled.stderr
    assert not (tmp_path / "g").exists()


def test_pull_says_when_a_dataset_is_not_in_the_store(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    store.prepare(namespace)
    elsewhere = {"uri": "https://data.example.com/radar.parquet"}
    in_a_config_map = {"configMapKeyRef": {"name": "data", "key": "radar.parquet"}}
    cluster.apply(
        [
            {
                "apiVersion": HEADWATER_API,
                "kind": "Dataset",
                "metadata": {"name": name},
                "spec": {"source": source},
            }
            for name, source in (("elsewhere", elsewhere), ("configured", in_a_config_map))
        ],
        namespace,
    )
    outside = headwater(cluster, "dataset", "pull", "elsewhere", "-n", namespace, check=False)
    assert outside.returncode == 1
    assert "https://data.example.com/radar.parquet, which is not in namespace" in outside.stderr
    keyed = headwater(cluster, "dataset", "pull", "configured", "-n", namespace, check=False)
    assert keyed.returncode == 1
    assert "reads key radar.parquet of ConfigMap data, not a file in the" in keyed.stderr
    missing = headwater(cluster, "outputs", "nope", "-n", namespace, check=False)
    assert missing.returncode == 1 and f"no Run nope in namespace {namespace}" in missing.stderr


def test_a_file_too_large_for_the_api_server_path_is_refused_before_anything_moves(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    store.prepare(namespace)
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as sparse:
        sparse.truncate(MAX_UPLOAD_VIA_JOB + 1)
    via = ["--via", "job"] if store.kind == "object" else []

    refused = headwater(
        cluster, "dataset", "push", "huge", str(huge), "-n", namespace, *via, check=False
    )

    assert refused.returncode == 1
    assert f"more than the {MAX_UPLOAD_VIA_JOB >> 20} MiB a push through the Kubernetes API" in (
        " ".join(refused.stderr.split())
    )
    assert cluster.kubectl("get", "dataset", "huge", "-n", namespace, check=False).returncode
    assert not left_over(cluster, namespace)


def test_without_a_published_store_the_cli_says_what_to_do(
    store: Store, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    data = tmp_path / "x.txt"
    data.write_text("x")
    lost = headwater(
        cluster,
        "dataset",
        "push",
        "x",
        str(data),
        "-n",
        namespace,
        check=False,
        HEADWATER_OPERATOR_NAMESPACE="nowhere",
    )
    assert lost.returncode == 1
    message = " ".join(lost.stderr.split())
    assert "no ConfigMap headwater-store in namespace nowhere" in message
    assert "set HEADWATER_OPERATOR_NAMESPACE" in message
