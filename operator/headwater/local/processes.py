"""A pool of node processes: one per attempt, each in its own process group, retried the
way a Job's backoffLimit retries a Pod. How a process starts is the launcher's business
(launchers.py); the pool keeps the attempts and reports them as ObservedNode."""

import itertools
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from queue import Empty, SimpleQueue

from headwater.api import NodePhase, RunStatus, now
from headwater.engine import ObservedNode, retrying
from headwater.local.launchers import Attempt, Exit, Launcher, make_launcher
from headwater.local.node_log import mark_attempt
from headwater.runner.errors import EXIT_BAD_INPUT, EXIT_FAILURE
from headwater.runner.result import RunnerResult, parse_result


@dataclass
class NodeProcess:
    node: str
    task_file: Path
    env: dict[str, str]
    log_file: Path
    result_file: Path
    max_retries: int
    attempts: int = 0
    key: int = 0
    """The current attempt's launcher key."""
    exit: Exit | None = None
    """How the current attempt ended, once it has."""
    started_at: datetime | None = None
    observed: ObservedNode | None = None
    stopping: bool = False
    retry_message: str | None = None
    """What the last failed attempt said, while the next one runs."""


@dataclass
class ProcessPool:
    """Starts node attempts and reports what it sees of them as ObservedNode."""

    exits: SimpleQueue[Exit] = field(default_factory=SimpleQueue)
    launcher: Launcher = field(init=False)
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    unsettled: dict[str, NodeProcess] = field(default_factory=dict)
    """Nodes whose end the run's status does not record yet."""
    attempts: dict[int, NodeProcess] = field(default_factory=dict)
    """Attempts under way, by key."""
    keys: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.launcher = make_launcher(self.exits)

    def submit(
        self,
        node: str,
        task_file: Path,
        env: dict[str, str],
        log_file: Path,
        result_file: Path,
        max_retries: int,
    ) -> None:
        entry = NodeProcess(node, task_file, env, log_file, result_file, max_retries)
        self.nodes[node] = self.unsettled[node] = entry
        self._launch(entry)

    def _launch(self, entry: NodeProcess) -> None:
        entry.attempts += 1
        entry.result_file.unlink(missing_ok=True)
        entry.started_at = entry.started_at or now()
        entry.key, entry.exit = next(self.keys), None
        self.attempts[entry.key] = entry
        attempt = Attempt(entry.key, entry.task_file, entry.log_file, entry.env)
        try:
            if entry.attempts > 1:
                mark_attempt(entry.log_file, entry.attempts, entry.max_retries + 1)
            self.launcher.launch(attempt)
        except Exception as error:  # out of processes or descriptors: a retry may do
            self.exits.put(Exit(entry.key, EXIT_FAILURE, f"cannot start the node: {error}"))
        except KeyboardInterrupt:
            # Whether it started is unknown: rather than wait for an exit that may never
            # come, count it as ended; a process that did start is stopped with the rest.
            self.exits.put(Exit(entry.key, EXIT_FAILURE, "interrupted while starting"))
            raise

    def wait_for_change(self, timeout: float) -> None:
        """Block until an attempt ends or `timeout` passes, then take every exit that has
        arrived, so that one step sees them all."""
        try:
            self._record(self.exits.get(timeout=timeout))
        except Empty:
            return
        self._collect()

    def _collect(self) -> None:
        while True:
            try:
                self._record(self.exits.get_nowait())
            except Empty:
                return

    def _record(self, exit: Exit) -> None:
        entry = self.attempts.pop(exit.key, None)
        if entry is not None:
            entry.exit = exit

    def observe(self) -> dict[str, ObservedNode]:
        """What each unsettled node is doing now; a retryable failure is relaunched here."""
        self._collect()
        return {node: self._observe(entry) for node, entry in self.unsettled.items()}

    def settle(self, status: RunStatus, observed: Mapping[str, ObservedNode]) -> None:
        """Stop showing the engine nodes whose end `status` records: for a node the
        executor does not show, the engine takes the recorded status, which keeps a step
        from rebuilding every finished node of a wide run again and again."""
        for node, seen in observed.items():
            recorded = status.nodes.get(node)
            if seen.phase.finished and recorded is not None and recorded.phase.finished:
                self.unsettled.pop(node, None)

    def _observe(self, entry: NodeProcess) -> ObservedNode:
        if entry.observed is not None:
            return entry.observed
        if entry.exit is None:
            return self._running(entry)
        code = entry.exit.code
        result = _read_result(entry.result_file)
        retryable = code not in (0, EXIT_BAD_INPUT) and not entry.stopping
        if retryable and entry.attempts <= entry.max_retries:
            why = result.message or entry.exit.error or _exit_message(code)
            entry.retry_message = retrying(entry.attempts, entry.max_retries, why)
            self._launch(entry)
            return self._running(entry)
        if entry.stopping:
            phase = NodePhase.CANCELLED
        else:
            phase = NodePhase.SUCCEEDED if code == 0 else NodePhase.FAILED
        message = result.message or entry.exit.error or (None if code == 0 else _exit_message(code))
        entry.observed = ObservedNode(
            phase=phase,
            attempts=entry.attempts,
            exit_code=code,
            message=message,
            started_at=entry.started_at,
            finished_at=now(),
            outputs=result.outputs or None,
            values=result.values or None,
        )
        return entry.observed

    def _running(self, entry: NodeProcess) -> ObservedNode:
        return ObservedNode(
            NodePhase.RUNNING,
            entry.attempts,
            started_at=entry.started_at,
            message=entry.retry_message,
        )

    def stop(self, node: str) -> None:
        """SIGTERM the node's process group, SIGKILL after a grace period."""
        entry = self.nodes.get(node)
        if entry is None or entry.key not in self.attempts:
            return
        entry.stopping = True
        self.launcher.terminate(entry.key)

    def running(self) -> list[str]:
        return [entry.node for entry in self.attempts.values()]

    def close(self) -> None:
        self.launcher.close()


def _read_result(path: Path) -> RunnerResult:
    try:
        text = path.read_text()
    except OSError:
        text = None
    return parse_result(text) or RunnerResult(exit_code=-1)


def _exit_message(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:  # a real-time signal has no name
            return f"killed by signal {-code}"
    return f"runner exited with code {code}"
