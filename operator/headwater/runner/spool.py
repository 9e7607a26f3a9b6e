"""The last part of what a node attempt printed, kept in bounded local files.

A node that prints gigabytes must fill neither the Pod's /tmp nor the store: the spool
keeps two segment files of at most `limit` bytes each and, when the newer one is full,
drops the older. What it hands out is the last `limit` bytes (from the start of a line),
headed by a line that says how much came before. The first MEMORY_BYTES stay in memory:
most nodes print less, and never create a file.
"""

import io
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from typing import IO

LOG_LIMIT_BYTES = 8 * 2**20
"""The most of an attempt's output a stored log holds: the last 8 MiB."""
MEMORY_BYTES = 64 * 2**10
HEADER = (
    "headwater: the first {dropped} bytes of this attempt's output were dropped"
    " (a stored log keeps the last {limit} bytes)\n"
)
HEADER_PATTERN = re.compile(
    rb"headwater: the first (\d+) bytes of this attempt's output were dropped"
    rb" \(a stored log keeps the last \d+ bytes\)\n"
)


@dataclass(frozen=True)
class Contents:
    """What the spool holds: `data` (with its header when something was dropped) covers
    bytes `dropped` to `written` of everything the attempt printed."""

    data: bytes
    written: int
    dropped: int


def header_of(data: bytes) -> tuple[int, int]:
    """(bytes dropped before the stored log's body, length of its header line): (0, 0)
    for a log that kept everything."""
    match = HEADER_PATTERN.match(data)
    return (int(match.group(1)), match.end()) if match else (0, 0)


class Spool:
    """Appended to by one thread, read by others; thread-safe."""

    def __init__(self, directory: str | None = None, limit: int = LOG_LIMIT_BYTES) -> None:
        """Segment files go in `directory`, by default $TMPDIR (the Pod's /tmp)."""
        self.directory = directory
        self.limit = limit
        self.lock = threading.Lock()
        self.written = 0
        self.current: IO[bytes] = io.BytesIO()
        self.in_memory = True
        self.current_size = 0
        self.previous: IO[bytes] | None = None

    def _segment(self) -> IO[bytes]:
        # Unlinked at once: the file lives while it is open and never outlives the runner.
        handle, path = tempfile.mkstemp(prefix="attempt-log-", dir=self.directory)
        os.unlink(path)
        return os.fdopen(handle, "w+b")

    def append(self, data: bytes) -> None:
        with self.lock:
            if self.in_memory and self.current_size + len(data) > min(MEMORY_BYTES, self.limit):
                self._spill()
            self.written += len(data)
            view = memoryview(data)
            while view:
                room = self.limit - self.current_size
                self.current.write(view[:room])
                self.current_size += min(room, len(view))
                view = view[room:]
                if self.current_size == self.limit:
                    self._rotate()

    def _spill(self) -> None:
        segment = self._segment()
        segment.write(self.current.getbuffer())  # type: ignore[attr-defined]
        self.current, self.in_memory = segment, False

    def _rotate(self) -> None:
        if self.previous is not None:
            self.previous.close()
        self.previous, self.current, self.current_size = self.current, self._segment(), 0

    def contents(self) -> Contents:
        """The last `limit` bytes, from the first line that starts inside them."""
        with self.lock:
            tail = _read_from(self.current, 0)
            if self.previous is not None and len(tail) < self.limit:
                tail = _read_from(self.previous, len(tail)) + tail
            written = self.written
        dropped = written - len(tail)
        if dropped == 0:
            return Contents(tail, written, 0)
        # The kept part begins mid-line; start at a whole line unless none begins there.
        newline = tail.find(b"\n")
        if 0 <= newline < len(tail) - 1:
            dropped += newline + 1
            tail = tail[newline + 1 :]
        header = HEADER.format(dropped=dropped, limit=self.limit).encode()
        return Contents(header + tail, written, dropped)

    def close(self) -> None:
        with self.lock:
            self.current.close()
            if self.previous is not None:
                self.previous.close()


def _read_from(segment: IO[bytes], start: int) -> bytes:
    segment.flush()
    segment.seek(start)
    data = segment.read()
    segment.seek(0, os.SEEK_END)  # appends go on at the end
    return data
