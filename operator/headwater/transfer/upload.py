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
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from headwater.transfer import builders
from headwater.transfer.discovery import Target
from headwater.transfer.errors import TooLarge
from headwater.transfer.jobrun import TransferJob, delete_orphans
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
    """Upload `local` as datasets/<dataset>/<its name>, verified in the cluster. Batch
    k+1 is uploaded while batch k's Job runs; the last batch starts only when every
    other batch is written, since it assembles them."""
    check_upload_size(digest.size)
    plan = builders.batches(digest.size)
    if target.store.kind == "pvc":
        target.kube.ensure_claim(builders.claim(target.store, target.namespace))
    delete_orphans(target.kube)
    progress.start(digest.size)
    with local.open("rb") as source, ExitStack() as batches:
        previous: Batch | None = None
        for number, chunks in enumerate(plan):
            last = number == len(plan) - 1
            finish = (local.name, digest) if last else None
            batch = batches.enter_context(
                Batch(target, dataset, transfer_id, number, len(chunks), finish)
            )
            batch.fill(source, chunks, progress)
            if last and previous is not None:
                previous.finish()
                previous = None
            batch.job.resume()
            if previous is not None:
                previous.finish()
            previous = batch
        assert previous is not None
        previous.finish()


class Batch:
    """One batch: its Job (created suspended) and the chunks it owns."""

    def __init__(
        self,
        target: Target,
        dataset: str,
        transfer_id: str,
        number: int,
        count: int,
        finish: tuple[str, Digest] | None,
    ) -> None:
        self.target = target
        self.transfer_id = transfer_id
        name = builders.job_name("push", dataset, transfer_id, str(number))
        args = ["receive", "--root", target.root, "--dataset", dataset]
        args += ["--transfer", transfer_id, "--batch", str(number)]
        args += ["--chunks", builders.CHUNKS_DIR]
        if finish is not None:
            filename, digest = finish
            args += ["--finish", filename, "--size", str(digest.size), "--sha256", digest.sha256]
        volume, mount = builders.chunk_volume(name, count)
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
        self.job = TransferJob(target.kube, manifest)

    def __enter__(self) -> "Batch":
        self.job.__enter__()
        return self

    def __exit__(self, *failure: object) -> None:
        self._delete_chunks()
        self.job.__exit__(None, None, None)

    def _delete_chunks(self) -> None:
        # Now, not when the garbage collector gets to it: etcd is to hold two batches
        # at most.
        self.target.kube.delete_config_maps(f"{builders.BATCH_LABEL}={self.job.name}")

    def fill(self, source: BinaryIO, chunks: list[tuple[int, int]], progress: Progress) -> None:
        assert self.job.created is not None
        owner = self.job.created

        def make(index: int, chunk: bytes) -> None:
            body = builders.chunk_config_map(
                self.target.namespace, owner, index, chunk, self.transfer_id
            )
            self.target.kube.create_config_map(body)
            progress.advance(len(chunk))

        _each_chunk(source, chunks, make)

    def finish(self) -> None:
        """Wait until the batch is written, then delete its chunks and Job."""
        self.job.wait()
        self._delete_chunks()
        self.target.kube.delete_job(self.job.name)


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
