"""Reading the store through the API server alone: an inspection Job that prints what
it finds, and an Indexed Job whose every index prints one segment of a file, read back
through `pods/log` (headwater.transfer.wire) and written at its offset."""

import json
from contextlib import ExitStack
from pathlib import Path

from headwater.transfer import builders
from headwater.transfer.discovery import Target
from headwater.transfer.errors import TooLarge, TransferFailed
from headwater.transfer.jobrun import TransferJob
from headwater.transfer.landing import Landing
from headwater.transfer.model import Digest, Inspection, Progress
from headwater.transfer.wire import SEGMENT, read_inspection, read_segment, segments

FILES_PER_JOB = 100
"""A download Job's plan travels in its arguments; this keeps them small."""


def _no_claim(target: Target) -> bool:
    """A PVC store whose claim was never made holds nothing: no Pod could mount it."""
    store = target.store
    return store.kind == "pvc" and not target.kube.has_claim(store.claim or "")


def inspect_via_job(
    target: Target, subject: str, transfer_id: str, artifact_globs: list[str], files: list[str]
) -> Inspection:
    if _no_claim(target):
        return Inspection(files=dict.fromkeys(files))
    args = ["inspect", "--root", target.root]
    for pattern in artifact_globs:
        args += ["--artifacts", pattern]
    for path in files:
        args += ["--file", path]
    name = builders.job_name("inspect", subject, transfer_id)
    manifest = builders.transfer_job(target.store, target.namespace, name, transfer_id, args)
    logs: list[str] = []
    with TransferJob(target.kube, manifest) as job:
        job.wait(lambda _index, log: logs.append(log))
    return read_inspection("".join(logs))


def check_download_size(path: str, size: int) -> None:
    if size > builders.MAX_DOWNLOAD_VIA_JOB:
        raise TooLarge(
            f"{path} has {size / builders.MIB:.0f} MiB, more than the"
            f" {builders.MAX_DOWNLOAD_VIA_JOB // builders.MIB} MiB a download through Pods'"
            f" logs takes (one Pod per {SEGMENT // builders.MIB} MiB): use an object store"
            " for larger files (the operator's --store-url)"
        )


def fetch_via_jobs(
    target: Target,
    subject: str,
    transfer_id: str,
    items: list[tuple[str, Digest | None, Path]],
    progress: Progress,
) -> list[Digest]:
    """Download each (store path, expected digest, destination); the digests found.
    A file whose size is not known yet is inspected first."""
    if items and _no_claim(target):
        raise TransferFailed(
            f"{items[0][0]}: no such file in the artifact store: namespace {target.namespace}"
            f" has no claim {target.store.claim} yet (nothing was pushed, no Run started)"
        )
    unknown = [path for path, digest, _ in items if digest is None]
    known: dict[str, Digest | None] = {}
    if unknown:
        known = inspect_via_job(target, subject, transfer_id, [], unknown).files
    planned: list[tuple[str, Digest, Path]] = []
    for path, digest, destination in items:
        found = digest or known.get(path)
        if found is None:
            raise TransferFailed(f"{path}: no such file in the artifact store")
        check_download_size(path, found.size)
        planned.append((path, found, destination))
    progress.start(sum(digest.size for _, digest, _ in planned))
    digests: list[Digest] = []
    for start in range(0, len(planned), FILES_PER_JOB):
        group = planned[start : start + FILES_PER_JOB]
        name = builders.job_name("pull", subject, transfer_id, str(start // FILES_PER_JOB))
        digests.extend(_fetch_group(target, name, transfer_id, group, progress))
    return digests


def _fetch_group(
    target: Target,
    name: str,
    transfer_id: str,
    group: list[tuple[str, Digest, Path]],
    progress: Progress,
) -> list[Digest]:
    plan = [[path, digest.size] for path, digest, _ in group]
    cut = segments([digest.size for _, digest, _ in group])
    args = ["send", "--root", target.root, "--plan", json.dumps(plan)]
    manifest = builders.transfer_job(
        target.store, target.namespace, name, transfer_id, args, indexed=len(cut)
    )
    with ExitStack() as landings:
        opened = [landings.enter_context(Landing(dest, digest)) for _, digest, dest in group]

        def land(index: int, log: str) -> None:
            segment = cut[index]
            data = read_segment(log, segment, group[segment.file][0])
            opened[segment.file].write_at(segment.offset, data)
            progress.advance(len(data))

        with TransferJob(target.kube, manifest) as job:
            job.wait(land)
    return [landing.found for landing in opened if landing.found is not None]
