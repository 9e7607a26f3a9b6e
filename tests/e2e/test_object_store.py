"""The cluster's object store (SeaweedFS from tests/cluster/up) as headwater's code will
meet it: fsspec `s3://` URLs, pointed at the endpoint by AWS_* variables alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import Cluster, ObjectStore

    WaitFor = Callable[..., Any]

pytestmark = pytest.mark.e2e

# Larger than s3fs's 50 MiB block, so the streamed write is a multipart upload rather
# than one PUT; random, so nothing on the way can compress it.
BIG = 50 * 2**20 + 1

# Runs in a process whose environment holds only PATH, HOME and the AWS_* variables:
# no storage_options, no endpoint in code, as in a node Job.
CLIENT = """
import json, shutil, sys
import fsspec

local, copy, prefix = sys.argv[1:]
fs, root = fsspec.core.url_to_fs(prefix)
with open(local, "rb") as src, fs.open(f"{root}/big.bin", "wb") as dst:
    shutil.copyfileobj(src, dst, 8 * 2**20)
fs.pipe_file(f"{root}/small/a.txt", b"a")
fs.pipe_file(f"{root}/small/b.txt", b"bb")
with fs.open(f"{root}/big.bin", "rb") as src, open(copy, "wb") as dst:
    shutil.copyfileobj(src, dst, 8 * 2**20)
listing = fs.ls(f"{root}/small", detail=True)
found = fs.find(root)
fs.rm(root, recursive=True)
fs.invalidate_cache()
# SeaweedFS keeps an emptied prefix as an empty folder for a while; only files count.
left = [name for name, info in fs.find(root, detail=True).items() if info["type"] == "file"]
print(json.dumps({
    "small": sorted((entry["name"], entry["size"]) for entry in listing),
    "found": sorted(found),
    "left": left,
}))
"""


def client_env(home: Path, aws: dict[str, str]) -> dict[str, str]:
    """Nothing but what a node Job would have; HOME is empty so no ~/.aws is read."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), **aws}


def run_client(
    home: Path, aws: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, *args],
        env=client_env(home, aws),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def finished_phase(cluster: Cluster, namespace: str, pod: str) -> str | None:
    phase = cluster.json("pod", pod, "-n", namespace)["status"].get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def test_s3fs_writes_reads_lists_and_deletes_with_env_variables_only(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    original = tmp_path / "big.bin"
    original.write_bytes(os.urandom(BIG))
    copy = tmp_path / "copy.bin"
    prefix = object_store.url("tests", uuid.uuid4().hex)
    root = prefix.removeprefix("s3://")

    out = run_client(tmp_path, object_store.env(), str(original), str(copy), prefix)

    result = json.loads(out.stdout)
    assert copy.stat().st_size == BIG
    assert copy.read_bytes() == original.read_bytes()
    assert result["small"] == [[f"{root}/small/a.txt", 1], [f"{root}/small/b.txt", 2]]
    assert result["found"] == [f"{root}/big.bin", f"{root}/small/a.txt", f"{root}/small/b.txt"]
    assert result["left"] == []


def test_a_wrong_secret_is_refused(object_store: ObjectStore, tmp_path: Path) -> None:
    """The store checks signatures, so the round trip above really used the variables."""
    source = tmp_path / "one.bin"
    source.write_bytes(b"x")
    wrong = {**object_store.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    prefix = object_store.url("tests", uuid.uuid4().hex)

    proc = run_client(tmp_path, wrong, str(source), str(tmp_path / "c"), prefix, check=False)

    assert proc.returncode != 0
    assert "SignatureDoesNotMatch" in proc.stderr or "PermissionError" in proc.stderr


def test_a_pod_reads_the_store_with_the_credentials_secret_through_env_from(
    cluster: Cluster, object_store: ObjectStore, namespace: str, wait_for: WaitFor
) -> None:
    import fsspec

    key = object_store.url("tests", uuid.uuid4().hex, "hello.txt")
    storage = {
        "key": object_store.access_key,
        "secret": object_store.secret_key,
        "endpoint_url": object_store.endpoint,
    }
    fs, path = fsspec.core.url_to_fs(key, **storage)
    fs.pipe_file(path, b"from the test")
    secret = object_store.create_secret(cluster, namespace)
    read = f"import fsspec; print(fsspec.open({key!r}).open().read().decode())"
    main = {"name": "main", "image": "python", "command": ["python", "-c", read]}
    spec = {
        "restartPolicy": "Never",
        "containers": [{**main, "envFrom": [{"secretRef": {"name": secret}}]}],
    }
    cluster.apply(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader"}, "spec": spec}, namespace
    )
    try:
        phase = wait_for(lambda: finished_phase(cluster, namespace, "reader"), 120, "the Pod")
        logs = cluster.kubectl("logs", "reader", "-n", namespace).stdout
        assert (phase, logs) == ("Succeeded", "from the test\n")
    finally:
        fs.rm_file(path)
