"""One node attempt as a process runs it: `run_task` with SIGTERM turned into a clean
stop and, when the task names a bookkeeping folder, the attempt's log and record copied
to the store (headwater.runner.bookkeeping)."""

import contextlib
import os
import sys
import time
import traceback

from headwater.runner.bookkeeping import Recorder
from headwater.runner.errors import EXIT_FAILURE
from headwater.runner.result import RunnerResult, write_result
from headwater.runner.run import log, run_task
from headwater.runner.spool import Spool
from headwater.runner.stopping import EXIT_STOPPED, STOPPED_MESSAGE, Stopped, Stopper
from headwater.runner.tee import Tee
from headwater.task import Task

RUNNER_DIR = os.path.dirname(__file__) + os.sep
INTERRUPTED = RunnerResult(exit_code=EXIT_FAILURE, message="the runner was interrupted")
"""What the record says when something the runner does not catch ends the attempt."""


def run_attempt(task: Task) -> RunnerResult:
    """Run the task in this process's main thread (it installs a signal handler) and
    write the result to the task's result path."""
    # Line by line, as on a terminal: a long node's prints reach the log (and the store)
    # as they happen, instead of 8 KiB at a time.
    with contextlib.suppress(AttributeError, ValueError):  # replaced or closed by an embedder
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if task.bookkeeping is None:
        stopper = Stopper()
        with stopper.installed():
            result = logged(task, stopper)
    else:
        result = recorded(task, task.bookkeeping)
    if task.result_path:
        write_result(result, task.result_path)
    return result


def recorded(task: Task, bookkeeping: str) -> RunnerResult:
    """The attempt with its output copied into a spool and on to the store."""
    spool = Spool()

    def on_sigterm() -> None:
        # At once, from the tee's thread: the store and the executor hear of the stop
        # even if the function holds the main thread until SIGKILL.
        recorder.set_result(stopped())
        if task.result_path:
            write_result(stopped(), task.result_path)

    recorder = Recorder(
        task.run, task.node, bookkeeping, dict(task.storage_options), spool, on_sigterm
    )
    tee = Tee(spool, recorder)
    tee.start()
    stopper = Stopper()
    result = INTERRUPTED
    with stopper.installed(recorder.signal_fd):
        try:
            result = logged(task, stopper)
        finally:
            tee.stop()
            recorder.finish(result)
    recorder.close()
    spool.close()
    return result


def logged(task: Task, stopper: Stopper) -> RunnerResult:
    """The attempt's result, its last word on stderr."""
    started = time.monotonic()
    try:
        with stopper.armed_for():
            result = run_task(task)
    except Stopped as stop:
        where = where_stopped(stop)
        sys.stderr.write(where)
        result = stopped(round(time.monotonic() - started, 3), where)
    log(f"exit {result.exit_code}: {first_line(result.message)}")
    return result


def stopped(duration: float = 0.0, traceback: str | None = None) -> RunnerResult:
    return RunnerResult(
        exit_code=EXIT_STOPPED,
        message=STOPPED_MESSAGE,
        duration_seconds=duration,
        traceback=traceback,
    )


def where_stopped(stop: Stopped) -> str:
    """The stack the signal interrupted, without the runner's own frames: where the
    function was."""
    frames = traceback.extract_tb(stop.__traceback__)
    theirs = [frame for frame in frames if not frame.filename.startswith(RUNNER_DIR)]
    listing = "".join(traceback.format_list(theirs))
    return f"{STOPPED_MESSAGE} in (most recent call last):\n{listing}"


def first_line(message: str) -> str:
    return message.splitlines()[0] if message else ""
