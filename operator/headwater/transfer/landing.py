"""Where downloads land on the user's machine: a hidden temporary file beside the
destination, renamed into place only once its sha256 is right, removed otherwise
(also on Ctrl-C), so an interrupted pull never leaves a file that looks complete."""

import hashlib
import os
import uuid
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from headwater.transfer.errors import TransferFailed
from headwater.transfer.model import Digest, digest_file


class Landing:
    """A download into `destination`, written in order (`write`) or at offsets
    (`write_at`, for segments arriving out of order)."""

    def __init__(self, destination: Path, expected: Digest | None) -> None:
        self.destination = destination
        self.expected = expected
        self.temp = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.partial")
        self.hasher: hashlib._Hash | None = hashlib.sha256()
        """Hashes as bytes arrive in order; None once they arrive out of order."""
        self.size = 0
        self.handle: BinaryIO | None = None
        self.found: Digest | None = None
        """What landed, once the download is complete."""

    def __enter__(self) -> "Landing":
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.temp.open("wb")
        return self

    def write(self, data: bytes) -> None:
        assert self.handle is not None
        self.handle.write(data)
        self.size += len(data)
        if self.hasher is not None:
            self.hasher.update(data)

    def write_at(self, offset: int, data: bytes) -> None:
        assert self.handle is not None
        self.handle.seek(offset)
        self.handle.write(data)
        self.hasher = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self.handle is not None
        self.handle.close()
        if kind is None:
            try:
                self._check()
            except BaseException:
                self.temp.unlink(missing_ok=True)
                raise
            os.replace(self.temp, self.destination)
        else:
            self.temp.unlink(missing_ok=True)

    def _check(self) -> None:
        if self.hasher is not None:
            found = Digest(size=self.size, sha256=self.hasher.hexdigest())
        else:
            found = digest_file(self.temp)
        self.found = found
        if self.expected is not None and found != self.expected:
            raise TransferFailed(
                f"{self.destination}: {found.size} bytes with sha256 {found.sha256} arrived,"
                f" not the {self.expected.size} bytes with sha256 {self.expected.sha256} the"
                " store recorded; nothing was written"
            )
