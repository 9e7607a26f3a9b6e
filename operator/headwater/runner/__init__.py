"""What runs inside a node's container or local subprocess: `python -m headwater.runner
TASK_FILE`, or `run_task(task)` in process."""

from headwater.runner.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_SUCCESS,
    BadInput,
    RunnerError,
)
from headwater.runner.result import RunnerResult
from headwater.runner.run import run_task
from headwater.runner.taskfile import load_task

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_SUCCESS",
    "BadInput",
    "RunnerError",
    "RunnerResult",
    "load_task",
    "run_task",
]
