"""The namespace's object store reached from this machine, with the credentials its
Jobs get: the fast path, with no Pod in between."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from headwater.artifacts.layout import join
from headwater.artifacts.urls import open_filesystem
from headwater.transfer.errors import TransferError, TransferFailed
from headwater.transfer.landing import Landing
from headwater.transfer.model import BLOCK, Digest, Inspection, Progress
from headwater.transfer.storeops import commit, dataset_dir, inspect, sweep_stale, temp_file


class DirectStore:
    def __init__(self, root_url: str, options: dict[str, Any]) -> None:
        self.url = root_url
        self.filesystem, self.root = open_filesystem(root_url, options)

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """The store's I/O errors (refused credentials, an endpoint out of reach) as
        TransferErrors that name the store."""
        try:
            yield
        except FileNotFoundError as missing:
            raise TransferFailed(f"{missing}: no such file in the artifact store") from None
        except OSError as error:
            raise TransferError(
                f"the object store {self.url}: {error}; if it is reachable only from"
                " inside the cluster, add --via job"
            ) from None

    def push(self, local: Path, dataset: str, digest: Digest, progress: Progress) -> None:
        """Upload `local` as datasets/<dataset>/<its name>, verified before the rename.
        The upload is an fsspec transaction: on an error or Ctrl-C it is aborted (a
        multipart upload, which no listing shows), not completed half-way."""
        directory = dataset_dir(self.root, dataset)
        temp = temp_file(directory, uuid.uuid4().hex[:10], local.name)
        progress.start(digest.size)
        with self._reaching():
            sweep_stale(self.filesystem, directory)
            with (
                self.filesystem.transaction,
                local.open("rb") as source,
                self.filesystem.open(temp, "wb", block_size=BLOCK) as target,
            ):
                while block := source.read(BLOCK):
                    target.write(block)
                    progress.advance(len(block))
            try:
                # Read back what the store holds: the sha256 is of the stored bytes.
                commit(self.filesystem, temp, join(directory, local.name), digest)
            except BaseException:
                self._forget(temp)
                raise

    def _forget(self, temp: str) -> None:
        # The store is out of reach: a later push sweeps the file.
        with suppress(OSError):
            self.filesystem.rm_file(temp)

    def holds(self, path: str, digest: Digest) -> bool:
        """Whether `path` is there with the recorded size (a push record's cheap check)."""
        with self._reaching():
            try:
                return int(self.filesystem.info(join(self.root, path))["size"]) == digest.size
            except FileNotFoundError:
                return False

    def inspect(self, artifact_globs: list[str]) -> Inspection:
        with self._reaching():
            return inspect(self.filesystem, self.root, artifact_globs, [])

    def fetch(
        self, items: list[tuple[str, Digest | None, Path]], progress: Progress
    ) -> list[Digest]:
        """Download each (store path, expected digest, destination); the digests found."""
        with self._reaching():
            sizes = [
                expected.size if expected else self.filesystem.info(join(self.root, path))["size"]
                for path, expected, _ in items
            ]
            progress.start(sum(int(size) for size in sizes))
            found = []
            for path, expected, destination in items:
                with (
                    Landing(destination, expected) as landing,
                    self.filesystem.open(join(self.root, path), "rb", block_size=BLOCK) as source,
                ):
                    while block := source.read(BLOCK):
                        landing.write(block)
                        progress.advance(len(block))
                assert landing.found is not None
                found.append(landing.found)
            return found
