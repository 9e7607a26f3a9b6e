"""The Kubernetes objects a transfer makes, built by pure functions from the namespace's
StoreInfo: nothing here talks to the API server.

A transfer Job runs `python -m headwater.transfer` in the runner image, under the same
restricted Pod security as node Jobs, with the store mounted the way node Jobs mount it
(the claim, or the object store's credentials through envFrom). It needs nothing beyond
Kubernetes' `edit` role: Jobs, ConfigMaps, claims, Pods' logs, Events.

Limits, and why:
- an upload through the API server travels in ConfigMaps of CHUNK bytes (binaryData:
  1,000 KiB of base64 in the request, under the 1 MiB a ConfigMap may hold),
  BATCH_CHUNKS to a batch (23.4 MiB); while one batch's Job writes it, the next batch is
  uploaded, and a batch's chunks are deleted before the one after it starts, so etcd
  holds at most two batches (46.9 MiB) per push; MAX_UPLOAD_VIA_JOB bounds a push
  because etcd keeps deleted revisions until the API server compacts them (every 5
  minutes), and its quota (2 GiB by default) is the whole cluster's;
- a download comes back through Pods' logs, one Indexed-Job index per SEGMENT
  (headwater.transfer.wire); MAX_DOWNLOAD_VIA_JOB bounds the Pods one file takes.
"""

import base64
from typing import Any

from headwater.artifacts.published import StoreInfo
from headwater.controller.jobs import (
    SCRATCH_MOUNT,
    SCRATCH_VOLUME,
    restricted_container_security,
    restricted_pod_spec,
    store_claim,
    store_env_from,
)
from headwater.controller.naming import bounded

Manifest = dict[str, Any]

MIB = 1 << 20
CHUNK = 750 * 1024
BATCH_CHUNKS = 32
BATCH = CHUNK * BATCH_CHUNKS
MAX_UPLOAD_VIA_JOB = 256 * MIB
MAX_DOWNLOAD_VIA_JOB = 1024 * MIB
SEND_PARALLELISM = 4
"""Download Pods running at once."""
TTL_SECONDS = 600
"""A finished transfer Job the client could not delete (it was killed) goes after this."""
DEADLINE_SECONDS = 3600

CONTAINER = "transfer"
CHUNKS_DIR = "/var/run/headwater/chunks"
CHUNK_KEY = "chunk"
MANAGER = "headwater-cli"
TRANSFER_LABEL = "headwater.dev/transfer"
BATCH_LABEL = "headwater.dev/transfer-job"
"""On a chunk: the Job of its batch."""
NAME_LIMIT = 50
"""Job names stay short: an Indexed Job's Pods are named `<job>-<index>-<suffix>` and
take `<job>-<index>` as hostname, at most 63 characters."""
REQUESTS = {"cpu": "100m", "memory": "256Mi"}


def labels(transfer_id: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "headwater",
        "app.kubernetes.io/component": "transfer",
        "app.kubernetes.io/part-of": "headwater",
        "app.kubernetes.io/managed-by": MANAGER,
        TRANSFER_LABEL: transfer_id,
    }


def job_name(verb: str, subject: str, transfer_id: str, *more: str) -> str:
    return bounded(f"headwater-{verb}", subject, transfer_id, *more, limit=NAME_LIMIT)


def transfer_job(
    store: StoreInfo,
    namespace: str,
    name: str,
    transfer_id: str,
    args: list[str],
    volumes: tuple[Manifest, ...] = (),
    mounts: tuple[Manifest, ...] = (),
    suspend: bool = False,
    indexed: int | None = None,
) -> Manifest:
    """A Job running `python -m headwater.transfer ARGS` against the namespace's store;
    `indexed`: an Indexed Job of that many completions."""
    all_volumes, all_mounts = [SCRATCH_VOLUME, *volumes], [SCRATCH_MOUNT, *mounts]
    container: Manifest = {
        "name": CONTAINER,
        "image": store.runner_image,
        "command": ["python", "-m", "headwater.transfer", *args],
        "env": [
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "HOME", "value": "/tmp"},
            {"name": "PYTHONWARNINGS", "value": "ignore"},
        ],
        "resources": {"requests": dict(REQUESTS)},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": restricted_container_security(),
    }
    if store.kind == "pvc":
        assert store.claim is not None
        volume, mount = store_claim(store.claim, store.mount_path)
        all_volumes.append(volume)
        all_mounts.append(mount)
    elif store.credentials_secret:
        container["envFrom"] = store_env_from(store.credentials_secret)
    container["volumeMounts"] = all_mounts
    spec: Manifest = {
        "backoffLimit": 1,
        "ttlSecondsAfterFinished": TTL_SECONDS,
        "activeDeadlineSeconds": DEADLINE_SECONDS,
        "suspend": suspend,
        "template": {
            "metadata": {"labels": labels(transfer_id)},
            "spec": restricted_pod_spec([container], all_volumes),
        },
    }
    if indexed is not None:
        spec |= {
            "completionMode": "Indexed",
            "completions": indexed,
            "parallelism": min(indexed, SEND_PARALLELISM),
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(transfer_id)},
        "spec": spec,
    }


def chunk_name(job: str, index: int) -> str:
    return f"{job}-{index:03d}"


def chunk_config_map(
    namespace: str, job: Manifest, index: int, data: bytes, transfer_id: str
) -> Manifest:
    """One chunk of an upload, owned by its batch's Job: deleting the Job (or its TTL)
    deletes the chunk. No blockOwnerDeletion: that would need update on jobs/finalizers,
    which `edit` does not grant."""
    metadata = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": chunk_name(metadata["name"], index),
            "namespace": namespace,
            "labels": {**labels(transfer_id), BATCH_LABEL: metadata["name"]},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                }
            ],
        },
        "binaryData": {CHUNK_KEY: base64.b64encode(data).decode()},
        "immutable": True,
    }


def chunk_volume(job: str, count: int) -> tuple[Manifest, Manifest]:
    """One projected volume with a batch's chunks as files 00000, 00001, … in order."""
    sources = [
        {
            "configMap": {
                "name": chunk_name(job, index),
                "items": [{"key": CHUNK_KEY, "path": f"{index:05d}"}],
            }
        }
        for index in range(count)
    ]
    return (
        {"name": "chunks", "projected": {"sources": sources}},
        {"name": "chunks", "mountPath": CHUNKS_DIR, "readOnly": True},
    )


def batches(size: int) -> list[list[tuple[int, int]]]:
    """(offset, length) of each chunk of a `size`-byte file, BATCH_CHUNKS per batch; an
    empty file is one empty chunk."""
    chunks = [(offset, min(CHUNK, size - offset)) for offset in range(0, size, CHUNK)]
    chunks = chunks or [(0, 0)]
    return [chunks[start : start + BATCH_CHUNKS] for start in range(0, len(chunks), BATCH_CHUNKS)]


def claim(store: StoreInfo, namespace: str) -> Manifest:
    """The namespace's store claim as the operator would make it, for a push that comes
    before any Run."""
    assert store.claim is not None
    spec: Manifest = {
        "accessModes": [store.claim_access_mode or "ReadWriteOnce"],
        "resources": {"requests": {"storage": store.claim_size or "10Gi"}},
    }
    if store.claim_storage_class:
        spec["storageClassName"] = store.claim_storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": store.claim,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "headwater",
                "app.kubernetes.io/component": "artifact-store",
                "app.kubernetes.io/managed-by": MANAGER,
            },
        },
        "spec": spec,
    }
