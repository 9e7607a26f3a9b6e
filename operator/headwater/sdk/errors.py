"""What the Python API raises, each worded for the person at the notebook or terminal."""

from headwater.api import NodePhase, RunPhase, RunStatus, find_condition
from headwater.engine import SUCCEEDED


class HeadwaterError(Exception):
    """Base of the errors below; str() says what happened and, where it can, what to do."""


class NotFound(HeadwaterError, LookupError):
    """A Run (or Dataflow, Dataset, output, node) that does not exist."""


class InvalidManifests(HeadwaterError, ValueError):
    """What `headwater validate` would report: the Run cannot start. `problems` holds
    each message, placed at its resource and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class NoOperator(HeadwaterError):
    """A Run whose status stays empty: no headwater operator serves its namespace."""


class RunFailed(HeadwaterError):
    """The Run ended Failed (or Cancelled, see RunCancelled). `failed` maps each failed
    node to its message (the traceback's last line and where in the user's code)."""

    def __init__(self, run: str, status: RunStatus) -> None:
        self.run = run
        self.status = status
        self.phase = status.phase
        condition = find_condition(status.conditions, SUCCEEDED)
        self.reason = condition.reason if condition else None
        self.message = condition.message if condition else None
        self.failed = {
            name: node.message or ""
            for name, node in status.nodes.items()
            if node.phase == NodePhase.FAILED
        }
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"run {self.run} {self.phase.value.lower()}"
        if self.reason:
            head += f" ({self.reason})"
        lines = [f"{head}: {self.message}" if self.message else head]
        # The condition names a few failed nodes already; the rest get a line each.
        told = self.message or ""
        lines += [f"  node {n}: {m}" for n, m in self.failed.items() if m not in told]
        return "\n".join(lines)


class RunCancelled(RunFailed):
    """The Run was stopped (spec.stop) before it finished."""


def ended_badly(run: str, status: RunStatus) -> RunFailed:
    return (RunCancelled if status.phase == RunPhase.CANCELLED else RunFailed)(run, status)
