"""A local node's log. `node.log` in the node's folder holds every attempt's output one
after the other (the forked child appends to it); the pool starts each retry with one
line naming the attempt that follows, so that the attempts can be read back apart.
Written once per retry, never per node: a node that runs once pays nothing."""

import re
from dataclasses import dataclass
from pathlib import Path

LOG_FILE = "node.log"
_MARK = re.compile(rb"^headwater: attempt (\d+) of \d+ starts\n", re.MULTILINE)


def mark_attempt(log_file: Path, number: int, total: int) -> None:
    with log_file.open("ab") as log:
        log.write(f"headwater: attempt {number} of {total} starts\n".encode())


@dataclass(frozen=True)
class Segment:
    attempt: int
    data: bytes


def split_attempts(data: bytes, first: int = 1) -> list[Segment]:
    """The attempts in `data`, oldest first; what comes before any mark belongs to
    attempt `first` (1 for a whole log; the attempt a follower last saw otherwise)."""
    segments: list[Segment] = []
    attempt, start = first, 0
    for mark in _MARK.finditer(data):
        if mark.start() > start:
            segments.append(Segment(attempt, data[start : mark.start()]))
        attempt, start = int(mark.group(1)), mark.end()
    # The last attempt is there even when it has printed nothing yet.
    segments.append(Segment(attempt, data[start:]))
    return segments


def read_attempt(log_file: Path, attempt: int | None) -> Segment | None:
    """Attempt `attempt`'s output (the latest by default); None when there is no log or
    no such attempt."""
    try:
        data = log_file.read_bytes()
    except FileNotFoundError:
        return None
    segments = split_attempts(data)
    if attempt is None:
        return segments[-1]
    return next((s for s in segments if s.attempt == attempt), None)


def whole_lines(data: bytes) -> bytes:
    """`data` up to its last newline: a follower leaves a line being written (a mark
    could be one) for its next read."""
    return data[: data.rfind(b"\n") + 1]
