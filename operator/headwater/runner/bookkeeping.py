"""Copying an attempt's log and record into the node's `.headwater/` folder of the store
while the attempt runs, so they outlive the Pod: a stopped Run, a TTL, a deleted Job or
a garbage-collected Pod leave them there, and a node killed hard leaves all but its
last few seconds.

One thread does every store write, in order: the first about a second after the start
(a node that ends sooner is written once, at its end), then every UPLOAD_INTERVAL
seconds while the log grows, then the last one. Each write replaces the whole stored
log with what the spool holds, at most LOG_LIMIT_BYTES. The attempt's number is one
more than the highest already in the folder, read at the first write: a Job's attempts
run one after another. The store being unreachable never fails the node; it is said on
stderr, once, and tried again at the next write.
"""

import sys
import threading
import uuid

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from headwater.api.base import now
from headwater.artifacts import layout
from headwater.artifacts.urls import open_filesystem
from headwater.runner.record import AttemptRecord
from headwater.runner.result import RunnerResult
from headwater.runner.spool import Spool

FIRST_UPLOAD_SECONDS = 1.0
UPLOAD_INTERVAL_SECONDS = 5.0
FINAL_UPLOAD_SECONDS = 20.0
"""The most the end of an attempt waits for the store, inside Kubernetes' default
30-second grace period after SIGTERM."""


def next_attempt(filesystem: AbstractFileSystem, directory: str) -> int:
    """One more than the highest attempt number in `directory` (1 when it is empty or
    absent)."""
    try:
        names = filesystem.ls(directory, detail=False)
    except FileNotFoundError:
        return 1
    numbers = [layout.attempt_number(str(name)) for name in names]
    return max((n for n in numbers if n is not None), default=0) + 1


def publish(filesystem: AbstractFileSystem, path: str, data: bytes) -> None:
    """Replace the file at `path` whole: on a local filesystem through a temporary file
    and a rename, so a reader never sees half of it; an object store's PUT already is."""
    if not isinstance(filesystem, LocalFileSystem):
        filesystem.pipe_file(path, data)
        return
    temporary = f"{path}.{uuid.uuid4().hex[:8]}.partial"
    filesystem.pipe_file(temporary, data)
    filesystem.mv(temporary, path)


class Recorder:
    """The store side of one attempt: `stopping()` when SIGTERM arrives, `finish()` at
    the end."""

    def __init__(
        self,
        run: str,
        node: str,
        directory: str,
        storage_options: dict[str, object],
        spool: Spool,
    ) -> None:
        self.directory = directory
        self.storage_options = storage_options
        self.spool = spool
        self.record = AttemptRecord(attempt=1, run=run, node=node, started_at=now())
        self.filesystem: AbstractFileSystem | None = None
        self.path = ""
        self.attempt: int | None = None
        self.published_log = -1
        """How much of the output the stored log holds, in bytes written."""
        self.published_record: AttemptRecord | None = None
        self.failing = False
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.finished = False
        self.thread = threading.Thread(target=self._loop, name="headwater-store", daemon=True)
        self.thread.start()

    def stopping(self, result: RunnerResult) -> None:
        """SIGTERM came: write `result` now, in case the function never lets the main
        thread finish before SIGKILL."""
        self._set(result)
        self.wake.set()

    def finish(self, result: RunnerResult) -> None:
        """The last write, with the attempt's result; waits for it a bounded time."""
        self._set(result)
        self.finished = True
        self.wake.set()
        self.thread.join(FINAL_UPLOAD_SECONDS)
        if self.thread.is_alive():
            warn(
                f"the store did not answer within {FINAL_UPLOAD_SECONDS:.0f}s; the attempt's"
                " log and record there may be incomplete"
            )

    def _set(self, result: RunnerResult) -> None:
        with self.lock:
            self.record = self.record.model_copy(update={"result": result, "finished_at": now()})

    def _loop(self) -> None:
        self.wake.wait(FIRST_UPLOAD_SECONDS)
        while True:
            self.wake.clear()
            last = self.finished
            self._write()
            if last:
                return
            self.wake.wait(UPLOAD_INTERVAL_SECONDS)

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
        if self.filesystem is None:
            filesystem, path = open_filesystem(self.directory, self.storage_options)
            if isinstance(filesystem, LocalFileSystem):
                filesystem.makedirs(path, exist_ok=True)
            self.attempt = next_attempt(filesystem, path)
            self.filesystem, self.path = filesystem, path
        assert self.attempt is not None
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
            log = layout.join(self.path, layout.attempt_log_name(self.attempt))
            publish(self.filesystem, log, contents.data)
            self.published_log = contents.written
        if record != self.published_record:
            wire = record.model_dump_json(by_alias=True, indent=2).encode()
            path = layout.join(self.path, layout.attempt_record_name(self.attempt))
            publish(self.filesystem, path, wire)
            self.published_record = record


def warn(message: str) -> None:
    """To stderr: the container log (and, while the tee runs, the stored log)."""
    print(f"headwater: warning: {message}", file=sys.stderr, flush=True)
