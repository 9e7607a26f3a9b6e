"""A pool of runner subprocesses: one per started node, each in its own process group,
retried the way a Job's backoffLimit retries a Pod."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from headwater.api import NodePhase, now
from headwater.engine import ObservedNode
from headwater.runner.errors import EXIT_BAD_INPUT
from headwater.runner.result import RunnerResult, parse_result

STOP_GRACE_SECONDS = 5.0


@dataclass
class NodeProcess:
    node: str
    command: list[str]
    env: dict[str, str]
    log_file: Path
    result_file: Path
    max_retries: int
    attempts: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_at: datetime | None = None
    observed: ObservedNode | None = None
    stopping: bool = False


@dataclass
class ProcessPool:
    """Starts runner processes and reports what it sees of them as ObservedNode."""

    changed: threading.Event = field(default_factory=threading.Event)
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    def submit(
        self,
        node: str,
        task_file: Path,
        env: dict[str, str],
        log_file: Path,
        result_file: Path,
        max_retries: int,
    ) -> None:
        command = [sys.executable, "-m", "headwater.runner", str(task_file)]
        entry = NodeProcess(node, command, env, log_file, result_file, max_retries)
        self.nodes[node] = entry
        self._launch(entry)

    def _launch(self, entry: NodeProcess) -> None:
        entry.attempts += 1
        entry.result_file.unlink(missing_ok=True)
        entry.started_at = entry.started_at or now()
        with entry.log_file.open("ab") as log:
            entry.process = subprocess.Popen(
                entry.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=entry.env,
                start_new_session=True,
            )
        process = entry.process
        threading.Thread(target=self._await_exit, args=(process,), daemon=True).start()

    def _await_exit(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self.changed.set()

    def observe(self) -> dict[str, ObservedNode]:
        """What each started node is doing now; a retryable failure is relaunched here."""
        return {node: self._observe(entry) for node, entry in self.nodes.items()}

    def _observe(self, entry: NodeProcess) -> ObservedNode:
        if entry.observed is not None:
            return entry.observed
        assert entry.process is not None
        code = entry.process.poll()
        if code is None:
            return ObservedNode(NodePhase.RUNNING, entry.attempts, started_at=entry.started_at)
        result = _read_result(entry.result_file)
        retryable = code not in (0, EXIT_BAD_INPUT) and not entry.stopping
        if retryable and entry.attempts <= entry.max_retries:
            self._launch(entry)
            return ObservedNode(NodePhase.RUNNING, entry.attempts, started_at=entry.started_at)
        if entry.stopping:
            phase = NodePhase.CANCELLED
        else:
            phase = NodePhase.SUCCEEDED if code == 0 else NodePhase.FAILED
        message = result.message or (None if code == 0 else _exit_message(code))
        entry.observed = ObservedNode(
            phase=phase,
            attempts=entry.attempts,
            exit_code=code,
            message=message,
            started_at=entry.started_at,
            finished_at=now(),
            outputs=result.outputs or None,
        )
        return entry.observed

    def stop(self, node: str) -> None:
        """SIGTERM the node's process group, SIGKILL after a grace period."""
        entry = self.nodes.get(node)
        if entry is None or entry.process is None or entry.process.poll() is not None:
            return
        entry.stopping = True
        _signal_group(entry.process, signal.SIGTERM)
        threading.Timer(STOP_GRACE_SECONDS, _signal_group, (entry.process, signal.SIGKILL)).start()

    def running(self) -> list[str]:
        return [
            n for n, e in self.nodes.items() if e.process is not None and e.process.poll() is None
        ]

    def wait_for_change(self, timeout: float) -> None:
        self.changed.wait(timeout)
        self.changed.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


def _read_result(path: Path) -> RunnerResult:
    try:
        text = path.read_text()
    except OSError:
        text = None
    return parse_result(text) or RunnerResult(exit_code=-1)


def _exit_message(code: int) -> str:
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"runner exited with code {code}"
