"""Why a node failed, as a hierarchy whose classes carry the exit code the executor sees.

Exit codes are the contract with the executors: 0 success; 1 a failure worth retrying
(the function raised, or the store was unreachable); 2 bad input, which a retry cannot
fix, so a Job's podFailurePolicy fails the node at once.
"""

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class RunnerError(Exception):
    """A failure the runner understands; its message is what the user reads, and
    `traceback` the one printed on stderr for it, if any."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback


class FunctionRaised(RunnerError):
    """The user's function raised; the message is the traceback's last line(s)."""


class BadInput(RunnerError):
    """Not worth retrying: the same task would fail the same way."""

    exit_code = EXIT_BAD_INPUT


class InvalidTask(BadInput):
    """The task file is unreadable or does not describe a Task."""


class CodeUnusable(BadInput):
    """The function's code does not compile or import, or lacks the handler."""


class InputUnavailable(BadInput):
    """An input's data is missing or unreadable."""


class OutputMismatch(BadInput):
    """The function returned something other than its declared outputs."""


class OutputUnstorable(BadInput):
    """An output no serializer can store."""
