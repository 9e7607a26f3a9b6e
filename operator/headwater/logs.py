"""Reading the logs and records that node attempts leave in the artifact store
(`runs/<run>/<node>/.headwater/`, headwater.artifacts.layout), by fsspec alone.

No Kubernetes here: the CLI and the Python API put this together with a running Pod's
own log, and with a Job that reads a PVC store for them. Offsets count bytes of
everything the attempt printed, so that a follower that asks from where it stopped
gets only what is new, even once the stored log, bounded to its last part, has begun
to drop its beginning: a page that skips output starts with the log's header line,
which says how much.
"""

import os
from dataclasses import dataclass
from datetime import datetime

from fsspec import AbstractFileSystem
from pydantic import ValidationError

from headwater.artifacts import layout
from headwater.artifacts.urls import StorageOptions, open_filesystem
from headwater.runner.record import AttemptRecord
from headwater.runner.spool import header_of

HEADER_MAX_BYTES = 256
"""More than the stored log's header line can be."""
READ_TRIES = 3
"""A log replaced while it is read (the runner rewrites it every few seconds) is read
again."""


class LogNotFound(LookupError):
    """No such attempt, or no log for it in the store."""


@dataclass(frozen=True)
class Attempt:
    """One attempt of a node, as the store shows it."""

    number: int
    log: str | None
    """The stored log's path in the store's filesystem; None when there is none."""
    size: int
    """Bytes of the stored log (at most the runner's bound plus a header line)."""
    record: AttemptRecord | None
    """None when the attempt left no (readable) record."""

    @property
    def started_at(self) -> datetime | None:
        return self.record.started_at if self.record else None

    @property
    def finished_at(self) -> datetime | None:
        return self.record.finished_at if self.record else None

    @property
    def exit_code(self) -> int | None:
        """None while the attempt runs, and for one killed before it could say."""
        result = self.record.result if self.record else None
        return result.exit_code if result else None

    @property
    def message(self) -> str | None:
        result = self.record.result if self.record else None
        return result.message if result else None


@dataclass(frozen=True)
class LogPage:
    """Part of an attempt's log."""

    attempt: int
    data: bytes
    """The stored bytes from the asked offset on; it starts with the header line when
    the asked offset lies in what the store dropped."""
    end: int
    """Where the stored log ends, counted in bytes the attempt printed: the offset to
    ask for next."""
    dropped: int
    """How many of the attempt's first bytes the stored log no longer holds."""


def attempts(
    root: str, run: str, node: str, storage_options: StorageOptions = None
) -> list[Attempt]:
    """The node's attempts in the store under `root`, oldest first; empty when it has
    none (or never ran)."""
    filesystem, base = open_filesystem(root, storage_options)
    directory = layout.bookkeeping_dir(base, run, node)
    filesystem.invalidate_cache(directory)
    try:
        entries = filesystem.ls(directory, detail=True)
    except FileNotFoundError:
        return []
    logs: dict[int, tuple[str, int]] = {}
    records: dict[int, str] = {}
    for entry in entries:
        name = str(entry["name"])
        number = layout.attempt_number(name)
        if number is None or entry.get("type") != "file":
            continue
        if name.endswith(".log"):
            logs[number] = (name, int(entry.get("size") or 0))
        else:
            records[number] = name
    return [
        Attempt(
            number,
            logs[number][0] if number in logs else None,
            logs[number][1] if number in logs else 0,
            _record(filesystem, records[number]) if number in records else None,
        )
        for number in sorted({*logs, *records})
    ]


def read_log(
    root: str,
    run: str,
    node: str,
    attempt: int | None = None,
    offset: int = 0,
    storage_options: StorageOptions = None,
) -> LogPage:
    """Attempt `attempt`'s log (the latest attempt's by default) from `offset` on."""
    filesystem, base = open_filesystem(root, storage_options)
    if attempt is None:
        known = [a.number for a in attempts(root, run, node, storage_options) if a.log]
        if not known:
            raise LogNotFound(f"node {node} of run {run} has no log in the store at {root}")
        attempt = known[-1]
    path = layout.attempt_log(base, run, node, attempt)
    try:
        for _ in range(READ_TRIES - 1):
            try:
                return _page(filesystem, path, attempt, offset)
            except FileNotFoundError:
                raise
            except OSError:  # replaced while read (s3fs says FileExpired): read it again
                continue
        return _page(filesystem, path, attempt, offset)
    except FileNotFoundError as error:
        raise LogNotFound(f"attempt {attempt} of node {node} of run {run} has no log") from error


def _page(filesystem: AbstractFileSystem, path: str, attempt: int, offset: int) -> LogPage:
    filesystem.invalidate_cache(path)
    # One open file: a local log is replaced by a rename, an object by a PUT that the
    # open object's ETag check notices, so header and body come from the same version.
    with filesystem.open(path, "rb") as handle:
        head = handle.read(HEADER_MAX_BYTES)
        dropped, header_length = header_of(head)
        size = handle.seek(0, os.SEEK_END)
        end = dropped + size - header_length
        start = max(offset, dropped)
        handle.seek(header_length + start - dropped)
        data = handle.read() if start < end else b""
    if offset < dropped:
        data = head[:header_length] + data
    return LogPage(attempt, data, end, dropped)


def _record(filesystem: AbstractFileSystem, path: str) -> AttemptRecord | None:
    try:
        return AttemptRecord.model_validate_json(filesystem.cat_file(path))
    except (OSError, ValueError, ValidationError):
        return None
