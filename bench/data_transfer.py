"""How fast `headwater dataset push` and `pull` move a file (50 MB of random bytes by
default) on the local control plane, for each kind of store and each path:

- pvc, via job: ConfigMap chunks in, an Indexed Job's logs out (the only way to a PVC);
- object, direct: s3fs from this process to SeaweedFS, with the namespace's Secret;
- object, via job: as for the PVC, the transfer Jobs reading and writing S3.

Prints MB/s (10^6 bytes per second of wall time, the whole command: Dataset write,
Jobs, verification) as best and median of N runs. No operator is needed: the bench
publishes the `headwater-store` ConfigMap itself, in a namespace of its own.

Usage: python bench/data_transfer.py [--dir CLUSTER_DIR] [--size-mb 50] [--repeat 3]
Without --dir it starts and stops its own cluster (tests/cluster/up and down).
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
RUNNER_IMAGE = "ghcr.io/headwater-dev/headwater:0.1.0"


@contextlib.contextmanager
def cluster(directory: Path | None) -> Iterator[Path]:
    if directory is not None:
        yield directory
        return
    with tempfile.TemporaryDirectory(prefix="hw-bench-transfer-") as tmp:
        subprocess.run([str(CLUSTER / "up"), tmp], check=True, stdout=subprocess.DEVNULL)
        try:
            yield Path(tmp)
        finally:
            subprocess.run([str(CLUSTER / "down"), tmp], check=False)


def publish(kube: object, where: str, info: object) -> None:
    """headwater-store as the operator would publish it."""
    from kubernetes import client

    core = client.CoreV1Api(kube)  # type: ignore[arg-type]
    body = {"metadata": {"name": "headwater-store"}, "data": info.to_data()}  # type: ignore[attr-defined]
    with contextlib.suppress(client.ApiException):
        core.delete_namespaced_config_map("headwater-store", where)
    core.create_namespaced_config_map(where, body)


def measure(
    namespace: str, via: str | None, local: Path, repeat: int
) -> tuple[list[float], list[float]]:
    from headwater.transfer import connect, pull_dataset, push_dataset

    pushes, pulls = [], []
    for attempt in range(repeat):
        target = connect(namespace)
        name = f"bench-{attempt}-{uuid.uuid4().hex[:4]}"
        start = time.perf_counter()
        pushed = push_dataset(target, name, local, via=via)  # type: ignore[arg-type]
        pushes.append(time.perf_counter() - start)
        assert pushed.changed
        back = local.with_name(f"{name}.back")
        start = time.perf_counter()
        pull_dataset(target, name, back, via=via)  # type: ignore[arg-type]
        pulls.append(time.perf_counter() - start)
        assert back.stat().st_size == local.stat().st_size
        back.unlink()
    return pushes, pulls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="a running cluster's directory")
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()

    from kubernetes import client

    from headwater.artifacts.published import StoreInfo
    from headwater.controller.kube import load_client_config

    with cluster(arguments.dir) as directory, tempfile.TemporaryDirectory() as scratch:
        os.environ["KUBECONFIG"] = str(directory / "kubeconfig")
        for crds in (
            ["apply", "-f", str(ROOT / "crds")],
            ["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
        ):
            subprocess.run(["kubectl", *crds], check=True, stdout=subprocess.DEVNULL)
        kube = client.ApiClient(load_client_config())
        core = client.CoreV1Api(kube)
        run = uuid.uuid4().hex[:6]
        home, namespace = f"hw-bench-home-{run}", f"hw-bench-{run}"
        for name in (home, namespace):
            core.create_namespace({"metadata": {"name": name}})
        os.environ["HEADWATER_OPERATOR_NAMESPACE"] = home
        s3 = json.loads((directory / "s3.json").read_text())
        credentials = {
            "AWS_ACCESS_KEY_ID": s3["accessKey"],
            "AWS_SECRET_ACCESS_KEY": s3["secretKey"],
            "AWS_ENDPOINT_URL": s3["endpoint"],
            "AWS_DEFAULT_REGION": s3["region"],
        }
        secret = {"metadata": {"name": "headwater-s3"}, "stringData": credentials}
        core.create_namespaced_secret(namespace, secret)
        pvc = StoreInfo(
            kind="pvc",
            claim="headwater-artifacts",
            claim_size="10Gi",
            claim_access_mode="ReadWriteOnce",
            mount_path="/var/lib/headwater/store",
            runner_image=RUNNER_IMAGE,
        )
        bucket = StoreInfo(
            kind="object",
            url=f"s3://{s3['bucket']}/bench-{run}",
            credentials_secret="headwater-s3",
            mount_path="/var/lib/headwater/store",
            runner_image=RUNNER_IMAGE,
        )
        local = Path(scratch) / "blob.bin"
        local.write_bytes(os.urandom(arguments.size_mb * 10**6))
        size_mb = local.stat().st_size / 1e6
        print(f"{size_mb:.0f} MB, {arguments.repeat} runs each; MB/s best / median (seconds)")
        try:
            for info, via, label in (
                (pvc, None, "pvc, via job"),
                (bucket, None, "object, direct"),
                (bucket, "job", "object, via job"),
            ):
                publish(kube, home, info)
                pushes, pulls = measure(namespace, via, local, arguments.repeat)
                for verb, times in (("push", pushes), ("pull", pulls)):
                    best, median = min(times), statistics.median(times)
                    print(
                        f"{label:16} {verb}: {size_mb / best:6.1f} / {size_mb / median:6.1f} MB/s"
                        f"   ({', '.join(f'{t:.1f}' for t in times)} s)",
                        flush=True,
                    )
        finally:
            for name in (home, namespace):
                core.delete_namespace(name)


if __name__ == "__main__":
    main()
