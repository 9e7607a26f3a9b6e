"""The fork server: one process per `headwater run` that imports the runner once and forks a
fresh child for every node attempt, so a node pays neither interpreter start-up nor the
runner's imports and still has a process, a memory and a process group of its own.

`python -m headwater.local.forkserver`, spawned by `launchers.ForkServer`. Requests come
as JSON lines on stdin, exits go back as JSON lines on stdout:

    → {"start": KEY, "task": TASK_FILE, "log": LOG_FILE, "env": {NAME: VALUE, …}}
    → {"stop": KEY}     SIGTERM to the attempt's process group, SIGKILL 5 s later
    ← {"key": KEY, "code": N}   N as in Popen.returncode: -SIGNAL when a signal killed it

Forking is only safe from a single-threaded process, so the server never starts a thread:
it sleeps in select() on its request pipe and on a wake-up fd that SIGCHLD writes to. For
the same reason it does not import numpy, pandas or pyarrow: numpy starts an OpenBLAS
thread on import, pandas and pyarrow more. A node that uses them imports them in its own
child, as a cold process would.
"""

import atexit
import contextlib
import ctypes
import gc
import io
import json
import os
import random
import selectors
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

# The point of the server: everything a node attempt imports, imported once.
import headwater.runner.__main__ as runner_main
from headwater.api.function import ParamType
from headwater.artifacts import read_artifact
from headwater.local.launchers import STOP_GRACE_SECONDS
from headwater.runner.errors import EXIT_FAILURE
from headwater.task import Task, TaskInput

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when its parent dies."""
READ_SIZE = 1 << 16


@dataclass
class Child:
    key: int
    stopping: bool = False
    kill_at: float | None = None
    """When SIGKILL follows the SIGTERM of a stop; None when none is due."""


class Server:
    """Reads requests, forks children, reaps them and reports their exits."""

    def __init__(self, requests: int, reports: int) -> None:
        self.requests = requests
        self.reports = reports
        self.children: dict[int, Child] = {}
        self.pids: dict[int, int] = {}
        self.pending = b""
        self.closing = False
        self.wake_up, self.wake_up_writer = socket.socketpair()
        self.wake_up_writer.setblocking(False)
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.pid = os.getpid()
        self.selector = selectors.DefaultSelector()

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_up_writer.fileno(), warn_on_full_buffer=False)
        # A Python handler, not SIG_IGN: an ignored SIGCHLD would reap children for us and
        # lose their exit codes.
        signal.signal(signal.SIGCHLD, lambda _signal, _frame: None)
        self.selector.register(self.requests, selectors.EVENT_READ)
        self.selector.register(self.wake_up, selectors.EVENT_READ)
        while not (self.closing and not self.children):
            for ready, _ in self.selector.select(self._until_next_kill()):
                if ready.fileobj is self.wake_up:
                    self.wake_up.recv(READ_SIZE)
                else:
                    self._read_requests()
            self._reap()
            self._kill_overdue()

    def _close(self) -> None:
        """The driver is gone or done: nobody will hear of the children any more, so they
        are stopped, and the server leaves once they have ended."""
        if self.closing:
            return
        self.closing = True
        self.selector.unregister(self.requests)
        for child in list(self.children.values()):
            self._stop(child.key)

    def _read_requests(self) -> None:
        data = os.read(self.requests, READ_SIZE)
        if not data:
            self._close()
            return
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            request = json.loads(line)
            if "start" in request:
                self._start(request)
            else:
                self._stop(request["stop"])

    def _start(self, request: dict[str, Any]) -> None:
        key = request["start"]
        try:
            pid = os.fork()
        except OSError as error:
            self._report({"key": key, "code": EXIT_FAILURE, "error": f"fork failed: {error}"})
            return
        if pid == 0:
            self._run_child(request)
        self.children[pid] = Child(key)
        self.pids[key] = pid

    def _stop(self, key: int) -> None:
        pid = self.pids.get(key)
        if pid is None or self.children[pid].stopping:
            return
        signal_child(pid, signal.SIGTERM)
        self.children[pid].stopping = True
        self.children[pid].kill_at = time.monotonic() + STOP_GRACE_SECONDS

    def _until_next_kill(self) -> float | None:
        deadlines = [c.kill_at for c in self.children.values() if c.kill_at is not None]
        return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for pid, child in self.children.items():
            if child.kill_at is not None and child.kill_at <= now:
                signal_child(pid, signal.SIGKILL)
                child.kill_at = None

    def _reap(self) -> None:
        while self.children:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            child = self.children.pop(pid)
            del self.pids[child.key]
            self._report({"key": child.key, "code": os.waitstatus_to_exitcode(wait_status)})

    def _report(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.reports, data) :]
        except BrokenPipeError:
            self._close()

    def _run_child(self, request: dict[str, Any]) -> NoReturn:
        """The forked child: isolate it, run the attempt, exit. Never returns into the
        server's loop, whatever happens."""
        code = EXIT_FAILURE
        try:
            self._isolate(request)
            code = runner_main.main([request["task"]])
        except SystemExit as stop:
            code = exit_status(stop.code)
        except BaseException:
            traceback.print_exc()
        finally:
            leave(code)

    def _isolate(self, request: dict[str, Any]) -> None:
        """Make the child look like a fresh `python -m headwater.runner TASK` process."""
        os.setsid()  # its own session and process group: stop signals reach only it
        # Die with the server, so no attempt outlives the one who would report it.
        self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.pid:
            os._exit(EXIT_FAILURE)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        redirect_stdio(request["log"])
        # The request and report pipes, the wake-up socket, the selector: not the node's.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [runner_main.__file__, request["task"]]
        reseed()


def signal_child(pid: int, signal_number: signal.Signals) -> None:
    """Signal the child's process group; the child itself if it has not made one yet."""
    try:
        os.killpg(pid, signal_number)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal_number)


def redirect_stdio(log_file: str) -> None:
    """stdin from /dev/null, stdout and stderr appended to the node's log."""
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def reseed() -> None:
    """Every child starts with the server's random state; draw a new one from the OS, as
    a fresh interpreter does. (The str hash seed cannot change after start-up: forked
    nodes share the server's, so set iteration order is the same in all of them.)"""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def exit_status(code: object) -> int:
    """The process exit status `sys.exit(code)` gives."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def leave(code: int) -> NoReturn:
    """End the child the way an interpreter ends: wait for the node's non-daemon threads,
    run atexit handlers, flush stdio; then _exit, so no server code runs in the child."""
    for finish in (threading._shutdown, atexit._run_exitfuncs):  # type: ignore[attr-defined]
        try:
            finish()
        except BaseException:
            traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def warm_up() -> None:
    """One throw-away attempt through the runner — task file, handler, a value in, an
    artifact out and read back — so that lazy imports and first-use caches are filled
    once here instead of in every child."""
    with (
        tempfile.TemporaryDirectory(prefix="headwater-warm-up-") as folder,
        contextlib.redirect_stderr(io.StringIO()),
    ):
        output = f"{folder}/value"
        task = Task(
            run="warm-up",
            node="warm-up",
            handler="same",
            code="def same(x):\n    return x\n",
            inputs=[TaskInput(param="x", type=ParamType.VALUE, value=0, has_value=True)],
            output_names=["value"],
            outputs={"value": output},
            result_path=f"{folder}/result.json",
        )
        task_file = Path(folder, "task.json")
        task_file.write_text(task.model_dump_json(by_alias=True))
        runner_main.main([str(task_file)])
        read_artifact(output, {})


def main() -> None:
    warm_up()
    # What the server holds now is shared with every child; collections in a child
    # leave it alone instead of copying its pages.
    gc.freeze()
    # Keep the protocol on private fds; stray prints from imports or a child's crash go to
    # stderr instead of corrupting it.
    requests, reports = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    Server(requests, reports).serve()


if __name__ == "__main__":
    main()
