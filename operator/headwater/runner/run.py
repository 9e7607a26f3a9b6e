"""One node attempt, in process: load the handler, resolve inputs, call, store outputs."""

import asyncio
import inspect
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from headwater.runner.errors import EXIT_FAILURE, EXIT_SUCCESS, FunctionRaised, RunnerError
from headwater.runner.handler import failure_message, last_lines, load_handler, print_traceback
from headwater.runner.inputs import resolve_inputs
from headwater.runner.outputs import check_output_uris, small_values, split_outputs, write_outputs
from headwater.runner.result import RunnerResult
from headwater.task import Task


def log(message: str) -> None:
    """Progress goes to stderr: stdout belongs to the function's own prints."""
    print(f"headwater: {message}", file=sys.stderr, flush=True)


def call_handler(handler: Callable[..., Any], arguments: dict[str, object]) -> object:
    """The handler's return value; an `async def` handler (or one returning any other
    awaitable) is run to completion in a fresh event loop, so that what it raises fails
    the node and what it returns is stored."""
    try:
        returned = handler(**arguments)
        if inspect.isawaitable(returned):
            returned = asyncio.run(_awaited(returned))
        return returned
    except (Exception, SystemExit) as error:
        printed = print_traceback(error, _user_frames(error.__traceback__))
        code = getattr(handler, "__code__", None)
        filename = code.co_filename if code is not None else ""
        raise FunctionRaised(failure_message(error, filename), printed) from error


async def _awaited(awaitable: Awaitable[object]) -> object:
    # asyncio.run takes coroutines only; this makes one of any awaitable.
    return await awaitable


def _user_frames(frames: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame outside this module and asyncio."""
    ours = (__file__, os.path.dirname(asyncio.__file__) + os.sep)
    while frames is not None and frames.tb_frame.f_code.co_filename.startswith(ours):
        frames = frames.tb_next
    return frames


def execute(task: Task) -> tuple[dict[str, str], dict[str, object]]:
    """Run the node; returns declared output name → URI, and the outputs small enough to
    report as values. Raises RunnerError subclasses."""
    check_output_uris(task)
    log(f"loading handler {task.handler} of node {task.node}")
    handler = load_handler(task)
    # Downloads for path inputs live in this directory until the function returns.
    with tempfile.TemporaryDirectory(prefix="headwater-") as workdir:
        log(f"resolving {len(task.inputs)} inputs")
        arguments = resolve_inputs(task, Path(workdir))
        log(f"calling {task.handler}")
        returned = call_handler(handler, arguments)
    values = split_outputs(returned, task.output_names)
    log(f"writing {len(values)} outputs")
    return write_outputs(task, values), small_values(values)


def run_task(task: Task) -> RunnerResult:
    """Run one node attempt and report it; never raises for a failure of the node."""
    started = time.monotonic()

    def finish(exit_code: int, message: str, **fields: Any) -> RunnerResult:
        duration = round(time.monotonic() - started, 3)
        return RunnerResult(
            exit_code=exit_code, message=message, duration_seconds=duration, **fields
        )

    try:
        outputs, values = execute(task)
    except RunnerError as error:
        return finish(error.exit_code, str(error), traceback=error.traceback)
    except Exception as error:  # a runner bug or an unexpected I/O error: retry may help
        printed = print_traceback(error, error.__traceback__)
        return finish(EXIT_FAILURE, f"runner error: {last_lines(error)}", traceback=printed)
    message = f"succeeded; wrote {len(outputs)} outputs"
    return finish(EXIT_SUCCESS, message, outputs=outputs, values=values)
