"""Operations on a namespace's store through fsspec, shared by the CLI (an object store
it reaches itself) and the transfer Jobs (the PVC at its mount path, or an object store
reached from inside the cluster): what an inspection finds, and how a pushed file
appears in one piece or not at all.

A push writes `datasets/<name>/.push-<id>.<file>` (and, in a transfer Job, one
`.push-<id>.part-<k>` per batch before it), checks the sha256 of what landed, and only
then renames it to `datasets/<name>/<file>`; so the file a Dataset names is never half
written. Leftovers of pushes that were killed are removed by a later push of the same
dataset once nothing has touched them for STALE_SECONDS.
"""

import hashlib
import json
import posixpath
import time
from contextlib import suppress

from fsspec import AbstractFileSystem

from headwater.artifacts import ArtifactMeta
from headwater.artifacts.layout import DATASETS, join
from headwater.artifacts.store import META_FILE
from headwater.transfer.errors import TransferFailed
from headwater.transfer.model import BLOCK, Digest, FoundArtifact, Inspection

TEMP_PREFIX = ".push-"
STALE_SECONDS = 3600
INLINE_VALUE_LIMIT = 256
"""A JSON output this small (bytes) prints inline, as Run status outputValues do."""


def dataset_dir(root: str, dataset: str) -> str:
    return join(root, DATASETS, dataset)


def temp_file(directory: str, transfer_id: str, filename: str) -> str:
    """Where a push assembles `filename` before it is verified."""
    return join(directory, f"{TEMP_PREFIX}{transfer_id}.{filename}")


def part_file(directory: str, transfer_id: str, batch: int) -> str:
    """Where a transfer Job keeps batch `batch` until the last batch assembles them."""
    return join(directory, f"{TEMP_PREFIX}{transfer_id}.part-{batch:05d}")


def relative(root: str, path: str) -> str:
    return posixpath.relpath(path, root.rstrip("/"))


def digest_of(filesystem: AbstractFileSystem, path: str) -> Digest:
    hasher = hashlib.sha256()
    size = 0
    with filesystem.open(path, "rb", block_size=BLOCK) as source:
        while block := source.read(BLOCK):
            hasher.update(block)
            size += len(block)
    return Digest(size=size, sha256=hasher.hexdigest())


def commit(
    filesystem: AbstractFileSystem,
    temp: str,
    final: str,
    expected: Digest,
    found: Digest | None = None,
) -> None:
    """Rename `temp` to `final` if it holds exactly the expected bytes (hashed here
    unless the caller hashed it while writing); remove it otherwise."""
    found = found or digest_of(filesystem, temp)
    if found != expected:
        filesystem.rm_file(temp)
        raise TransferFailed(
            f"{final}: {found.size} bytes with sha256 {found.sha256} arrived, not the"
            f" {expected.size} bytes with sha256 {expected.sha256} sent; nothing was"
            " replaced"
        )
    filesystem.mv(temp, final)


def sweep_stale(filesystem: AbstractFileSystem, directory: str, now: float | None = None) -> None:
    """Remove what killed pushes left in `directory`."""
    cutoff = (now or time.time()) - STALE_SECONDS
    try:
        names = filesystem.ls(directory, detail=False)
    except FileNotFoundError:
        return
    for name in names:
        if not posixpath.basename(name).startswith(TEMP_PREFIX):
            continue
        try:
            if filesystem.modified(name).timestamp() < cutoff:
                filesystem.rm_file(name)
        except (FileNotFoundError, IsADirectoryError):
            continue  # another push removed it meanwhile


def inspect(
    filesystem: AbstractFileSystem, root: str, artifact_globs: list[str], files: list[str]
) -> Inspection:
    """The artifacts under `artifact_globs` (directories, relative to `root`, e.g.
    runs/r/*/*) with their meta.json and small JSON values, and each of `files` with its
    size and sha256 (None when missing). Unreadable meta.json files are skipped."""
    metas: list[str] = []
    for pattern in artifact_globs:
        metas.extend(filesystem.glob(join(root, pattern, META_FILE)))
    raw = filesystem.cat(sorted(set(metas)), on_error="omit") if metas else {}
    found: list[FoundArtifact] = []
    values: dict[str, str] = {}
    for path, content in sorted(raw.items()):
        try:
            meta = ArtifactMeta.model_validate(json.loads(content))
        except ValueError:
            continue
        directory = posixpath.dirname(path)
        found.append(FoundArtifact(directory=relative(root, directory), meta=meta))
        if meta.serializer == "json" and meta.size <= INLINE_VALUE_LIMIT:
            values[join(directory, meta.file)] = relative(root, directory)
    small = filesystem.cat(list(values), on_error="omit") if values else {}
    by_directory = {values[path]: content for path, content in small.items()}
    for artifact in found:
        content = by_directory.get(artifact.directory)
        if isinstance(content, bytes):
            with suppress(ValueError):  # not JSON after all: listed without a value
                artifact.value, artifact.has_value = json.loads(content), True
    digests: dict[str, Digest | None] = {}
    for path in files:
        try:
            digests[path] = digest_of(filesystem, join(root, path))
        except (FileNotFoundError, IsADirectoryError):
            digests[path] = None
    return Inspection(artifacts=found, files=digests)
