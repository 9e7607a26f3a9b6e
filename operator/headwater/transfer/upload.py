"""Pushing a file into the store through the API server alone: batches of ConfigMap
chunks, each batch read by a transfer Job that mounts them.

Per batch: the Job is created suspended; its chunks are created owned by it (so
deleting the Job deletes them); then it is resumed, writes the batch to the store and
ends; the client deletes the chunks and the Job before making the next batch. The
last batch's Job assembles the batches, checks the sha256 and renames the file into
place (headwater.transfer.storeops)."""

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from headwater.transfer import builders
from headwater.transfer.discovery import Target
from headwater.transfer.errors import TooLarge
from headwater.transfer.jobrun import TransferJob
from headwater.transfer.kube import Manifest
from headwater.transfer.model import Digest, Progress

CHUNK_WRITERS = 4
"""ConfigMaps created at once; twice as many chunks are read ahead."""


def check_upload_size(size: int) -> None:
    if size > builders.MAX_UPLOAD_VIA_JOB:
        raise TooLarge(
            f"the file has {size / builders.MIB:.0f} MiB, more than the"
            f" {builders.MAX_UPLOAD_VIA_JOB // builders.MIB} MiB a push through the Kubernetes"
            " API takes (its bytes pass through etcd): use an object store for larger files"
            " (the operator's --store-url), or a Dataset whose uri names where the file is"
        )


def push_via_jobs(
    target: Target, local: Path, dataset: str, digest: Digest, transfer_id: str, progress: Progress
) -> None:
    """Upload `local` as datasets/<dataset>/<its name>, verified in the cluster."""
    check_upload_size(digest.size)
    plan = builders.batches(digest.size)
    if target.store.kind == "pvc":
        target.kube.ensure_claim(builders.claim(target.store, target.namespace))
    progress.start(digest.size)
    with local.open("rb") as source:
        for number, chunks in enumerate(plan):
            name = builders.job_name("push", dataset, transfer_id, str(number))
            args = ["receive", "--root", target.root, "--dataset", dataset]
            args += ["--transfer", transfer_id, "--batch", str(number)]
            args += ["--chunks", builders.CHUNKS_DIR]
            if number == len(plan) - 1:
                args += ["--finish", local.name, "--size", str(digest.size)]
                args += ["--sha256", digest.sha256]
            volume, mount = builders.chunk_volume(name, len(chunks))
            manifest = builders.transfer_job(
                target.store,
                target.namespace,
                name,
                transfer_id,
                args,
                volumes=(volume,),
                mounts=(mount,),
                suspend=True,
            )
            _push_batch(target, source, manifest, chunks, transfer_id, progress)


def _push_batch(
    target: Target,
    source: BinaryIO,
    manifest: Manifest,
    chunks: list[tuple[int, int]],
    transfer_id: str,
    progress: Progress,
) -> None:
    with TransferJob(target.kube, manifest) as job:
        assert job.created is not None
        owner = job.created

        def make(index: int, chunk: bytes) -> None:
            body = builders.chunk_config_map(target.namespace, owner, index, chunk, transfer_id)
            target.kube.create_config_map(body)
            progress.advance(len(chunk))

        try:
            _each_chunk(source, chunks, make)
            job.resume()
            job.wait()
        finally:
            # Now, not when the garbage collector gets to it: the next batch's chunks
            # may not join these in etcd.
            target.kube.delete_config_maps(f"{builders.TRANSFER_LABEL}={transfer_id}")


def _each_chunk(
    source: BinaryIO, chunks: list[tuple[int, int]], make: Callable[[int, bytes], None]
) -> None:
    """`make(index, bytes)` for every chunk, CHUNK_WRITERS at a time; on any error (or
    Ctrl-C) the chunks not started are dropped and the running ones finished, so that
    nothing creates a ConfigMap after this returns."""
    pool = ThreadPoolExecutor(CHUNK_WRITERS, thread_name_prefix="chunk")
    running: deque[Future[None]] = deque()
    try:
        for index, (offset, length) in enumerate(chunks):
            while len(running) >= 2 * CHUNK_WRITERS:
                running.popleft().result()
            source.seek(offset)
            running.append(pool.submit(make, index, source.read(length)))
        while running:
            running.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
