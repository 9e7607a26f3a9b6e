"""Copying an attempt's log and record into the node's `.headwater/` folder of the store
while the attempt runs, so that they outlive the Pod: a stopped Run, a TTL, a deleted
Job or a garbage-collected Pod leave them there, and a node killed hard leaves all but
its last few seconds.

One thread does every store write, in order: the first about a second after the start
(a node that ends sooner is written once, at its end), then every UPLOAD_INTERVAL
seconds while the log grows, at once when SIGTERM comes, and a last time at the end.
Each write replaces the whole stored log with what the spool holds, at most
LOG_LIMIT_BYTES. The attempt's number is one more than the highest already in the
folder, read at the first write: a Job's attempts run one after another. The store
being unreachable never fails the node; it is said on stderr and tried again at the
next write.
"""

import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from headwater.api.base import now
from headwater.artifacts import layout
from headwater.artifacts.urls import is_local, local_path, open_filesystem
from headwater.runner.record import AttemptRecord
from headwater.runner.result import RunnerResult, truncate
from headwater.runner.spool import Spool

FIRST_UPLOAD_SECONDS = 1.0
UPLOAD_INTERVAL_SECONDS = 5.0
FINAL_UPLOAD_SECONDS = 20.0
"""The most the end of an attempt waits for the store, inside Kubernetes' default
30-second grace period after SIGTERM."""
RECORD_TEXT_BYTES = 2**20
"""The most of a result's message and of its traceback a record keeps: whole in any
sensible case, bounded when an exception's text is not."""
FINISH = b"\0"
"""What `finish` sends the thread; signal numbers arrive on the same socket."""


class Folder(Protocol):
    """The node's bookkeeping folder."""

    def names(self) -> list[str]:
        """The files in it; empty when it does not exist yet."""

    def put(self, name: str, data: bytes) -> None:
        """Replace file `name` whole, so a reader never sees half of it."""


class LocalFolder:
    """A local path (the PVC's mount, the local executor's folder): plain os calls,
    which cost a fraction of fsspec's for the many small nodes of a local run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def names(self) -> list[str]:
        os.makedirs(self.path, exist_ok=True)
        return os.listdir(self.path)

    def put(self, name: str, data: bytes) -> None:
        temporary = os.path.join(self.path, f".{name}.{uuid.uuid4().hex[:8]}.partial")
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, os.path.join(self.path, name))


class RemoteFolder:
    """An fsspec URL (s3://…); credentials from the storage options or the environment
    (AWS_* variables, which botocore reads itself). A PUT replaces an object whole."""

    def __init__(self, uri: str, storage_options: dict[str, Any]) -> None:
        self.filesystem, self.path = open_filesystem(uri, storage_options)

    def names(self) -> list[str]:
        try:
            return [str(name) for name in self.filesystem.ls(self.path, detail=False)]
        except FileNotFoundError:
            return []

    def put(self, name: str, data: bytes) -> None:
        self.filesystem.pipe_file(layout.join(self.path, name), data)


def open_folder(uri: str, storage_options: dict[str, Any]) -> Folder:
    if "://" not in uri:  # a plain path, as both executors give it: no fsspec needed
        return LocalFolder(os.path.abspath(uri))
    return LocalFolder(local_path(uri)) if is_local(uri) else RemoteFolder(uri, storage_options)


def next_attempt(names: list[str]) -> int:
    """One more than the highest attempt number among `names` (1 when there is none)."""
    numbers = [layout.attempt_number(name) for name in names]
    return max((n for n in numbers if n is not None), default=0) + 1


class Recorder:
    """The store side of one attempt, driven by the tee's thread as its Ticker.
    `signal_fd` is for signal.set_wakeup_fd: when SIGTERM arrives, `on_sigterm` runs
    at once and the store is written. A local folder is written in the calling thread
    (microseconds); an object store by a thread of its own, started at the first write,
    so that the tee never waits for the network."""

    def __init__(
        self,
        run: str,
        node: str,
        directory: str,
        storage_options: dict[str, Any],
        spool: Spool,
        on_sigterm: Callable[[], None],
    ) -> None:
        self.directory = directory
        self.storage_options = storage_options
        self.spool = spool
        self.on_sigterm = on_sigterm
        self.record = AttemptRecord(attempt=1, run=run, node=node, started_at=now())
        self.folder: Folder | None = None
        self.attempt = 0
        self.published_log = -1
        """How much output the stored log holds, in bytes the attempt printed."""
        self.published_record: AttemptRecord | None = None
        self.failing = False
        self.finished = False
        self.signalled = False
        self.due = time.monotonic() + FIRST_UPLOAD_SECONDS
        self.lock = threading.Lock()
        self.wake_read, self.wake_write = socket.socketpair()
        self.wake_write.setblocking(False)
        self.uploader = None if is_local(directory) else Uploader(self._write)

    @property
    def signal_fd(self) -> int:
        return self.wake_write.fileno()

    @property
    def wake_fd(self) -> int:
        return self.wake_read.fileno()

    def on_wake(self, data: bytes) -> None:
        if signal.SIGTERM in data and not (self.signalled or self.finished):
            self.signalled = True
            self.on_sigterm()
            self._write_soon()

    def next_tick(self) -> float:
        return self.due - time.monotonic()

    def tick(self) -> None:
        self.due = time.monotonic() + UPLOAD_INTERVAL_SECONDS
        self._write_soon()

    def set_result(self, result: RunnerResult) -> None:
        bounded = result.model_copy(
            update={
                "message": truncate(result.message, RECORD_TEXT_BYTES),
                "traceback": result.traceback and truncate(result.traceback, RECORD_TEXT_BYTES),
            }
        )
        with self.lock:
            self.record = self.record.model_copy(update={"result": bounded, "finished_at": now()})

    def finish(self, result: RunnerResult) -> None:
        """The last write, with the attempt's result, once the tee has stopped; an object
        store is waited for a bounded time."""
        self.set_result(result)
        self.finished = True
        if self.uploader is None:
            self._write()
        elif not self.uploader.finish(FINAL_UPLOAD_SECONDS):
            warn(
                f"the store did not answer within {FINAL_UPLOAD_SECONDS:.0f}s; the attempt's"
                " log and record there may be incomplete"
            )

    def close(self) -> None:
        """Once `signal_fd` is no signal's wake-up fd any more."""
        self.wake_read.close()
        self.wake_write.close()

    def _write_soon(self) -> None:
        if self.uploader is None:
            self._write()
        else:
            self.uploader.request()

    def _write(self) -> None:
        try:
            self._publish()
        except Exception as error:  # any store failure: the node goes on regardless
            if not self.failing or self.finished:
                warn(
                    f"cannot write the attempt's log to the store at {self.directory}:"
                    f" {type(error).__name__}: {error}"
                )
            self.failing = True
        else:
            self.failing = False

    def _publish(self) -> None:
        if self.folder is None:
            folder = open_folder(self.directory, self.storage_options)
            self.attempt = next_attempt(folder.names())
            self.folder = folder
        contents = self.spool.contents()
        with self.lock:
            record = self.record.model_copy(
                update={
                    "attempt": self.attempt,
                    "log_bytes": contents.written,
                    "log_dropped_bytes": contents.dropped,
                }
            )
        if contents.written != self.published_log:
            self.folder.put(layout.attempt_log_name(self.attempt), contents.data)
            self.published_log = contents.written
        if record != self.published_record:
            wire = record.model_dump_json(by_alias=True, indent=2).encode()
            self.folder.put(layout.attempt_record_name(self.attempt), wire)
            self.published_record = record


class Uploader:
    """A thread that calls `write` when asked, one call at a time; requests that come
    while it writes are folded into the next call, since each writes the latest state."""

    def __init__(self, write: Callable[[], None]) -> None:
        self.write = write
        self.wanted = threading.Event()
        self.last = False
        self.thread: threading.Thread | None = None

    def request(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="headwater-store", daemon=True)
            self.thread.start()
        self.wanted.set()

    def finish(self, timeout: float) -> bool:
        """The last write; False if it did not end within `timeout`."""
        self.last = True
        self.request()
        assert self.thread is not None
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _loop(self) -> None:
        while True:
            self.wanted.wait()
            self.wanted.clear()
            last = self.last
            self.write()
            if last:
                return


def warn(message: str) -> None:
    """To stderr: the container log (and, while the tee runs, the stored log)."""
    print(f"headwater: warning: {message}", file=sys.stderr, flush=True)
