"""Which way to the store: directly (an object store this machine reaches) or through
transfer Jobs (a PVC, which only Pods mount, or an object store reachable only from
inside the cluster: `--via job`). Both offer the same four operations."""

import uuid
from pathlib import Path
from typing import Literal, Protocol

from fsspec.core import split_protocol

from headwater.transfer.direct import DirectStore
from headwater.transfer.discovery import Target, object_store_options
from headwater.transfer.download import fetch_via_jobs, inspect_via_job
from headwater.transfer.errors import TransferError
from headwater.transfer.model import Digest, Inspection, Progress
from headwater.transfer.upload import push_via_jobs

Via = Literal["job", "direct"]


class Store(Protocol):
    def push(self, local: Path, dataset: str, digest: Digest, progress: Progress) -> None:
        """Put `local` at datasets/<dataset>/<its name>, whole and verified, or not at all."""

    def holds(self, path: str, digest: Digest) -> bool:
        """Whether a push record's file is still there, as far as can be told cheaply."""

    def inspect(self, artifact_globs: list[str]) -> Inspection:
        """The artifacts under these directories (relative, with wildcards)."""

    def fetch(
        self, items: list[tuple[str, Digest | None, Path]], progress: Progress
    ) -> list[Digest]:
        """Download each (store path, expected digest, destination)."""


class JobStore:
    """The store through transfer Jobs, named after `subject` (a Dataset, a Run)."""

    def __init__(self, target: Target, subject: str) -> None:
        self.target = target
        self.subject = subject
        self.transfer_id = uuid.uuid4().hex[:10]

    def push(self, local: Path, dataset: str, digest: Digest, progress: Progress) -> None:
        push_via_jobs(self.target, local, dataset, digest, self.transfer_id, progress)

    def holds(self, path: str, digest: Digest) -> bool:
        # Looking would take a Pod; the push record is what the operator goes by too.
        return True

    def inspect(self, artifact_globs: list[str]) -> Inspection:
        return inspect_via_job(self.target, self.subject, self.transfer_id, artifact_globs, [])

    def fetch(
        self, items: list[tuple[str, Digest | None, Path]], progress: Progress
    ) -> list[Digest]:
        return fetch_via_jobs(self.target, self.subject, self.transfer_id, items, progress)


def open_store(target: Target, subject: str, via: Via | None = None) -> Store:
    """Directly for an object store unless `via` is job; through Jobs for a PVC."""
    if target.store.kind == "pvc":
        if via == "direct":
            raise TransferError(
                f"namespace {target.namespace}'s artifact store is the PVC"
                f" {target.store.claim}, which only Pods can mount: it is reached through a"
                " transfer Job (leave out --via direct)"
            )
        return JobStore(target, subject)
    if via == "job":
        return JobStore(target, subject)
    return DirectStore(target.root, object_store_options(target))


def store_relative(uri: str, root: str) -> str | None:
    """`uri` as a path inside the store at `root`, or None when it is elsewhere: a
    relative URI (resolved against the root), or one under the root."""
    protocol, path = split_protocol(uri)
    if protocol is None and not path.startswith("/"):
        relative = path
    else:
        prefix = root.rstrip("/") + "/"
        if not uri.startswith(prefix):
            return None
        relative = uri[len(prefix) :]
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)
